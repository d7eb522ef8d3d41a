"""Tests for medkg's NER: the shipped model, PubTator -> DocBin conversion, label mapping.

Texts are real BC5CDR titles/sentences (public domain mark; PMIDs given); the model tests
use BC5CDR *dev* titles, which the shipped model never trained on.
"""
from __future__ import annotations

import spacy
import pytest
from spacy.tokens import DocBin, Span

from nlp.errors import ModelNotAvailable
from nlp.ner import DEFAULT_MODEL_DIR, LABELS, SCISPACY_LABEL_MAP, load_ner
from nlp.train import LABEL_MAP, ConversionStats, doc_to_spacy, make_blank_nlp, read_pubtator

# BC5CDR train, PMID 354896 (title + first abstract sentence, offsets as in the corpus).
PUBTATOR_SNIPPET = (
    "354896|t|Lidocaine-induced cardiac asystole.\n"
    "354896|a|Intravenous administration of a single 50-mg bolus of lidocaine in a 67-year-old "
    "man resulted in profound depression of the activity of the sinoatrial and "
    "atrioventricular nodal pacemakers.\n"
    "354896\t0\t9\tLidocaine\tChemical\tD008012\n"
    "354896\t18\t34\tcardiac asystole\tDisease\tD006323\n"
    "354896\t90\t99\tlidocaine\tChemical\tD008012\n"
    "354896\t142\t152\tdepression\tDisease\tD003866\n"
    "354896\tCID\tD008012\tD006323\n"
)


@pytest.fixture(scope="session")
def ner():
    if not DEFAULT_MODEL_DIR.exists():
        pytest.skip(f"shipped NER model missing at {DEFAULT_MODEL_DIR}; run `python -m nlp.train`")
    return load_ner()


@pytest.fixture(scope="session")
def blank():
    return make_blank_nlp()


def _ents(doc):
    return {(e.text, e.label_) for e in doc.ents}


def test_shipped_model_finds_chemical_and_disease(ner):
    # BC5CDR dev, PMID 8854309 and PMID 16820346 (titles).
    doc = ner("A measure of pupillary oscillation as a marker of cocaine-induced paranoia.")
    assert ("cocaine", "Chemical") in _ents(doc)
    doc = ner("Atorvastatin prevented and reversed dexamethasone-induced hypertension in the rat.")
    ents = _ents(doc)
    assert ("dexamethasone", "Chemical") in ents
    assert ("hypertension", "Disease") in ents


def test_shipped_model_labels_and_pipeline(ner):
    assert ner.meta["medkg"]["corpora"], "meta.json must record the training corpora checksums"
    labels = {label for comp in ner.pipe_labels.values() for label in comp}
    assert labels <= set(LABELS)
    assert {"Chemical", "Disease", "Gene", "Species"} <= labels
    # Several sentences: every entity label is one of medkg's.
    doc = ner("Mutations in the BRCA1 gene increase the risk of breast cancer in women "
              "treated with tamoxifen.")
    assert all(e.label_ in LABELS for e in doc.ents)
    assert not doc.spans.get("ner_cd"), "the stash span group must be removed after merging"


def test_read_pubtator_and_convert_offsets(tmp_path, blank):
    path = tmp_path / "snippet.PubTator"
    path.write_text(PUBTATOR_SNIPPET, encoding="utf-8")
    (pdoc,) = list(read_pubtator(path))
    assert pdoc.pmid == "354896"
    assert [pdoc.text[m.start:m.end] for m in pdoc.mentions] == [
        "Lidocaine", "cardiac asystole", "lidocaine", "depression"]

    nlp = blank
    stats = ConversionStats()
    doc = doc_to_spacy(nlp, pdoc, ("Chemical", "Disease"), stats)
    assert [(e.start_char, e.end_char, e.text, e.label_) for e in doc.ents] == [
        (0, 9, "Lidocaine", "Chemical"),
        (18, 34, "cardiac asystole", "Disease"),
        (90, 99, "lidocaine", "Chemical"),
        (142, 152, "depression", "Disease"),
    ]
    assert stats.misaligned == 0 and stats.spans == 4
    # Round trip through a DocBin keeps the annotation.
    db = DocBin(docs=[doc])
    (back,) = list(DocBin().from_bytes(db.to_bytes()).get_docs(nlp.vocab))
    assert _ents(back) == _ents(doc)


def test_tokenizer_splits_hyphens_parens_slashes(blank):
    nlp = blank
    words = [t.text for t in nlp.make_doc("cocaine-induced (PAN)-induced Na+/K+ ATPase AmB.")]
    assert words[:3] == ["cocaine", "-", "induced"]
    assert ["(", "PAN", ")", "-", "induced"] == words[3:8]
    assert ["Na", "+", "/", "K", "+"] == words[8:13]
    assert words[-2:] == ["AmB", "."]


