"""Relations and assertion: the label mapping, the trained relation model in the pipeline,
negated evidence, document-level CID pairs, and the planted assertion set."""
import importlib.util
import json
from pathlib import Path

import pytest

from kg.schema import PREDICATES
from nlp.extraction import ASSERTION_FLAGS, Document, Extraction, Mention, Relation, Sentence
from nlp.pipeline import Extractor
from nlp.relation_model import (
    BIORED_LABELS,
    MODEL_DIR,
    RELATION_MAPPING,
    RelationModel,
    document_cid_pairs,
    map_label,
    orient,
)

REPO = Path(__file__).resolve().parents[2]
COCAINE, HYPERTENSION, ASPIRIN = "MESH:D003042", "MESH:D006973", "MESH:D001241"
has_model = pytest.mark.skipif(not (MODEL_DIR / "model.joblib").exists(),
                               reason="no relation model in data/models/medkg_rel (python -m nlp.train_relations)")


def extract(nlp, text, title=""):
    return Extractor(nlp).extract(Document(id="t", title=title, text=text))


def triples(ex):
    out = set()
    for r in ex.relations:
        s = ex.sentences[r.sentence]
        out.add((r.predicate, s.mentions[r.subject].concept_id, s.mentions[r.object].concept_id, r.negated, r.method))
    return out


# ------------------------------------------------------------------ mapping
def test_every_biored_label_and_cid_is_mapped_onto_schema_predicates():
    assert set(RELATION_MAPPING["biored"]) == set(BIORED_LABELS)
    for corpus, labels in RELATION_MAPPING.items():
        for label, table in labels.items():
            for pred in table.values():
                assert pred is None or pred in PREDICATES, (corpus, label, pred)
    assert map_label("bc5cdr", "CID", "Chemical", "Disease") == "CAUSES"
    assert map_label("biored", "Positive_Correlation", "Disease", "Chemical") == "CAUSES"
    assert map_label("biored", "Negative_Correlation", "Chemical", "Disease") == "TREATS"
    assert map_label("biored", "Positive_Correlation", "Gene", "Disease") == "STIMULATES"
    assert map_label("biored", "Negative_Correlation", "Gene", "Gene") == "INHIBITS"
    assert map_label("biored", "Bind", "Gene", "Chemical") == "BINDS"
    assert map_label("biored", "Drug_Interaction", "Chemical", "Chemical") == "INTERACTS_WITH"
    assert map_label("biored", "Association", "Variant", "Disease") == "ASSOCIATED_WITH"
    assert map_label("biored", "Comparison", "Chemical", "Chemical") is None
    # a predicate whose types do not fit the pair falls back to ASSOCIATED_WITH
    assert map_label("biored", "Bind", "Variant", "Chemical") == "ASSOCIATED_WITH"


def test_orientation_follows_schema_types():
    assert orient("CAUSES", "Disease", "Chemical") is False
    assert orient("TREATS", "Chemical", "Disease") is True
    assert orient("STIMULATES", "Gene", "Chemical") is False  # the chemical is the agent
    assert orient("BINDS", "Gene", "Gene") is True
    assert orient("TREATS", "Gene", "Disease") is None


# ------------------------------------------------------------------ concept-pair features
def _view(text, ents):
    """A one-sentence DocView; ``ents`` = (surface, label, concept id), found left to right."""
    from nlp.relation_model import DocView, VEnt, VSent

    out, pos = [], 0
    for surface, label, cid in ents:
        start = text.index(surface, pos)
        out.append(VEnt(start, start + len(surface), label, (cid,), 0))
        pos = start + len(surface)
    return DocView(text, [VSent(0, len(text))], out)


def test_coordinated_concepts_are_lists_of_one_type():
    from nlp.relation_model import coordinated_concepts

    v = _view("Women receiving fluoxetine, sertraline, or paroxetine had sexual dysfunction and nausea.",
              [("fluoxetine", "Chemical", "F"), ("sertraline", "Chemical", "S"), ("paroxetine", "Chemical", "P"),
               ("sexual dysfunction", "Disease", "SD"), ("nausea", "Disease", "N")])
    co = coordinated_concepts(v)
    assert co["F"] == {"S", "P"} and co["P"] == {"F", "S"}  # the whole list, not only neighbours
    assert co["SD"] == {"N"}
    assert "F" not in co.get("SD", set())  # a chemical and a disease are never coordinated
    v = _view("Serotonin syndrome from venlafaxine-tranylcypromine interaction.",
              [("Serotonin syndrome", "Disease", "SS"), ("venlafaxine", "Chemical", "V"),
               ("tranylcypromine", "Chemical", "T")])
    assert coordinated_concepts(v) == {"V": {"T"}, "T": {"V"}}


