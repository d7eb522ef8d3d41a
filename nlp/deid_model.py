"""A trained PHI tagger that backs up the de-identification rules (:mod:`nlp.deid`).

Why: every new held-out set of planted identifiers found phrasings the rules had not met (first runs
82.5, 91.0, 84.7, 79.5% recall; ``bench/deid_eval.py``). A statistical tagger learns the *contexts*
of identifiers ("Bed 12 - X", "guardian of record: X") from every set written so far and fires on
new ones the rules have no pattern for. Its spans are added to the rules' spans (a union); the rules
stay the primary detector and type every stretch they find.

Two backends, one training set:

* ``transformer`` (shipped since session 7, :mod:`nlp.deid_transformer`): the encoder of
  all-MiniLM-L6-v2, the embedding model medkg already installs, fine-tuned as a BIO token classifier,
  with a learned word-shape embedding (the vocabulary is uncased). Pretraining is what the CNN lacks:
  on two blind sets neither tagger saw it read 87.2% / 90.2% against 83.7% / 86.4% for the CNN trained
  on the same cases, same filters (bench/RESULTS.md). ``python -m nlp.deid_model train`` (30 min on 2 CPU cores).
* ``cnn``: a spaCy ``ner`` (hash-embedding CNN tok2vec, no pretrained vectors), 4 MB, ~3x faster;
  ``python -m nlp.deid_model train --backend cnn``.

Both learn from

* the planted-PHI case files named in ``TRAIN_FILES`` (sets 1-10: cases written in note language with every
  identifier annotated and typed, plus negative controls), each case also seen ``--augment`` more
  times with its identifiers swapped for others of the same type from other cases (so the model
  learns contexts, not the strings), and
* clinical prose labelled by the rules themselves (silver: ACI-Bench train notes and ``--clinical``
  MTS-Dialog training sections; see :func:`clinical_silver`), so headings, drug names and exam
  findings are seen as what they are;
* ``--negatives`` PubMed abstracts from ``../shared/datasets/pubmed_abstracts`` as text without PHI
  (biomedical prose must stay untouched).

Held-out sets that come later are never in ``TRAIN_FILES`` until they have been measured unseen.
The shipped model lives in ``data/models/medkg_deid`` (meta.json: files, sha256, counts, seed).
Only the labels in ``UNION_LABELS`` are taken from the model (see :func:`model_spans`).
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence

from nlp.deid import VERSION_WORDS
from nlp.train import sha256_file

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO / "data" / "models" / "medkg_deid"
FIXTURES = REPO / "tests" / "fixtures"
TRAIN_FILES = ("phi_cases.jsonl",) + tuple(f"phi_cases_holdout{k}.jsonl" for k in range(2, 16))
LABELS = ("NAME", "DATE", "AGE", "PHONE", "EMAIL", "URL", "ID", "ADDRESS", "IP")
# Labels whose model spans join the rules' spans: names, places and record numbers are where unseen
# phrasings slip through; dates and ages over 89 the rules leave out when they cannot tell them from a
# score or a count ("RTC 6/2", "jan 3", "the 14th"), so the model's are taken where :func:`acceptable`
# finds them date-like / over 89. E-mail, URL, IP and phone stay the rules' (validated patterns).
UNION_LABELS = frozenset({"NAME", "ADDRESS", "ID", "DATE", "AGE"})
# Types of the rules' spans a model span may widen (dates and ages keep the rules' extent: "the [DATE]", "[AGE>89]M")
WIDENED = frozenset({"NAME", "ADDRESS", "ID"})

_lock = threading.Lock()
_loaded: dict[str, object] = {}


# ----------------------------------------------------------------------------- data
def read_cases(files: Iterable[Path]) -> list[dict]:
    cases = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            cases.extend(json.loads(line) for line in fh if line.strip())
    return cases


def _swap(case: dict, pool: dict[str, list[str]], rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    """The case's text with each identifier replaced by a random one of its type (offsets rebuilt)."""
    text = case["text"]
    out, spans, pos, olen = [], [], 0, 0
    chosen: dict[str, str] = {}  # one replacement per distinct string: repeated mentions stay repeated
    for p in sorted(case["phi"], key=lambda p: p["start"]):
        if p["start"] < pos:
            continue
        out.append(text[pos:p["start"]])
        olen += p["start"] - pos
        rep = chosen.setdefault(p["text"], rng.choice(pool.get(p["type"]) or [p["text"]]))
        spans.append((olen, olen + len(rep), p["type"]))
        out.append(rep)
        olen += len(rep)
        pos = p["end"]
    out.append(text[pos:])
    return "".join(out), spans


