"""``medkg_trim_cues``: entities never start on assertion cues, so ConText sees the cue."""
import pytest
import spacy
from spacy.tokens import Span

import nlp.components  # noqa: F401  (registers medkg_trim_cues)


@pytest.fixture(scope="module")
def trim():
    return spacy.blank("en").add_pipe("medkg_trim_cues")


@pytest.mark.parametrize("text, ent, expected", [
    ("Denies fever but reports a cough.", "Denies fever", "fever"),
    ("Prior stroke with residual weakness.", "Prior stroke", "stroke"),
    ("Absence of murmurs on exam.", "Absence of murmurs", "murmurs"),
    ("Past medical history of atrial fibrillation.", "Past medical history of atrial fibrillation",
     "atrial fibrillation"),
    ("Possible pneumonia in the left base.", "Possible pneumonia", "pneumonia"),
    # no cue: unchanged, including spans that merely contain a cue word later on
    ("Acute kidney injury after contrast.", "Acute kidney injury", "Acute kidney injury"),
    ("Family history was unremarkable; fever.", "fever", "fever"),
    # a span that is only a cue is left alone (nothing to keep)
    ("Denies.", "Denies", "Denies"),
])
def test_leading_cues_leave_the_span(trim, text, ent, expected):
    nlp = spacy.blank("en")
    doc = nlp(text)
    start = text.index(ent)
    span = doc.char_span(start, start + len(ent), label="Disease", kb_id="MESH:D0001")
    doc.ents = [span]
    doc = trim(doc)
    assert [e.text for e in doc.ents] == [expected]
    assert doc.ents[0].label_ == "Disease" and doc.ents[0].kb_id_ == "MESH:D0001"


def test_in_the_pipeline_the_cue_reaches_context():
    from pathlib import Path

    from nlp.linking import ConceptDictionary
    from nlp.pipeline import build_nlp

    nlp = build_nlp(ConceptDictionary.load_or_build(Path.home() / ".cache" / "medkg"), ner="trained")
    assert nlp.pipe_names.index("medkg_trim_cues") < nlp.pipe_names.index("medspacy_context")
    doc = nlp("Denies fever but reports a cough.")
    fever = [e for e in doc.ents if e.text == "fever"]
    assert fever and fever[0]._.is_negated
