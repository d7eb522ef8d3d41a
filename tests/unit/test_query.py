"""QueryEngine: reciprocal rank fusion, question parsing, answers and document-level search.

The store is a small SQLite graph built here from hand-annotated sentences (the contract
suite's helper), so these tests need neither the NLP pipeline nor the embedding model.
"""
from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from kg.schema import CHEMICAL, DISEASE, GENE
from kg.sqlite_store import SQLiteGraphStore
from retrieval.index import FaissIndex
from retrieval.query import QueryEngine, rrf
from tests.contract.graph_store_contract import ASPIRIN, HYPERTENSION, WARFARIN, make_extraction

LISINOPRIL = ("MESH:D017706", "lisinopril", "Chemical")
AMLODIPINE = ("MESH:D017311", "amlodipine", "Chemical")
AMIODARONE = ("MESH:D000638", "amiodarone", "Chemical")
HYPOTHYROIDISM = ("MESH:D007037", "hypothyroidism", "Disease")
FIBROSIS = ("MESH:D011658", "pulmonary fibrosis", "Disease")
BRCA1 = ("NCBIGene:672", "BRCA1", "Gene")
BREAST_CANCER = ("MESH:D001943", "breast cancer", "Disease")


def corpus():
    return [
        make_extraction("1001", 2004, [
            ("Lisinopril is widely used to treat hypertension in adults.",
             [("Lisinopril", LISINOPRIL), ("hypertension", HYPERTENSION)], [("TREATS", 0, 1)]),
            ("Amlodipine also treats hypertension in elderly patients.",
             [("Amlodipine", AMLODIPINE), ("hypertension", HYPERTENSION)], [("TREATS", 0, 1)]),
        ], title="Antihypertensive drugs in practice."),
        make_extraction("1002", 2010, [
            ("Amiodarone-induced hypothyroidism developed in 12 patients.",
             [("Amiodarone", AMIODARONE), ("hypothyroidism", HYPOTHYROIDISM)], [("CAUSES", 0, 1)]),
            ("Pulmonary fibrosis caused by amiodarone is a serious adverse effect.",
             [("Pulmonary fibrosis", FIBROSIS), ("amiodarone", AMIODARONE)], [("CAUSES", 1, 0)]),
        ], title="Amiodarone toxicity."),
        make_extraction("1003", 2015, [
            ("Warfarin interacts with aspirin and raises the risk of bleeding.",
             [("Warfarin", WARFARIN), ("aspirin", ASPIRIN)], [("INTERACTS_WITH", 0, 1)]),
        ], title="Anticoagulant interactions."),
        make_extraction("1004", 2018, [
            ("Germline BRCA1 mutations are associated with hereditary breast cancer.",
             [("BRCA1", BRCA1), ("breast cancer", BREAST_CANCER)], [("ASSOCIATED_WITH", 0, 1)]),
            ("Carriers of BRCA1 variants have a high lifetime risk of breast cancer.",
             [("BRCA1", BRCA1), ("breast cancer", BREAST_CANCER)], []),
        ], title="BRCA1 and breast cancer."),
    ]