def test_cid_stack_features_describe_the_competition_in_a_document():
    import math

    import numpy as np

    from nlp.relation_model import STACK_FEATURES, cid_stack_features

    keys = [("c1", "d1"), ("c1", "d2"), ("c2", "d1")]
    trees = {"d1": ["C01.100"], "d2": ["C01"]}  # d2 is an ancestor of d1 (d1 more specific)
    S = cid_stack_features(keys, np.array([0.9, 0.2, 0.5]), 0.3, trees, {"c1": {"c2"}, "c2": {"c1"}})
    f = [dict(zip(STACK_FEATURES, row)) for row in S]
    assert f[0]["s_rank_x"] == 1 and f[1]["s_rank_x"] == 2 and f[2]["s_rank_y"] == 2
    assert f[1]["s_desc_max"] == 0.9 and math.isclose(f[1]["s_desc_gap"], 0.7)  # a more specific rival
    assert f[0]["s_anc_max"] == 0.2 and math.isnan(f[0]["s_desc_max"])
    assert f[2]["s_coord_x"] == 0.9  # c2 is listed with c1, which is related to d1
    assert f[0]["s_doc_n"] == 2 and f[0]["s_doc_max"] == 0.9


def test_concept_pair_table_has_competition_and_cue_features():
    import numpy as np

    from nlp.relation_model import CLASSES, Priors, candidate_pairs, concept_pair_table

    v = _view("Patients with epilepsy developed hepatitis after valproate treatment.",
              [("epilepsy", "Disease", "E"), ("hepatitis", "Disease", "H"), ("valproate", "Chemical", "V")])
    pairs = candidate_pairs(v)
    cid = np.array([0.2 if v.ents[i].ids == ("E",) else 0.8 for i, _j in pairs])
    keys, rows = concept_pair_table(v, pairs, np.zeros((len(pairs), len(CLASSES))), cid,
                                    [False] * len(pairs), [None] * len(pairs), Priors())
    f = dict(zip(keys, rows))
    assert f[("V", "H")]["cid_mx_rank_y"] == 1 and f[("V", "E")]["cid_mx_rank_x"] == 2
    assert f[("V", "E")]["y_cue_indication"] == 1.0 and f[("V", "H")]["y_cue_indication"] == 0.0
    assert f[("V", "H")]["x_cue_induced_after"] == 1.0  # "valproate treatment"


# ------------------------------------------------------------------ model
@has_model
def test_model_loads_with_thresholds_and_provenance():
    m = RelationModel.load()
    assert {"mention_cid", "mention_biored", "doc_cid", "doc_biored", "sentence_cid"} <= set(m.thresholds)
    assert m.meta["trained_on"]["excluded_as_dev"]["biored"] > 0  # dev abstracts left out
    assert m.meta["params"]["seed"] is not None


@has_model
def test_cocaine_induced_hypertension_is_causes_by_the_model(nlp):
    ex = extract(nlp, "Cocaine-induced hypertension was observed in all animals.")
    assert ("CAUSES", COCAINE, HYPERTENSION, False, "model") in triples(ex)
    rel = next(r for r in ex.relations if r.predicate == "CAUSES")
    assert 0.5 <= rel.confidence <= 1.0


@has_model
def test_no_evidence_that_x_caused_y_is_contradicting_evidence(nlp):
    for text in ("There was no evidence that aspirin caused hypertension in these patients.",
                 "Aspirin did not cause hypertension."):
        ex = extract(nlp, text)
        rels = [r for r in ex.relations if r.predicate == "CAUSES"]
        assert rels and all(r.negated and not r.uncertain and r.method == "model" for r in rels), text
        assert ("CAUSES", ASPIRIN, HYPERTENSION, True, "model") in triples(ex)


