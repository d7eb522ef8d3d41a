"""Sentence boundaries: the sentencizer + ``medkg_sentences`` under both tokenizers medkg uses
(spaCy's English tokenizer for the dictionary pipeline, the trained NER's, which splits
``43.25`` into ``43 . 25``)."""
import pytest
import spacy

import nlp.components  # noqa: F401  (registers medkg_sentences)

TEXT = ("Mean age was 43.25 years (range 3.5-80). Serum K was 3.2 mmol/L in 12 pts. "
        "Dose was 0.5 mg/kg i.v. daily. Fig. 2 shows e.g. results vs. controls. "
        "Dr. Smith treated them with 5.0 mg of warfarin! Did it work? Yes.")
EXPECTED = [
    "Mean age was 43.25 years (range 3.5-80).",
    "Serum K was 3.2 mmol/L in 12 pts.",
    "Dose was 0.5 mg/kg i.v. daily.",
    "Fig. 2 shows e.g. results vs. controls.",
    "Dr. Smith treated them with 5.0 mg of warfarin!",
    "Did it work?",
    "Yes.",
]


def _blank():
    return spacy.blank("en")


def _trained():
    from nlp.ner import load_ner

    nlp = load_ner(None)
    blank = spacy.blank("en")
    blank.tokenizer = nlp.tokenizer
    return blank


@pytest.fixture(params=["english", "trained"], scope="module")
def nlp(request):
    nlp = _blank() if request.param == "english" else _trained()
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("medkg_sentences")
    return nlp


def test_decimals_and_abbreviations_do_not_split(nlp):
    assert [s.text for s in nlp(TEXT).sents] == EXPECTED


def test_trained_tokenizer_splits_decimals_so_the_fix_matters():
    toks = [t.text for t in _trained().tokenizer("was 43.25 years")]
    assert "43.25" not in toks  # if this changes the test above still guards the behaviour


def test_line_breaks_and_title_still_start_sentences(nlp):
    doc = nlp.make_doc("Aspirin and stroke\nrisk in adults with diabetes")
    for name, proc in nlp.pipeline:
        doc = proc(doc)
    assert [s.text.strip() for s in doc.sents] == ["Aspirin and stroke", "risk in adults with diabetes"]

    text = "A case report of QT prolongation Amiodarone was given."
    doc = nlp.make_doc(text)
    doc.user_data["title_end"] = text.index("Amiodarone")
    for name, proc in nlp.pipeline:
        doc = proc(doc)
    assert [s.text.strip() for s in doc.sents] == ["A case report of QT prolongation", "Amiodarone was given."]