def training_texts(cases: list[dict], augment: int, seed: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    rng = random.Random(seed)
    pool: dict[str, list[str]] = {}
    for c in cases:
        for p in c["phi"]:
            pool.setdefault(p["type"], []).append(p["text"])
    out = []
    for c in cases:
        out.append((c["text"], [(p["start"], p["end"], p["type"]) for p in c["phi"]]))
        if c["phi"]:
            out.extend(_swap(c, pool, rng) for _ in range(augment))
    return out


def pubmed_negatives(datasets: Path | None, n: int) -> list[str]:
    if n <= 0 or datasets is None:
        return []
    path = datasets / "pubmed_abstracts" / "abstracts.jsonl"
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            out.append(((d.get("title") or "") + "\n" + (d.get("abstract") or "")).strip())
            if len(out) >= n:
                break
    return out


def clinical_silver(datasets: Path | None, n_mts: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Clinical text labelled by the rules (silver): the ACI-Bench *train* notes and the first
    ``n_mts`` MTS-Dialog *training* note sections, with the spans :func:`nlp.deid.deidentify` finds.
    Teaches the tagger what clinical prose, headings and drug names look like next to PHI (what the
    rules catch stays labelled). Validation splits are never used: bench/deid_eval.py reads them."""
    import csv

    from nlp.deid import deidentify

    if datasets is None:
        return []
    folder = datasets / "clinical_notes"
    texts: list[str] = []
    csv.field_size_limit(10**8)
    aci = folder / "aci_bench" / "train.csv"
    if aci.exists():
        with open(aci, newline="", encoding="utf-8") as f:
            texts += [r["note"] for r in csv.DictReader(f) if r.get("note")]
    mts = folder / "mts_dialog" / "MTS-Dialog-TrainingSet.csv"
    if mts.exists() and n_mts > 0:
        with open(mts, newline="", encoding="utf-8") as f:
            texts += [r["section_text"] for r in csv.DictReader(f) if r.get("section_text")][:n_mts]
    return [(t, [(p.start, p.end, p.type) for p in deidentify(t, model=False).spans]) for t in texts]


# ----------------------------------------------------------------------------- training
def training_data(files: Sequence[Path], *, augment: int, negatives: int, clinical: int, seed: int,
                  datasets: Path | None) -> tuple[list[tuple[str, list[tuple[int, int, str]]]], dict]:
    """The examples both backends learn from (planted cases with ``augment`` identifier-swapped copies,
    rule-labelled clinical prose, PubMed abstracts without PHI) and their provenance for meta.json."""
    from nlp.linking import default_datasets_dir

    datasets = datasets or default_datasets_dir()
    cases = read_cases(files)
    data = training_texts(cases, augment, seed)
    negs = pubmed_negatives(datasets, negatives)
    silver = clinical_silver(datasets, clinical)
    provenance = {"files": {f.name: sha256_file(f) for f in files}, "cases": len(cases),
                  "identifiers": sum(len(c["phi"]) for c in cases), "augment": augment, "pubmed_negatives": len(negs),
                  "clinical_silver": len(silver), "union_labels": sorted(UNION_LABELS)}
    return data + silver + [(t, []) for t in negs], provenance


def train(files: Sequence[Path], out: Path | None, *, augment: int = 3, negatives: int = 400, clinical: int = 600,
          epochs: int = 12, seed: int = 13, datasets: Path | None = None) -> "object":
    """Train the tagger on ``files`` (+ PubMed negatives) and save it to ``out`` (if given)."""
    import spacy
    from spacy.training import Example
    from spacy.util import compounding, fix_random_seed, minibatch

    fix_random_seed(seed)
    data, provenance = training_data(files, augment=augment, negatives=negatives, clinical=clinical, seed=seed,
                                     datasets=datasets)
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner")
    for label in LABELS:
        ner.add_label(label)
    examples, dropped = [], 0
    for text, spans in data:
        doc = nlp.make_doc(text)
        ents = []
        for s, e, typ in spans:
            span = doc.char_span(s, e, label=typ, alignment_mode="expand")
            if span is None or any(span.start < x.end and x.start < span.end for x in ents):
                dropped += 1
                continue
            ents.append(span)
        examples.append(Example.from_dict(doc, {"entities": [(x.start_char, x.end_char, x.label_) for x in ents]}))
    optimizer = nlp.initialize(lambda: examples)
    rng = random.Random(seed)
    t0 = time.time()
    for epoch in range(epochs):
        rng.shuffle(examples)
        losses: dict[str, float] = {}
        for batch in minibatch(examples, size=compounding(4.0, 32.0, 1.001)):
            nlp.update(batch, drop=0.25, sgd=optimizer, losses=losses)
        print(f"epoch {epoch + 1}/{epochs} loss {losses.get('ner', 0):.1f} ({time.time() - t0:.0f} s)", file=sys.stderr)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        nlp.meta["name"] = "medkg_deid"
        nlp.meta["version"] = "0.1.0"
        nlp.meta["description"] = "PHI tagger backing up medkg's de-identification rules (nlp/deid_model.py)"
        nlp.meta["medkg_training"] = {**provenance, "examples": len(examples), "spans_not_aligned": dropped,
                                      "epochs": epochs, "seed": seed}
        nlp.to_disk(out)
    return nlp


# ----------------------------------------------------------------------------- inference
_default_path: Path | None = None


def use(path: Path | str | None) -> None:
    """Make the tagger in ``path`` the one :func:`load` gives by default (None: the shipped one)."""
    global _default_path
    _default_path = Path(path) if path else None


def load(path: Path | str | None = None):
    """The tagger (cached per path), or None when no model folder exists there: a spaCy pipeline, or
    a :class:`nlp.deid_transformer.TransformerTagger` when the folder's meta.json says
    ``"backend": "transformer"``."""
    path = Path(path or _default_path or MODEL_DIR)
    key = str(path)
    with _lock:
        if key not in _loaded:
            if not (path / "meta.json").exists():
                log.warning("No de-identification model at %s: the rules run alone", path)
                _loaded[key] = None
            elif json.loads((path / "meta.json").read_text()).get("backend") == "transformer":
                from nlp.deid_transformer import TransformerTagger

                _loaded[key] = TransformerTagger(path)
            else:
                import spacy

                _loaded[key] = spacy.load(path)
        return _loaded[key]


_WORDS = re.compile(r"[^\W\d_]+")
_NEXT_WORD = re.compile(r"(?:['’]s)?\s+([^\W\d_]+)")


def plausible_name(text: str, start: int, end: int) -> bool:
    """Whether a NAME span of the tagger can be a person, by the rules' own lexicons: not when it is
    titles alone ("Dr."), not when every word is a common word that no name list holds ("Abdomen",
    "Respiratory Rate"), not with a descriptive word of departments ("Radiology Associates"), not
    one word the rules list as no name ("Room" heading a table, "Rh"), not only places ("France"), not a
    credential spelt out ("M D"), not one unlisted acronym ("BIBA") or label ("Domicilio:"), not a
    citation ("J Biol Chem"), not a lowercase word-name ("faith"), not one word before a score
    ("Barthel 45"), not a word-name opening a sentence ("Mark left knee"), and not before an eponym
    noun ("Austin Flint murmur", "Cheyne-Stokes respirations")."""
    from nlp.deid import _lexicon

    lex = _lexicon()
    raw = _WORDS.findall(text[start:end])
    words = [w.lower() for w in raw]
    if not words or all(w in lex.honorifics or w in lex.credentials for w in words):
        return False
    if all(w in lex.common and w not in lex.first and w not in lex.last for w in words):
        return False
    if any(w in lex.facility_generic for w in words):  # "Radiology Associates", "Lab Services"
        return False
    listed = [w in lex.first or w in lex.last for w in words]
    if len(words) == 1 and words[0] in lex.non_names:  # "Room", "Name", "Rh", "Dx"
        return False
    if all(w in lex.places for w in words):  # "France", "Ireland"
        return False
    if "".join(words) in lex.credentials:  # "M D"
        return False
    if len(words) == 1 and raw[0].isupper() and len(raw[0]) <= 5 and not any(listed):  # an acronym: "BIBA"
        return False
    if len(words) == 1 and not any(listed) and text[end:end + 2].lstrip(" ").startswith(":"):  # a label: "Domicilio:"
        return False
    if sum(w in _JOURNAL_WORDS for w in words) >= 2:  # a citation: "J Biol Chem"
        return False
    camel = _CAMEL.fullmatch(raw[0]) if len(raw) == 1 else None
    if camel and camel.group(1).lower() not in _NAME_PREFIXES \
            and not (camel.group(1).lower() in lex.first and camel.group(2).lower() in lex.first):
        return False  # a brand written in camel case ("SureScan", "AirSense"); not "MacPherson", "MaryAnn", "DeShawn"
    if text[start:end].islower() and all(w in lex.common or w in _WORD_NAMES for w in words):  # "faith" in lowercase prose
        return False
    score = _SCORE_AFTER.match(text, end)
    if len(words) == 1 and score and (words[0] not in lex.first or int(re.match(r"\s*(\d+)", score.group()).group(1)) <= 89):
        return False  # "Barthel 45", "Berg 38/56", "Braden 14" (a given name too); not "Maria 93", an age
    after = _NEXT_WORD.match(text, end)
    line_start = text[:start].rstrip(" \t")
    if (len(words) == 1 and words[0] in _WORD_NAMES and after and after.group(1).islower()
            and after.group(1) not in lex.person_verbs
            and (not line_start or line_start[-1] in ".!?:;\n")):  # "Mark left knee", "Will recheck"; not "Mark called"
        return False
    return not (after and after.group(1).lower() in lex.eponym_nouns)


_LETTER = re.compile(r"[^\W\d_]")
# a version, release or build number follows ('"version": "2023.2"', "software v 2024.1")
_VERSION_BEFORE = re.compile(r"(?i)\b" + VERSION_WORDS + r"\"?\.?\s*[:=]?\s*\"?$")
# one word with a capital inside after three or more letters, and the surname prefixes that make such a name
_CAMEL = re.compile(r"([A-Z][a-z]{2,})([A-Z][a-z]+)")
_NAME_PREFIXES = frozenset({"mac", "van", "von", "fitz", "della", "delle", "degli", "dela", "des", "san", "ten", "ter"})
# a research family, strain or cell line before a code ("family (LMG248)", "pedigree K1102"): no record number
_RESEARCH_CODE_BEFORE = re.compile(r"(?i)\b(?:famil(?:y|ies)|pedigrees?|kindreds?|strains?|clones?|isolates?|cell[ ]lines?)"
                                   r"\s*[(:#]?\s*$")
_DIGIT_TOKEN = re.compile(r"(?<![^\W\d_])\d|\d(?![^\W\d_])")
# a dose, a duration or a count with its unit: clinical text, no address ("3 h. Carbidopa-levodopa 25/100 1.5 tab")
_DOSE = re.compile(r"(?i)\b\d+(?:\.\d+)?\s?(?:mg|mcg|g|kg|ml|l|units?|tabs?|tablets?|caps?|capsules?|puffs?|drops?|h|hrs?|hours?|min|mmhg|%)(?![\w])")


_HGVS_BEFORE = re.compile(r"(?<![\w.])[cgmnpr]\.$")  # "c.5946delT", "p.Arg123Cys": a variant, no record number
_GENE_LIKE = re.compile(r"[A-Z][A-Z0-9-]*\d[A-Z0-9-]*")  # "BRCA2", "CYP2D6", "HER2"
_CODE_ATTR_BEFORE = re.compile(r"(?i)\b(?:code|codeSystem|root)\s*=\s*[\"']$")  # CDA / FHIR code attributes
_CODING_LINE = re.compile(r"(?i)^\W*(?:coding|codes?|dx codes?|procedure codes?|billing codes?)\b")
_GENETIC_LOCUS = re.compile(r"(?i)\d{1,2}[pq]\d[\d.]*(?:[-–]?[pq]?\d+)*|D\d{1,2}S\d+[A-Z]?")  # "15q11-13", "D22S259"
# an age and sex ("67M"), a public trial registration ("NCT04847557"), a nucleotide variant ("G20210A"): no record number
_NOT_RECORD = re.compile(r"\d{1,3}\s?[MF]|NCT\d{8}|[ACGT]\d{2,6}[ACGT]")
_RANGE = re.compile(r"(\d+)[-–](\d+)")  # pages or a count range: "22068-22074"


def _number_range(value: str) -> bool:
    m = _RANGE.fullmatch(value)
    return bool(m) and len(m.group(1)) == len(m.group(2)) and 0 < int(m.group(2)) - int(m.group(1)) < 1000


_MONTH = re.compile(r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b")
_ORDINAL_DAY = re.compile(r"(?i)\b(?:the|on)\s+(?:\d{1,2}(?:st|nd|rd|th)|(?:twenty|thirty)?[\s-]?(?:first|second|third|"
                          r"fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|"
                          r"fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth))$")
_DATE_END = re.compile(r"\s*(?:[,.;:)\n]|$|@|at\b|of\b|for\b|\d)")
_NUMERIC_DATE = re.compile(r"(?<![\d/.])(\d{1,4})([/.\-])(\d{1,2})(?:\2(\d{2,4}))?(?![\d/])")
_MONTH_YEAR = re.compile(r"(?<![\d/])(?:0?[1-9]|1[0-2])/(?:19|20)\d\d(?![\d/])")  # "1/2022"
_AFTER_MEASURE = re.compile(r"\s?(?:mm\s?hg|mmh2o|mg|mcg|ml|%|cm|mm|kg|lbs?|pounds?|degrees?|°|bpm|f\b)", re.I)
_NUMBER_BEFORE = re.compile(r"(?:\d[%)]?|[=+×x*])\s*\(?$")  # "17% (3/18)", "5/5 4/5", "x 2/3"


def _date_like(text: str, start: int, end: int) -> bool:
    """A DATE span of the tagger that is a date by its form, not only by the model's reading of the context:
    a month name with a day or year ("jan 3", "last Nov"), a date with its year ("07.04.24", "1/2022-12/2023"),
    an ordinal day after "the" / "on" where a date ends ("on the 14th."), or a bare m/d that the rules'
    :func:`nlp.deid.plain_md` allows and that is no score out of 10 or after a number ("RTC 6/2");
    never a measure ("5/5 mmHg") or a span the rules' fraction words mark as a dose or score ("May 3-4 tablets")."""
    from nlp.deid import fraction_context, plain_md

    value = text[start:end]
    if _AFTER_MEASURE.match(text, end) or fraction_context(text, start, end) \
            or _VERSION_BEFORE.search(text, max(0, start - 24), start):
        return False  # "5/5 mmHg", "May 3-4 tablets", '"version": "2023.2"'
    if _MONTH.search(value) and (any(c.isdigit() for c in value) or not value.strip().lower().startswith("may")):
        return True
    if _MONTH_YEAR.search(value):
        return True
    if _ORDINAL_DAY.search(text[max(0, start - 4):end]) and _DATE_END.match(text, end):
        return True
    for m in _NUMERIC_DATE.finditer(value):
        s, e = start + m.start(), start + m.end()
        if m.group(4) or len(m.group(1)) == 4:
            return True
        if m.group(2) != "/" or not (1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(3)) <= 31):
            continue
        if _date_cue_before(text, s):  # "onset 2/2", "seen 1/3"
            return True
        if not (int(m.group(3)) == 10 and int(m.group(1)) <= 10) and plain_md(text, s, e) \
                and not _NUMBER_BEFORE.search(text, max(0, s - 6), s):
            return True
    return False


def _date_cue_before(text: str, s: int) -> bool:
    """Whether the words before offset ``s`` are a date cue of the rules (``date_preps``: "on", "since", "seen",
    "dos", "appt"...) or "onset"."""
    from nlp.deid import _patterns

    return _patterns()["date_cue_end"].search(text[max(0, s - 24):s].lower()) is not None


def _age_over_89(text: str, start: int, end: int) -> bool:
    """An AGE span of the tagger: digits from 90 to 129, no measure after them ("96 y/o", "91F"; not "98 F", "93 kg")."""
    nums = [int(n) for n in re.findall(r"\d+", text[start:end])]
    return bool(nums) and all(89 < n < 130 for n in nums) and not _AFTER_MEASURE.match(text, end)


_UNIT_ADDRESS = re.compile(r"(?i)\d+\s*(?:north|south|east|west|[nsew])")  # a ward: "3 West"
# names that are also English words a note opens a sentence with ("Mark left knee", "Will recheck")
_WORD_NAMES = frozenset("mark will bill sue pat grant hope faith frank rob chase jack drew don joy rose may june dawn "
                        "art guy ray gene bob sang wade rusty sunny hunter".split())
_SCORE_AFTER = re.compile(r"[ \t]+\d{1,3}(?:/\d{1,3})?(?![\w/:-]|\.\d)")  # an eponymous score: "Aldrete 9", "Berg 38/56"
_JOURNAL_WORDS = frozenset("j biol chem clin med res sci proc natl acad rev lett mol cell biochem pharmacol physiol "
                           "immunol neurol cardiol oncol genet endocrinol gastroenterol am br eur int".split())


def acceptable(text: str, start: int, end: int, label: str) -> bool:
    """Whether a span of the tagger may be added on its own (the rules' job otherwise).

    * ID: digits alone, five or fewer ("1990", "0:1990"), are a year, dose, time or count, and a
      string with one digit ("0@a") no record number (labelled short numbers are the rules' job:
      "badge 4471"); nor is a code after a code system the rules know ("NDC 0002-8215-01", "OMIM #
      253000"), a CDA code attribute, a code on a coding line, a sequence variant ("c.5946delT") or
      a genetic locus ("15q11-13", "D22S259") or a page range ("22068-22074"), an age and sex ("67M"), a trial
      registration ("NCT04847557") or a nucleotide variant ("G20210A");
    * NAME: no digit token ("q15 min", "0ab"; OCR digits inside a word stay: "Mal0ne"), and
      :func:`plausible_name`;
    * DATE: :func:`_date_like`; AGE: :func:`_age_over_89`;
    * ADDRESS: not digits alone ("Room 817"), no dose, duration or count with its unit ("3 h. Carbidopa-levodopa 25/100 1.5 tab"),
      no gene-like symbol alone ("BRCA2"), no ward ("3 West"), and not led by a drug, device or
      eponym word ("Mepilex Border", "Santyl")."""
    value = text[start:end]
    if label == "ID":
        from nlp.deid import _patterns

        digits = sum(c.isdigit() for c in value)
        line = text[text.rfind("\n", 0, start) + 1:start]
        return not (digits < 2 or not _LETTER.search(value) and digits <= 5
                    or _HGVS_BEFORE.search(text[max(0, start - 3):start])
                    or _CODE_ATTR_BEFORE.search(text[max(0, start - 16):start])
                    or _patterns()["code_before"].search(text, max(0, start - 60), start) is not None
                    or _CODING_LINE.match(line) or _GENETIC_LOCUS.fullmatch(value) or _number_range(value)
                    or _NOT_RECORD.fullmatch(value) or _RESEARCH_CODE_BEFORE.search(text, max(0, start - 24), start))
    if label == "NAME":
        return not _DIGIT_TOKEN.search(value) and plausible_name(text, start, end)
    if label == "DATE":
        return _date_like(text, start, end)
    if label == "AGE":
        return _age_over_89(text, start, end)
    if label == "ADDRESS":
        if not _LETTER.search(value):  # a bare number is a room or a locker ("Room 817"), no place on its own
            return False
        if _DOSE.search(value) or _GENE_LIKE.fullmatch(value) or _UNIT_ADDRESS.fullmatch(value):
            return False
        from nlp.deid import _lexicon

        lex = _lexicon()
        words = [w.lower() for w in _WORDS.findall(value)]
        if words and all(w in lex.facility_generic for w in words):  # "Care Center", "Services": no place named
            return False
        return not (words and words[0] in lex.clinical)
    return True


def model_spans(text: str, nlp=None, labels: frozenset[str] = UNION_LABELS) -> list[tuple[int, int, str]]:
    """(start, end, type) of the PHI the tagger finds in ``text``: types in ``labels`` only, each
    span :func:`acceptable`."""
    nlp = nlp if nlp is not None else load()
    if nlp is None or not text.strip():
        return []
    if hasattr(nlp, "spans"):
        found = nlp.spans(text)
    else:
        found = [(e.start_char, e.end_char, e.label_) for e in nlp(text).ents]
    return [(s, e, typ) for s, e, typ in found if typ in labels and acceptable(text, s, e, typ)]


def union(text: str, found: Sequence[tuple[int, int, str]], extra: Sequence[tuple[int, int, str]],
          widen: bool = False) -> list[tuple[int, int, str]]:
    """The rules' spans ``found`` plus the model's ``extra`` spans that overlap none of them, sorted.

    With ``widen`` (the model read the original text), a model span that overlaps rule spans of the
    ``WIDENED`` types and reaches past them widens them instead of being dropped: the rules caught
    "Harbor Freight" or "Winsome", the model "Harbor Freight Tools" or "Winsome Campbell-Reid"; the
    widened span keeps the type of the longest rule span it covers. A model NAME that only touches a
    rule NAME is blocked as one next to a placeholder is (below).

    A placeholder already in ``text`` blocks the model spans that touch it (overlap, or are next to
    it across at most one space or punctuation mark): in de-identified text the tagger reads
    "Dr. [NAME]" or "See [URL]" as a name context, so without this de-identifying twice would
    change the text again."""
    from nlp.deid import _PLACEHOLDER_RE

    blocked = [(m.start() - 2, m.end() + 2) for m in _PLACEHOLDER_RE.finditer(text)]
    # a name next to a rule's name, not part of it, is a word the model read as the same person's ("환자 [NAME]",
    # "[NAME] NSTEMI"): as next to a placeholder in the text as the rules leave it
    beside = [(a - 2, a) for a, _, t in found if t == "NAME"] + [(b, b + 2) for _, b, t in found if t == "NAME"]
    out = sorted(found)
    for s, e, typ in extra:
        hit = [f for f in out if s < f[1] and f[0] < e]
        if any(s < b and a < e for a, b in blocked) and not (widen and hit):
            continue
        if widen and typ == "NAME" and not hit and any(s < b and a < e for a, b in beside):
            continue
        if not hit:
            out.append((s, e, typ))
        elif widen and all(f[2] in WIDENED for f in hit):
            lo0, hi0 = hit[0][0], max(f[1] for f in hit)
            lo = s if s < lo0 and _adds_words(text[s:lo0]) else lo0
            hi = e if e > hi0 and _adds_words(text[hi0:e]) else hi0
            if (lo, hi) != (lo0, hi0):
                kind = max(hit, key=lambda f: f[1] - f[0])[2]
                out = [f for f in out if f not in hit] + [(lo, hi, kind)]
        out.sort()
    return out


def _adds_words(piece: str) -> bool:
    """Whether the part of a model span beyond the rules' span holds more than titles and credentials
    ("Dr." before "[NAME]" stays, as the rules leave it)."""
    from nlp.deid import _lexicon

    lex = _lexicon()
    words = [w.lower() for w in _WORDS.findall(piece)]
    return any(w not in lex.honorifics and w not in lex.credentials for w in words) or any(c.isdigit() for c in piece)


def train_transformer(files: Sequence[Path], out: Path | None, *, augment: int = 2, negatives: int = 400,
                      clinical: int = 600, epochs: int = 3, seed: int = 13, datasets: Path | None = None,
                      threads: int | None = None):
    """Fine-tune the MiniLM PHI tagger (:mod:`nlp.deid_transformer`) on the same data as :func:`train`."""
    from nlp import deid_transformer

    data, provenance = training_data(files, augment=augment, negatives=negatives, clinical=clinical, seed=seed,
                                     datasets=datasets)
    return deid_transformer.train(data, out, LABELS, epochs=epochs, seed=seed, meta_extra=provenance, threads=threads)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train medkg's PHI tagger (see the module docstring).")
    ap.add_argument("command", choices=["train"])
    ap.add_argument("--backend", choices=["transformer", "cnn"], default="transformer",
                    help="transformer: MiniLM fine-tuned (nlp/deid_transformer.py, the shipped one); cnn: spaCy CNN NER")
    ap.add_argument("--files", nargs="+", type=Path, default=[FIXTURES / f for f in TRAIN_FILES])
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--augment", type=int, default=None, help="identifier-swapped copies per case (cnn 3, transformer 2)")
    ap.add_argument("--negatives", type=int, default=400)
    ap.add_argument("--clinical", type=int, default=600, help="MTS-Dialog training sections (+ ACI-Bench train notes)")
    ap.add_argument("--epochs", type=int, default=None, help="cnn 12, transformer 3")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--datasets", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.backend == "transformer":
        train_transformer(args.files, args.out, augment=2 if args.augment is None else args.augment,
                          negatives=args.negatives, clinical=args.clinical, epochs=args.epochs or 3, seed=args.seed,
                          datasets=args.datasets)
    else:
        train(args.files, args.out, augment=3 if args.augment is None else args.augment, negatives=args.negatives,
              clinical=args.clinical, epochs=args.epochs or 12, seed=args.seed, datasets=args.datasets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
