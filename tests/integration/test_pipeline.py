"""The NLP pipeline on real sentences: entities, linking, assertion, relations, offsets."""
from nlp.extraction import Document
from nlp.pipeline import Extractor


def extract(nlp, text, title="", doc_id="t1", kind="article"):
    return Extractor(nlp).extract(Document(id=doc_id, title=title, text=text, kind=kind))


def mentions(ex):
    return {m.text.lower(): m for _, m in ex.mentions()}


def test_bc5cdr_sentence_entities_links_and_cid(nlp):
    ex = extract(nlp, "The hypertension was induced by cocaine in all animals.",
                 title="Cocaine-induced hypertension in rats.")
    ms = mentions(ex)
    assert ms["cocaine"].label == "Chemical" and ms["cocaine"].concept_id == "MESH:D003042"
    assert ms["hypertension"].label == "Disease" and ms["hypertension"].concept_id == "MESH:D006973"
    full = ex.document.full_text
    for _, m in ex.mentions():
        assert full[m.start:m.end] == m.text
    preds = {(r.predicate, ex.sentences[r.sentence].mentions[r.subject].concept_id,
              ex.sentences[r.sentence].mentions[r.object].concept_id, r.negated) for r in ex.relations}
    assert ("CAUSES", "MESH:D003042", "MESH:D006973", False) in preds
    # the title is its own sentence even though the abstract follows it
    assert ex.sentences[0].text == "Cocaine-induced hypertension in rats."


def test_negated_relation_is_contradicting(nlp):
    ex = extract(nlp, "There was no evidence that aspirin caused hypertension in these patients.")
    assert ex.relations and all(r.negated for r in ex.relations)
    ex = extract(nlp, "Aspirin did not cause hypertension.")
    assert ex.relations and all(r.negated for r in ex.relations)


def test_hedged_relation_is_uncertain(nlp):
    ex = extract(nlp, "These findings suggest that cocaine may cause hypertension.")
    assert ex.relations and all(r.uncertain and not r.negated for r in ex.relations)


def test_assertion_flags_in_notes(nlp):
    text = ("PAST MEDICAL HISTORY\nHistory of hypertension.\n\nFAMILY HISTORY\nMother had breast cancer.\n"
            "Family history of diabetes.\n\nREVIEW OF SYSTEMS\nDenies chest pain but reports dyspnea.\n"
            "Patient is negative for pneumonia.")
    from nlp.readers import note_sections

    doc = Document(id="n1", text=text, kind="note", metadata={"sections": note_sections(text)})
    ex = Extractor(nlp).extract(doc)
    ms = mentions(ex)
    assert ms["diabetes"].family
    assert ms["pneumonia"].negated
    assert ms["chest pain"].negated and not ms["dyspnea"].negated
    sections = {s.text: s.section for s in ex.sentences}
    assert sections["Family history of diabetes."] == "FAMILY HISTORY"
    assert sections["History of hypertension."] == "PAST MEDICAL HISTORY"


def test_abbreviation_is_resolved_through_long_form(nlp):
    ex = extract(nlp, "Patients with chronic obstructive pulmonary disease (COPD) were enrolled. "
                      "COPD exacerbations were frequent.")
    copd = [m for _, m in ex.mentions() if m.text == "COPD"]
    long = [m for _, m in ex.mentions() if m.text.lower() == "chronic obstructive pulmonary disease"]
    assert long and len(copd) == 2
    assert {m.concept_id for m in copd} == {long[0].concept_id}
    assert long[0].concept_id.startswith("MESH:")