def test_missing_labels_are_missing_not_outside(tmp_path, blank):
    # An NCBI-style document: chemicals not annotated -> matched chemical tokens are missing.
    from spacy.matcher import PhraseMatcher

    path = tmp_path / "ncbi.txt"
    text = "Lidocaine-induced cardiac asystole."
    path.write_text(f"1|t|{text}\n1|a|\n1\t18\t34\tcardiac asystole\tSpecificDisease\tD006323\n")
    (pdoc,) = list(read_pubtator(path))
    nlp = blank
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    matcher.add("Chemical", [nlp.make_doc("lidocaine")])
    doc = doc_to_spacy(nlp, pdoc, ("Chemical", "Disease"), ConversionStats(), matcher)
    assert doc[0].ent_iob_ == ""  # missing
    assert doc[1].ent_iob_ == "O"
    assert _ents(doc) == {("cardiac asystole", "Disease")}


def test_label_maps():
    assert LABEL_MAP["SpecificDisease"] == LABEL_MAP["DiseaseOrPhenotypicFeature"] == "Disease"
    assert LABEL_MAP["ChemicalEntity"] == "Chemical"
    assert LABEL_MAP["OrganismTaxon"] == "Species"
    assert LABEL_MAP["GeneOrGeneProduct"] == "Gene"
    assert set(LABEL_MAP.values()) == set(LABELS)
    assert SCISPACY_LABEL_MAP["CHEMICAL"] == "Chemical"
    assert SCISPACY_LABEL_MAP["DISEASE"] == "Disease"


def test_label_map_component_renames_scispacy_labels():
    nlp = spacy.blank("en")
    nlp.add_pipe("medkg_label_map")
    doc = nlp.make_doc("Naloxone reverses the antihypertensive effect of clonidine .")
    doc.ents = [Span(doc, 0, 1, "CHEMICAL"), Span(doc, 3, 4, "DISEASE"), Span(doc, 7, 8, "FOO")]
    doc = nlp.get_pipe("medkg_label_map")(doc)
    assert _ents(doc) == {("Naloxone", "Chemical"), ("antihypertensive", "Disease")}


def test_load_ner_missing_model_raises(tmp_path):
    with pytest.raises(ModelNotAvailable):
        load_ner(tmp_path / "no-such-model")
    try:
        import en_ner_bc5cdr_md  # noqa: F401
    except ImportError:
        with pytest.raises(ModelNotAvailable, match="en_ner_bc5cdr_md"):
            load_ner("en_ner_bc5cdr_md")


def test_doc_consistency_abbreviations_and_repeats(blank):
    from nlp.ner import DocConsistency

    # BC5CDR dev style: an abbreviation defined after a chemical, then used alone.
    doc = blank.make_doc("Nitroglycerin (NTG) relieved the pain. NTG was given twice; nitroglycerin again.")
    doc.ents = [Span(doc, 0, 1, "Chemical"), Span(doc, 6, 7, "Disease")]
    doc = DocConsistency()(doc)
    ents = [(e.text, e.label_) for e in doc.ents]
    assert ents.count(("NTG", "Chemical")) == 2
    assert ("pain", "Disease") in ents
    assert ("nitroglycerin", "Chemical") not in ents  # propagation is case-sensitive


def test_lexicon_backoff_adds_only_where_free(blank, tmp_path):
    from nlp.ner import LexiconBackoff

    backoff = LexiconBackoff()
    backoff.set_terms([(("rhabdomyolysis",), "Disease"), (("valproic", "acid"), "Chemical")])
    backoff.to_disk(tmp_path)
    backoff = LexiconBackoff().from_disk(tmp_path)
    doc = blank.make_doc("Valproic acid and rhabdomyolysis.")
    doc.ents = [Span(doc, 3, 4, "Chemical")]  # a model already labelled this token
    doc = backoff(doc)
    assert _ents(doc) == {("Valproic acid", "Chemical"), ("rhabdomyolysis", "Chemical")}


def test_find_abbreviations_schwartz_hearst(blank):
    from nlp.ner import find_abbreviations

    # BC5CDR dev titles, PMIDs 6674249 and 17042884; "(n = 21)" is not an abbreviation.
    doc = blank.make_doc("Why may epsilon-aminocaproic acid (EACA) induce myopathy in man? "
                         "Placebo-level incidence of extrapyramidal symptoms (EPS) with quetiapine "
                         "in 21 patients (n = 21).")
    found = [(doc[lf:p].text, doc[s:e].text) for lf, p, s, e in find_abbreviations(doc)]
    assert found == [("epsilon-aminocaproic acid", "EACA"), ("extrapyramidal symptoms", "EPS")]


def test_abbreviations_follow_their_long_form(blank):
    from nlp.ner import Abbreviations

    doc = blank.make_doc("Valproic acid (VPA) was given. VPA and MRI. Magnetic resonance imaging (MRI) "
                         "showed no VPA effect.")
    vpa = [t.i for t in doc if t.text == "VPA"]
    mri = [t.i for t in doc if t.text == "MRI"]
    # The model found the long form, one short form with the wrong label, and MRI as a chemical.
    doc.ents = [Span(doc, 0, 2, "Chemical"), Span(doc, vpa[1], vpa[1] + 1, "Disease"),
                Span(doc, mri[0], mri[0] + 1, "Chemical")]
    doc = Abbreviations()(doc)
    ents = [(e.text, e.label_) for e in doc.ents]
    assert ents.count(("VPA", "Chemical")) == 3  # defined, relabelled, added
    assert not any(text == "MRI" for text, _ in ents)  # long form is no entity -> removed
    assert ("Valproic acid", "Chemical") in ents


