"""The trained PHI tagger that backs up the de-identification rules (nlp/deid_model.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import deid_model
from nlp.deid import deidentify
from nlp.train import sha256_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = [json.loads(line) for line in (FIXTURES / "phi_cases_holdout2.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]
SHIPPED = (deid_model.MODEL_DIR / "meta.json").exists()


def test_union_adds_only_spans_clear_of_rules_and_placeholders():
    text = "Pt [NAME] seen by Tamsin Crowe; MRN 12345678 on file."
    rules = [(36, 44, "ID")]
    extra = [(18, 30, "NAME"),  # new: kept
             (3, 9, "NAME"),  # inside a placeholder already in the text: dropped
             (32, 44, "ID")]  # overlaps a rule span: dropped
    assert deid_model.union(text, rules, extra) == [(18, 30, "NAME"), (36, 44, "ID")]


def test_union_widen_extends_rule_spans_the_model_reaches_past():
    text = "Employer: Harbor Freight Tools. Seen by Dr. Winsome Campbell-Reid."
    def at(s, typ):
        i = text.index(s)
        return (i, i + len(s), typ)
    rules = [at("Harbor Freight", "ADDRESS"), at("Winsome", "NAME")]
    extra = [at("Harbor Freight Tools", "ADDRESS"), at("Dr. Winsome Campbell-Reid", "NAME")]
    # without widen the overlapping model spans are dropped; with it the rule spans grow, keeping their
    # type, but not over a title ("Dr." stays, as the rules leave it)
    assert deid_model.union(text, rules, extra) == sorted(rules)
    assert deid_model.union(text, rules, extra, widen=True) == [at("Harbor Freight Tools", "ADDRESS"),
                                                                at("Winsome Campbell-Reid", "NAME")]
    # a model span inside a rule span changes nothing
    assert deid_model.union(text, rules, [at("Freight", "NAME")], widen=True) == sorted(rules)


@pytest.mark.parametrize("text,span,label,expected", [
    ("RTC 6/2 for disclosure.", "6/2", "DATE", True),  # a bare m/d the rules cannot place
    ("Seen 07.04.24 in clinic.", "07.04.24", "DATE", True),
    ("Employed 1/2022-12/2023 at the plant.", "1/2022-12/2023", "DATE", True),
    ("Call back on the 14th.", "the 14th", "DATE", True),
    ("Pt wants jan 3 appt.", "jan 3", "DATE", True),
    ("BIMS 12/15, Morse 55.", "12/15", "DATE", False),  # a score by the rules' fraction words
    ("BP 120/80 sitting.", "120/80", "DATE", False),  # no month and day
    ("battery longevity 9.5 yr", "9.5", "DATE", False),  # a decimal
    ("blood cx 2/2 bottles positive", "2/2", "DATE", False),
    ("Pressure 5/5 mmHg.", "5/5", "DATE", False),  # a measure
    ("a 96 y/o woman", "96", "AGE", True),
    ("an 86 y/o woman", "86", "AGE", False),  # ages up to 89 are not PHI
    ("a 96 kg man", "96", "AGE", False),  # a measure
    ("Shunt set at ninety mmH2O.", "ninety", "AGE", False),  # spoken ages are the rules' (they need "years")
    ("Fracture at 2nd and 3rd metatarsals.", "2nd", "DATE", False),  # an ordinal that is no day
    ("Take May 3-4 tablets daily.", "May 3-4", "DATE", False),  # a dose by the rules' fraction words
    ("Naming 4/10, improved to 7/10 with cues.", "7/10", "DATE", False),  # a score out of 10
    ("Strength 5/5 5/5 4/5 throughout.", "4/5", "DATE", False),
])
def test_acceptable_dates_and_ages(text, span, label, expected):
    start = text.index(span)
    assert deid_model.acceptable(text, start, start + len(span), label) is expected


@pytest.mark.parametrize("text,span,expected", [
    ("Abdomen: soft, non-tender.", "Abdomen", False),  # a common word in no name list
    ("Respiratory Rate: 18", "Respiratory Rate", False),
    ("Parkinson disease, stable on carbidopa.", "Parkinson", False),  # before an eponym noun
    ("Signed by Radiology Associates.", "Radiology Associates", False),  # a department, not a person
    ("Room  Name  Dx", "Room", False),  # a table heading
    ("Follow up with Dr. Kim.", "Dr.", False),  # titles alone
    ("Bed 12 - Nguyen, febrile overnight.", "Nguyen", True),
    ("Seen with her daughter Hope.", "Hope", True),  # a common word that is also a given name
])
def test_plausible_name(text, span, expected):
    start = text.index(span)
    assert deid_model.plausible_name(text, start, start + len(span)) is expected


def test_training_data_swaps_identifiers_and_keeps_offsets():
    cases = [c for c in CASES if c["kind"] == "phi"][:30]
    data = deid_model.training_texts(cases, augment=2, seed=1)
    assert len(data) == 3 * len(cases)
    for text, spans in data:
        assert spans and all(0 <= s < e <= len(text) for s, e, _ in spans)
        assert all(typ in deid_model.LABELS for _, _, typ in spans)
    originals = {c["text"] for c in cases}
    swapped = sum(1 for text, _ in data if text not in originals)
    assert swapped >= len(cases)  # most augmented copies differ from their case


def test_train_save_load_and_tag(tmp_path):
    """A tiny model trains, saves with its provenance, loads, and tags spans of known labels."""
    files = [FIXTURES / "phi_cases_holdout2.jsonl"]
    deid_model.train(files, tmp_path / "m", augment=1, negatives=0, clinical=0, epochs=2, seed=3)
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["medkg_training"]["files"] == {"phi_cases_holdout2.jsonl": sha256_file(files[0])}
    nlp = deid_model.load(tmp_path / "m")
    assert set(nlp.get_pipe("ner").labels) == set(deid_model.LABELS)
    case = next(c for c in CASES if c["kind"] == "phi")
    for s, e, typ in deid_model.model_spans(case["text"], nlp, frozenset(deid_model.LABELS)):
        assert 0 <= s < e <= len(case["text"]) and typ in deid_model.LABELS


def test_missing_model_folder_loads_as_none(tmp_path):
    assert deid_model.load(tmp_path / "nothing-here") is None


@pytest.mark.skipif(not SHIPPED, reason="no trained tagger in data/models/medkg_deid")
@pytest.mark.parametrize("case", CASES[:60], ids=[c["id"] for c in CASES[:60]])
def test_tagger_only_adds_and_stays_idempotent(case):
    rules = deidentify(case["text"], model=False)
    both = deidentify(case["text"])
    covered = [(s.start, s.end) for s in both.spans]
    assert all(any(a <= r.start and r.end <= b for a, b in covered) for r in rules.spans)
    again = deidentify(both.text)
    assert again.text == both.text and again.spans == []


def test_setting_turns_the_tagger_off(tmp_path, monkeypatch):
    """``deid_tagger = false`` (config or MEDKG_DEID_TAGGER) reaches deidentify_document through Medkg."""
    from nlp import deid as deid_mod
    from nlp.extraction import Document
    from retrieval.app import Medkg
    from retrieval.settings import Settings

    seen = []
    real = deid_mod.deidentify

    def spy(text, model=True):
        seen.append(model)
        return real(text, model=False)

    monkeypatch.setattr(deid_mod, "deidentify", spy)
    note = Document(id="n1.txt", title="", text="Seen by Dr. Okafor today.", kind="note", source="n1.txt")
    for env, expected in (({}, True), ({"MEDKG_DEID_TAGGER": "false"}, False)):
        seen.clear()
        app = Medkg(Settings.load({"home": tmp_path}, env=env))
        clean = app._deidentify(note)
        assert "Okafor" not in clean.text and seen and set(seen) == {expected}


@pytest.mark.parametrize("text,span,label,expected", [
    ("Seen in 1990 for this.", "1990", "ID", False),  # a short bare number: a year, dose or count
    ("Member W7729 on file.", "W7729", "ID", True),
    ("Chart 0@a here.", "0@a", "ID", False),  # one digit: no record number
    ("Vitals q15 min overnight.", "q15 min", "NAME", False),  # a digit token in a name
    ("Mal0ne called back.", "Mal0ne", "NAME", True),  # an OCR digit inside a word
    ("Mother tested at Ambry: BRCA2 c.5946delT (pathogenic).", "5946delT", "ID", False),  # a sequence variant
    ("Mother tested at Ambry: BRCA2 c.5946delT (pathogenic).", "BRCA2", "ADDRESS", False),  # a gene symbol
    ("Applied Mepilex Border Sacrum to the wound.", "Mepilex Border Sacrum", "ADDRESS", False),  # a dressing
    ("Applied Santyl to the wound bed.", "Santyl", "ADDRESS", False),  # a drug
    ("Works nights at Union Pacific Railroad.", "Union Pacific Railroad", "ADDRESS", True),  # common words, an employer
    ("Acct WC25883019 with the TPA.", "WC25883019", "ID", True),
    ("NDC 0002-8215-01 dispensed.", "0002-8215-01", "ID", False),  # a code after a code system
    ('<value code="38341003" displayName="Hypertension"/>', "38341003", "ID", False),  # a CDA code attribute
    ("Coding: 0DTJ4ZZ (laparoscopic appendectomy)", "0DTJ4ZZ", "ID", False),  # a code on a coding line
    ("Deletion at 15q11-13 confirmed; marker D22S259 linked.", "15q11-13", "ID", False),  # a genetic locus
    ("Deletion at 15q11-13 confirmed; marker D22S259 linked.", "D22S259", "ID", False),
    ("J Biol Chem 273, 22068-22074.", "22068-22074", "ID", False),  # a page range
    ("Claim 0417-022 denied.", "0417-022", "ID", True),
    ("Facility: 3 West", "3 West", "ADDRESS", False),  # a ward
    ("J Biol Chem 273, 22068-22074.", "J Biol", "NAME", False),  # a citation
    ("Mark left knee as operative site.", "Mark", "NAME", False),  # a word-name opening a sentence
    ("Mark called back at noon.", "Mark", "NAME", True),
    ("Rh immune globulin: mother Rh neg.", "Rh", "NAME", False),  # a non-name word
    ("Families from France and Ireland.", "France", "NAME", False),  # a place
    ("To: Corinna Blackwood, M D", "M D", "NAME", False),  # a credential spelt out
    ("Pt: 93M, BIBA from home.", "BIBA", "NAME", False),  # an unlisted acronym
    ("Paciente: X   Domicilio: Av. Los Incas 455", "Domicilio", "NAME", False),  # a label
    ("pt says her faith helps a lot", "faith", "NAME", False),  # a common word in lowercase prose
    ("Fall risk: Berg 38/56, Barthel 45.", "Barthel", "NAME", False),  # an eponymous score
    ("Census: Nguyen 67F, bed 4.", "Nguyen", "NAME", True),
    # session 10 (the tagger retrained on sets 1-15 reads these as PHI): a camel-case brand, generic facility words,
    # a research family's code, a dose range after a month name
    ("Pacemaker Medtronic Azure XT DR MRI SureScan; EF 55%.", "SureScan", "NAME", False),
    ("Seen by Ian MacPherson today.", "MacPherson", "NAME", True),
    ("Call MaryAnn tomorrow.", "MaryAnn", "NAME", True),
    ("Wound Care Center and Heart Failure Clinic follow up.", "Care Center", "ADDRESS", False),
    ("Specimen collected by Lab Services.", "Services", "ADDRESS", False),
    ("Rho-family GTPase; family (LMG248) with hearing loss.", "LMG248", "ID", False),
    ("Take May 3-4 tablets daily.", "May 3", "DATE", False),
    ('{"version": "2023.2"}', "2023.2", "DATE", False),
])
def test_acceptable_tagger_spans(text, span, label, expected):
    start = text.index(span)
    assert deid_model.acceptable(text, start, start + len(span), label) is expected