@has_model
def test_hedged_relation_is_uncertain_not_negated(nlp):
    ex = extract(nlp, "These findings suggest that cocaine may cause hypertension.")
    rels = [r for r in ex.relations if r.predicate == "CAUSES"]
    assert rels and all(r.uncertain and not r.negated for r in rels)


@has_model
def test_document_cid_pairs_aggregates_sentences_and_skips_negated(nlp):
    ex = extract(nlp, "The hypertension was induced by cocaine in all animals.",
                 title="Cocaine-induced hypertension in rats.")
    assert (COCAINE, HYPERTENSION) in document_cid_pairs(ex)
    ex = extract(nlp, "There was no evidence that aspirin caused hypertension in these patients.")
    assert (ASPIRIN, HYPERTENSION) not in document_cid_pairs(ex)


def test_document_cid_pairs_from_pattern_relations_without_a_model(tmp_path):
    """Without a model only sentence-level CAUSES relations count (negated ones do not)."""

    def mention(text, start, label, cid):
        return Mention(start=start, end=start + len(text), text=text, label=label, concept_id=cid)

    text = "Cocaine caused hypertension. Aspirin did not cause hypertension."
    sents = [Sentence(0, 0, 28, text[:28], [mention("Cocaine", 0, "Chemical", COCAINE),
                                            mention("hypertension", 15, "Disease", HYPERTENSION)]),
             Sentence(1, 29, len(text), text[29:], [mention("Aspirin", 29, "Chemical", ASPIRIN),
                                                    mention("hypertension", 51, "Disease", HYPERTENSION)])]
    rels = [Relation("CAUSES", 0, 0, 1, trigger="caused"),
            Relation("CAUSES", 1, 0, 1, trigger="cause", negated=True)]
    ex = Extraction(Document(id="d", text=text), sents, rels)
    empty = tmp_path / "no_model"
    empty.mkdir()
    from nlp.relation_model import load_model

    assert load_model(empty) is None
    assert document_cid_pairs(ex, model=None, sentence_min_confidence=0.0) >= {(COCAINE, HYPERTENSION)}
    assert (ASPIRIN, HYPERTENSION) not in document_cid_pairs(ex, model=None, sentence_min_confidence=0.0)


def test_pattern_fallback_marks_method_pattern(nlp):
    from nlp.relations import extract_relations

    doc = nlp("Cocaine-induced hypertension was observed in all animals.")
    rels = extract_relations(doc, model=None)
    assert rels and all(r["method"] == "pattern" for r in rels)
    assert {"predicate", "subject", "object", "trigger", "confidence", *ASSERTION_FLAGS, "method"} <= set(rels[0])


# ------------------------------------------------------------------ assertion (planted set)
def _assertion_bench():
    spec = importlib.util.spec_from_file_location("assertion_eval", REPO / "bench" / "assertion_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Cases the literal-only ConText rules cannot fix (medspaCy's default ": no" rule wins over
# "no" in "Lungs: no crackles"; a longer pattern rule would, see relation_mapping.md).
KNOWN_FAILURES = {"a143"}


def test_planted_assertion_cases(nlp):
    bench = _assertion_bench()
    cases = bench.load_cases(bench.CASES)
    assert len(cases) >= 120
    wrong = {}
    for case in cases:
        start, end = bench._target(case)
        pred = bench.flags_given_span(nlp, case["text"], start, end)
        gold = {f: bool(case[f]) for f in ASSERTION_FLAGS}
        if pred != gold:
            wrong[case["id"]] = (case["split"], case["text"], gold, pred)
    # the cases the rules were written on (dev, test) all pass, but the documented failures
    tuned = {k: v for k, v in wrong.items() if v[0] in ("dev", "test") and k not in KNOWN_FAILURES}
    assert not tuned, json.dumps(tuned, indent=1)
    # the held-out splits (holdout2: written before the errors of these rules were looked at)
    for split in ("holdout", "holdout2"):
        held = [c for c in cases if c["split"] == split]
        wrong_held = [k for k, v in wrong.items() if v[0] == split]
        assert held and 1 - len(wrong_held) / len(held) >= 0.95, (split, wrong_held)