class HashEmbedder:
    """A deterministic bag-of-words embedder (hashed stems): enough to exercise dense search."""

    model_id = "hash-test"
    dimension = 64

    def embed_documents(self, texts):
        out = np.zeros((len(texts), self.dimension), np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                out[i, zlib.crc32(w[:5].encode()) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def embed_query(self, text):
        return self.embed_documents([text])[0]


@pytest.fixture
def store(tmp_path):
    s = SQLiteGraphStore(tmp_path / "g.db")
    s.write(corpus())
    yield s
    s.close()


@pytest.fixture
def engine(store):
    return QueryEngine(store)


@pytest.fixture
def dense_engine(store):
    emb = HashEmbedder()
    index = FaissIndex(emb.dimension, emb.model_id)
    ps = store.passages(store.sentence_uids())
    index.add([p.uid for p in ps], emb.embed_documents([p.text for p in ps]))
    return QueryEngine(store, index=index, embedder=emb)


# ---------------------------------------------------------------------------- rrf
def test_rrf_sums_weighted_reciprocal_ranks():
    fused = rrf({"a": [1, 2, 3], "b": [3, 1]}, k=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert sorted(fused, key=lambda u: -fused[u]) == [1, 3, 2]


def test_rrf_weights_and_k():
    fused = rrf({"a": [1, 2], "b": [2, 1]}, weights={"a": 2.0, "b": 1.0}, k=0)
    assert fused[1] == pytest.approx(2 / 1 + 1 / 2) and fused[2] == pytest.approx(2 / 2 + 1 / 1)
    assert rrf({"a": [1], "b": [2]}, weights={"a": 0.0}) == {2: pytest.approx(1 / 61)}
    assert rrf({}) == {} and rrf({"a": []}) == {}


# ---------------------------------------------------------------------------- parsing
@pytest.mark.parametrize("question, predicates, answer_type, concepts", [
    ("What drugs treat hypertension?", ["TREATS"], CHEMICAL, [HYPERTENSION[0]]),
    ("side effects of amiodarone", ["CAUSES"], DISEASE, [AMIODARONE[0]]),
    ("does warfarin interact with aspirin?", ["INTERACTS_WITH"], CHEMICAL, [WARFARIN[0], ASPIRIN[0]]),
    # "related": any relation (predicates [] = all), between the two concepts
    ("how is BRCA1 related to breast cancer?", [], None, [BRCA1[0], BREAST_CANCER[0]]),
])
def test_parse_example_questions(engine, question, predicates, answer_type, concepts):
    parsed = engine.parse(question)
    assert parsed.predicates == predicates
    assert parsed.answer_type == answer_type
    assert sorted(c.id for c in parsed.concepts) == sorted(concepts)
    assert all(c.in_graph for c in parsed.concepts)


def test_parse_with_a_recognizer_and_unknown_concepts(store):
    def recognizer(text):
        out = []
        if "BRCA1" in text:
            out.append(("BRCA1", BRCA1[0], "BRCA1", GENE))
        if "xyzzyplasia" in text:
            out.append(("xyzzyplasia", "MESH:D999999", "xyzzyplasia", DISEASE))
        return out

    engine = QueryEngine(store, recognizer=recognizer)
    parsed = engine.parse("how is BRCA1 related to breast cancer?")
    assert [c.id for c in parsed.concepts] == [BRCA1[0]] and parsed.concepts[0].type == GENE
    unknown = engine.parse("What drugs treat xyzzyplasia?")
    assert [(c.id, c.in_graph) for c in unknown.concepts] == [("MESH:D999999", False)]
    assert unknown.predicates == ["TREATS"] and unknown.answer_type == CHEMICAL


# ---------------------------------------------------------------------------- answers
def test_ask_treats_returns_drugs_with_evidence(engine):
    ans = engine.ask("What drugs treat hypertension?")
    pairs = {(f.subject.id, f.predicate, f.object.id) for f in ans.facts}
    assert pairs == {(LISINOPRIL[0], "TREATS", HYPERTENSION[0]), (AMLODIPINE[0], "TREATS", HYPERTENSION[0])}
    assert all(f.evidence and f.evidence[0].doc_id == "1001" for f in ans.facts)
    assert not ans.message


def test_ask_side_effects_returns_diseases(engine):
    ans = engine.ask("side effects of amiodarone")
    assert {f.object.id for f in ans.facts} == {HYPOTHYROIDISM[0], FIBROSIS[0]}
    assert all(f.predicate == "CAUSES" and f.subject.id == AMIODARONE[0] for f in ans.facts)


def test_ask_interaction_and_relation_between_two_concepts(engine):
    ans = engine.ask("does warfarin interact with aspirin?")
    assert [(f.subject.id, f.predicate, f.object.id) for f in ans.facts] == [
        (ASPIRIN[0], "INTERACTS_WITH", WARFARIN[0])]  # symmetric: stored with the smaller id first
    rel = engine.ask("how is BRCA1 related to breast cancer?")
    assert [(f.predicate, f.support) for f in rel.facts] == [("ASSOCIATED_WITH", 1)]
    assert rel.paths and rel.paths[0].length == 1
    assert rel.passages and rel.passages[0].doc_id == "1004"


def test_ask_without_graph_support_says_so(engine):
    ans = engine.ask("What drugs treat hypothyroidism?")
    assert ans.facts == [] and "No supporting evidence" in ans.message
    assert "No known concept" in engine.ask("What is the meaning of life?").message


# ---------------------------------------------------------------------------- search
def test_keyword_search_drops_stop_words(store):
    from kg.sqlite_store import fts_query, query_terms

    assert query_terms("What drugs can treat the hypertension?") == ["drugs", "treat", "hypertension"]
    assert query_terms("what is it") == [] and fts_query("what is it") is None
    assert fts_query("") is None and store.keyword_search("What is it?", k=3) == []
    hits = store.keyword_search("what is the risk of bleeding with warfarin", k=5)
    assert hits and hits[0].doc_id == "1003"


def test_document_search_keyword_only(engine):
    hits = engine.search("amiodarone hypothyroidism", k=5, level="document", methods=("keyword",))
    assert hits[0].doc_id == "1002"
    assert len({h.doc_id for h in hits}) == len(hits)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_document_search_hybrid_groups_sentences(dense_engine):
    hits = dense_engine.search("BRCA1 breast cancer risk", k=3, level="document")
    assert hits[0].doc_id == "1004" and "BRCA1" in hits[0].text
    assert len({h.doc_id for h in hits}) == len(hits) <= 3
    dense = dense_engine.search("hypertension treatment", k=4, level="document", methods=("dense",))
    assert dense[0].doc_id == "1001"
    sent = dense_engine.search("warfarin aspirin", k=2)
    assert sent[0].doc_id == "1003" and sent[0].sentence_id == "1003#0"
    with pytest.raises(ValueError, match="level"):
        dense_engine.search("x", level="paragraph")


def test_keyword_budget_skips_rows_with_only_frequent_words(store):
    """Past the row budget, rows found keep their full-query BM25 score; rows with only some frequent words drop."""
    q = "hypertension treat adults amiodarone"
    plain = {p.uid: p.score for p in store.keyword_search(q, 10)}
    store.KEYWORD_BUDGET = 3  # rows: adults 1, amiodarone 2, hypertension 2, treat 2
    assert store._fts_match("sentences_fts", q, k=4) == '"adults" OR "amiodarone" OR ("hypertension" AND "treat")'
    pruned = store.keyword_search(q, 4)
    assert all(p.score == pytest.approx(plain[p.uid]) for p in pruned)
    assert {p.sentence_id for p in pruned} == {"1001#0", "1001#1", "1002#0", "1002#1"}
    assert set(dict(store.keyword_search_documents(q, 2))) == {"1001", "1002"}
    # a plan that could not fill k rows falls back to the plain OR query
    assert store._fts_match("sentences_fts", q, k=6) == '"hypertension" OR "treat" OR "adults" OR "amiodarone"'
    store.KEYWORD_BUDGET = 1
    assert store._fts_match("sentences_fts", "hypertension treat", k=1) == '("hypertension" AND "treat")'
    assert store._fts_match("sentences_fts", "amiodarone hypothyroidism", k=1) == '"hypothyroidism"'


def test_feedback_query_adds_words_of_the_feedback_documents(dense_engine):
    eng = dense_engine
    neighbours = [p.text for p in eng.store.passages(eng.store.sentence_uids())]
    q = eng._feedback_query("amiodarone toxicity", ["1002"], neighbours)
    words = q.split()
    assert words[:6] == ["amiodarone", "toxicity"] * 3  # the query's own words weigh prf_query_weight times
    added = words[6:]
    assert added and "hypothyroidism" in added and "amiodarone" not in added
    assert len(added) <= eng.prf_terms and not {"the", "with", "is"} & set(added)
    assert eng._feedback_query("x", [], neighbours) is None
    texts = eng._document_texts(["1003", "1004"])
    assert texts["1003"].startswith("Warfarin interacts") and "BRCA1" in texts["1004"]


def test_document_search_without_feedback_is_plain_fusion(dense_engine):
    with_prf = dense_engine.search("amiodarone hypothyroidism", k=4, level="document")
    dense_engine.prf_docs = 0
    without = dense_engine.search("amiodarone hypothyroidism", k=4, level="document")
    assert with_prf[0].doc_id == without[0].doc_id == "1002"


def test_concept_query_skips_what_the_question_already_says(store):
    from retrieval.query import QuestionConcept

    eng = QueryEngine(store)
    c = QuestionConcept(id=BREAST_CANCER[0], name="breast cancer", type=DISEASE, text="breast cancer")
    assert eng._expanded([c], "breast cancer risk") == ""  # nothing the keyword ranking lacks
    assert eng._expanded([c]) == "breast cancer"


# ---------------------------------------------------------------------------- question lexicon
LEXICON_PATTERNS = [
    ("hypertension", DISEASE, HYPERTENSION[0]), ("high blood pressure", DISEASE, HYPERTENSION[0]),
    ("amiodarone", CHEMICAL, AMIODARONE[0]), ("warfarin", CHEMICAL, WARFARIN[0]), ("aspirin", CHEMICAL, ASPIRIN[0]),
    ("BRCA1", GENE, BRCA1[0]), ("breast cancer", DISEASE, BREAST_CANCER[0]), ("cancer", DISEASE, "MESH:D009369"),
    ("ACE", GENE, "NCBIGene:1636"), ("lisinopril", CHEMICAL, LISINOPRIL[0]),
    ("side effects", DISEASE, "MESH:D064420"),  # an alias that only names the question's frame
]


@pytest.fixture
def lexicon(tmp_path):
    from nlp.question import QuestionLexicon

    names = {HYPERTENSION[0]: "Hypertension", BREAST_CANCER[0]: "Breast Neoplasms"}
    return QuestionLexicon.build(LEXICON_PATTERNS, tmp_path / "lexicon.sqlite", names.get)


def test_lexicon_longest_match_case_and_word_bounds(lexicon):
    def found(text):
        return [(text[s:e], cid) for s, e, _label, cid, _name in lexicon.find(text)]

    assert found("how is BRCA1 related to breast cancer?") == [("BRCA1", BRCA1[0]), ("breast cancer", BREAST_CANCER[0])]
    # title case and capitals find the same concepts; the preferred name comes from the dictionary
    assert found("What Drugs Cause Hypertension?") == [("Hypertension", HYPERTENSION[0])]
    assert found("WHAT DRUGS TREAT HIGH BLOOD PRESSURE") == [("HIGH BLOOD PRESSURE", HYPERTENSION[0])]
    assert lexicon.find("hypertension")[0][4] == "Hypertension"
    # a case-sensitive abbreviation only with its case; never inside a word
    assert found("ACE inhibitors and ace of spades") == [("ACE", "NCBIGene:1636")]
    assert found("acetylsalicylic acid or aspirins") == []
    assert lexicon.max_tokens == 3


@pytest.mark.parametrize("question, predicates, answer_type, concepts", [
    ("What drugs treat hypertension?", ["TREATS"], CHEMICAL, [HYPERTENSION[0]]),
    ("side effects of amiodarone", ["CAUSES"], DISEASE, [AMIODARONE[0]]),
    ("does warfarin interact with aspirin?", ["INTERACTS_WITH"], CHEMICAL, [WARFARIN[0], ASPIRIN[0]]),
    ("how is BRCA1 related to breast cancer?", [], None, [BRCA1[0], BREAST_CANCER[0]]),
    ("What Drugs Cause Hypertension?", ["CAUSES"], CHEMICAL, [HYPERTENSION[0]]),
    ("WHAT ARE THE SIDE EFFECTS OF AMIODARONE?", ["CAUSES"], DISEASE, [AMIODARONE[0]]),
])
def test_parse_with_the_question_lexicon(store, lexicon, question, predicates, answer_type, concepts):
    from nlp.question import QuestionRecognizer

    engine = QueryEngine(store, recognizer=QuestionRecognizer(lexicon))
    parsed = engine.parse(question)
    assert (parsed.predicates, parsed.answer_type) == (predicates, answer_type)
    assert sorted(c.id for c in parsed.concepts) == sorted(concepts)  # no "side effects" concept
    assert all(c.in_graph for c in parsed.concepts)


def test_recognizer_falls_back_to_fuzzy_linking_only_when_nothing_matches(lexicon):
    from nlp.linking import LinkResult
    from nlp.question import QuestionRecognizer

    calls = []

    class Dictionary:
        def link(self, text, label=None, threshold=0.85):
            calls.append(text)
            if text.lower() == "hypertenson":
                return LinkResult(HYPERTENSION[0], "Hypertension", DISEASE, "MESH", 0.9, "fuzzy")
            if text.lower() == "breast":  # an exact alias the NER patterns leave out: not taken
                return LinkResult("MESH:D001940", "Breast", "", "MESH", 0.95, "normalized")
            return LinkResult("TXT:x", text, "", "TXT", 0.0, "unlinked")

    rec = QuestionRecognizer(lexicon, Dictionary)
    assert rec("What drugs treat hypertension?") == [("hypertension", HYPERTENSION[0], "Hypertension", DISEASE)]
    assert calls == []  # the dictionary is not even loaded
    assert rec("What drugs treat hypertenson?") == [("hypertenson", HYPERTENSION[0], "Hypertension", DISEASE)]
    assert "drugs" not in [c.lower() for c in calls] and "treat" not in calls
    assert rec("What about the breast?") == []


# ---------------------------------------------------------------------------- facts: evidence order
def test_fact_evidence_is_the_top_of_the_full_sort(tmp_path):
    """The evidence a fact lists = the first rows of ORDER BY negated, uncertain, confidence DESC,
    year DESC, doc_id, sentence position, also when the cut falls among one document's sentences."""
    s = SQLiteGraphStore(tmp_path / "ev.db")
    docs = []
    for d in range(6):
        sents = [(f"Lisinopril treats hypertension, report {d}.{i}.", [("Lisinopril", LISINOPRIL),
                                                                       ("hypertension", HYPERTENSION)],
                  [("TREATS", 0, 1, {"uncertain": (d + i) % 3 == 0})]) for i in range(5)]
        docs.append(make_extraction(f"20{d}", 2000 + d % 2, sents))
    s.write(docs)
    full = [r["sentence_id"] for r in s._query(
        """SELECT ev.sentence_id FROM evidence ev JOIN sentences x ON x.uid = ev.sentence_uid
           WHERE ev.negated = 0 ORDER BY ev.negated, ev.uncertain, ev.confidence DESC, ev.year DESC,
           ev.doc_id, x.idx""")]
    for k in (1, 2, 3, 4, 7, 12, 30, 40):
        fact = s.facts(HYPERTENSION[0], ["TREATS"], evidence_limit=k)[0]
        assert [e.sentence_id for e in fact.evidence] == full[:k], k
    s.close()


def test_sqlite_reads_from_worker_threads_see_committed_writes(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    s = SQLiteGraphStore(tmp_path / "t.db")
    s.write(corpus()[:2])
    with ThreadPoolExecutor(2) as pool:
        assert pool.submit(lambda: s.keyword_search("warfarin", 3)).result() == []
        s.write(corpus()[2:])  # the worker's cached row counts are stale now
        hits = pool.submit(lambda: s.keyword_search("warfarin aspirin", 3)).result()
        assert hits and hits[0].doc_id == "1003"
        facts = pool.submit(lambda: s.facts(WARFARIN[0])).result()
        assert [f.predicate for f in facts] == ["INTERACTS_WITH"]
    s.close()
    with pytest.raises(Exception):
        s.facts(WARFARIN[0])


def test_question_frame_words_are_never_concepts(store):
    """What an NER may tag in a title-case question ("Is", "Drugs", "Side Effects") is the question's
    frame: dropped, so the intent and answer type still come through."""
    def recognizer(text):
        return [("Is", "TXT:entity:is", "Is", DISEASE), ("Side Effects", "MESH:D064420", "Side effects", DISEASE),
                ("Drugs", "MESH:D004364", "Pharmaceutical Preparations", CHEMICAL),
                ("Amiodarone", AMIODARONE[0], "amiodarone", CHEMICAL)]

    parsed = QueryEngine(store, recognizer=recognizer).parse("Is There A List Of Drugs And Side Effects Of Amiodarone?")
    assert [c.id for c in parsed.concepts] == [AMIODARONE[0]]
    assert parsed.predicates == ["CAUSES"] and parsed.answer_type == CHEMICAL


def test_keyword_budget_relaxes_the_group_before_the_plain_query(store):
    """Frequent words whose AND finds fewer than k rows: rows with at least 2 of them, not every row."""
    q = "lisinopril treat hypertension"
    store.KEYWORD_BUDGET = 0  # every word is "frequent"
    assert store._fts_match("sentences_fts", q, k=1) == '("lisinopril" AND "treat" AND "hypertension")'
    assert store._fts_match("sentences_fts", q, k=2) == (
        '("lisinopril" AND "treat") OR ("lisinopril" AND "hypertension") OR ("treat" AND "hypertension")')
    assert {p.sentence_id for p in store.keyword_search(q, 2)} == {"1001#0", "1001#1"}
    assert store._fts_match("sentences_fts", q, k=3) == '"lisinopril" OR "treat" OR "hypertension"'


def test_ask_shows_informative_passages_before_bare_headings():
    from kg.model import Passage
    from retrieval.query import informative_first

    def p(uid, text):
        return Passage(sentence_id=f"s{uid}", uid=uid, doc_id="d", text=text)

    ranked = [p(1, "Hypertension."), p(2, "Dexamethasone-induced hypertension in rats."),
              p(3, "History: hypertension"), p(4, "Lithium caused systolic hypertension in rats.")]
    assert [x.uid for x in informative_first(ranked)] == [2, 4, 1, 3]
    assert informative_first([]) == []