def test_replace_label_takes_disease_from_specialist(blank):
    from nlp.ner import ReplaceLabel

    doc = blank.make_doc("breast and ovarian cancer after tamoxifen")
    doc.spans["ner_cd"] = [Span(doc, 2, 4, "Disease"), Span(doc, 5, 6, "Chemical")]
    doc.ents = [Span(doc, 0, 4, "Disease")]
    doc = ReplaceLabel("ner_cd", ["Disease"])(doc)
    assert [(s.text, s.label_) for s in doc.spans["ner_cd"]] == [
        ("breast and ovarian cancer", "Disease"), ("tamoxifen", "Chemical")]
    assert not doc.ents


def test_ncbi_profile_is_declared_and_switches_components(ner):
    from nlp.errors import ConfigError
    from nlp.ner import apply_profile, ner_profiles

    assert "ner_ncbi" not in ner.pipe_names  # the default pipeline does not run it
    assert "ncbi" in ner_profiles(ner)
    nlp = load_ner(profile="ncbi")
    assert {"ner_ncbi", "ncbi_disease", "ncbi_object_abbrev", "ncbi_composite"} <= set(nlp.pipe_names)
    assert not {"ncbi_object_abbrev", "ncbi_composite"} & set(ner.pipe_names)
    assert "medkg_lexicon_backoff" not in nlp.pipe_names
    assert "medkg_ner_abbreviations" in nlp.pipe_names
    # NCBI-disease dev titles, PMIDs 8751855 and 9218625: diseases found, no stash left.
    doc = nlp("Genetic heterogeneity in hereditary breast cancer: role of BRCA1 and BRCA2. "
              "Molecular bases of C7 deficiency: three different defects.")
    assert any(e.label_ == "Disease" for e in doc.ents)
    assert not doc.spans.get("ner_cd")
    with pytest.raises(ConfigError, match="Available: ncbi"):
        apply_profile(load_ner(), "nope")


def test_composite_mentions_extend_over_coordinated_modifiers(blank, tmp_path):
    from nlp.ner import CompositeMentions

    comp = CompositeMentions(["classical", "c6", "brain", "breast", "hereditary"])
    comp.to_disk(tmp_path)
    comp = CompositeMentions().from_disk(tmp_path)
    assert "c6" in comp.modifiers
    # NCBI-disease dev style (PMIDs 10364520, 10745070): one mention per coordination.
    doc = blank.make_doc("Molecular heterogeneity of classical and Duarte galactosemia. "
                         "Other C6 and C7 deficiencies; human brain, breast, and prostate cancer.")
    ents = [(doc.text.index(t), t) for t in ("Duarte galactosemia", "C7 deficiencies",
                                               "prostate cancer")]
    doc.ents = [doc.char_span(i, i + len(t), "Disease") for i, t in ents]
    assert _ents(comp(doc)) == {("classical and Duarte galactosemia", "Disease"),
                                ("C6 and C7 deficiencies", "Disease"),
                                ("brain, breast, and prostate cancer", "Disease")}
    # Not extended: a one-token entity, a conjunct that is no listed modifier, a conjunct
    # that is an entity, a multi-word conjunct ("hereditary breast and ...").
    doc = blank.make_doc("normal and HD; gene and myotonic dystrophy; asthma and lung cancer; "
                         "hereditary breast and ovarian cancer")
    spans = [("HD", "Disease"), ("myotonic dystrophy", "Disease"), ("asthma", "Disease"),
             ("lung cancer", "Disease"), ("ovarian cancer", "Disease")]
    doc.ents = [doc.char_span(doc.text.index(t), doc.text.index(t) + len(t), lab) for t, lab in spans]
    assert _ents(comp(doc)) == set(spans)


def test_object_abbreviations_are_no_disease(blank):
    from nlp.ner import ObjectAbbreviations

    # NCBI-disease dev style (Canavan disease): ASPA abbreviates the enzyme, not the disease.
    doc = blank.make_doc("Canavan disease is caused by the deficiency of aspartoacylase (ASPA). "
                         "Mutations in ASPA. Phenylketonuria (PKU) is common; PKU patients.")
    def span(text, label="Disease", nth=0):
        i = -1
        for _ in range(nth + 1):
            i = doc.text.index(text, i + 1)
        return doc.char_span(i, i + len(text), label)
    doc.ents = [span("Canavan disease"), span("deficiency of aspartoacylase"), span("ASPA"),
                span("ASPA", nth=1), span("Phenylketonuria"), span("PKU"), span("PKU", nth=1)]
    doc = ObjectAbbreviations()(doc)
    assert _ents(doc) == {("Canavan disease", "Disease"), ("deficiency of aspartoacylase", "Disease"),
                          ("Phenylketonuria", "Disease"), ("PKU", "Disease")}
    assert len(doc.ents) == 5
