"""The behaviour every :class:`kg.store.GraphStore` backend must show.

Subclass :class:`GraphStoreContract` and override the ``store`` fixture (an empty store per
test)::

    class TestSQLiteStore(GraphStoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            yield SQLiteGraphStore(tmp_path / "g.db")

The texts are real PubMed sentences (BC5CDR abstracts); the mentions and relations are
written by hand as the pipeline would produce them, so the suite tests the store alone.
"""
from __future__ import annotations

import copy

import pytest

from kg.store import GraphStore
from nlp.extraction import Document, Extraction, Mention, Relation, Sentence, sentence_uid

NAXOLONE = ("MESH:D009270", "naloxone", "Chemical")
CLONIDINE = ("MESH:D003000", "clonidine", "Chemical")
HYPERTENSION = ("MESH:D006973", "hypertension", "Disease")
HYPOTENSION = ("MESH:D007022", "hypotension", "Disease")
COCAINE = ("MESH:D003042", "cocaine", "Chemical")
ASPIRIN = ("MESH:D001241", "aspirin", "Chemical")
WARFARIN = ("MESH:D014859", "warfarin", "Chemical")
INJECTION = ("TXT:chemical:a'}) detach delete n //", "a'}) DETACH DELETE n //", "Chemical")


def _mention(sentence_text: str, sent_start: int, surface: str, concept, **flags) -> Mention:
    i = sentence_text.index(surface)
    cid, name, label = concept
    return Mention(start=sent_start + i, end=sent_start + i + len(surface), text=surface, label=label,
                   concept_id=cid, concept_name=name, vocab=cid.split(":")[0], **flags)


def make_extraction(doc_id: str, year: int, sentences: list[tuple[str, list[tuple[str, tuple]], list[tuple]]],
                    title: str = "") -> Extraction:
    """Build an extraction: sentences = [(text, [(surface, concept, flags?)...], [(pred, subj_i, obj_i, flags)...])]."""
    text = " ".join(s[0] for s in sentences)
    doc = Document(id=doc_id, title=title, text=text, source="contract", metadata={"year": year})
    offset = len(title) + 1 if title else 0
    out_sents, rels = [], []
    for idx, (stext, ments, rel_specs) in enumerate(sentences):
        mentions = []
        for spec in ments:
            surface, concept = spec[0], spec[1]
            flags = spec[2] if len(spec) > 2 else {}
            mentions.append(_mention(stext, offset, surface, concept, **flags))
        out_sents.append(Sentence(index=idx, start=offset, end=offset + len(stext), text=stext, mentions=mentions))
        for pred, si, oi, *rest in rel_specs:
            rels.append(Relation(predicate=pred, sentence=idx, subject=si, object=oi, trigger="induced",
                                 confidence=0.9, **(rest[0] if rest else {})))
        offset += len(stext) + 1
    return Extraction(document=doc, sentences=out_sents, relations=rels)


def sample_batch() -> list[Extraction]:
    d1 = make_extraction("6980", 1981, [
        ("Naloxone reverses the antihypertensive effect of clonidine.",
         [("Naloxone", NAXOLONE), ("clonidine", CLONIDINE)], []),
        ("Cocaine-induced hypertension was observed in all animals.",
         [("Cocaine", COCAINE), ("hypertension", HYPERTENSION)], [("CAUSES", 0, 1)]),
    ], title="Naloxone and clonidine.")
    d2 = make_extraction("7001", 1990, [
        ("Severe hypertension developed after cocaine use.",
         [("hypertension", HYPERTENSION), ("cocaine", COCAINE)], [("CAUSES", 1, 0)]),
        ("Clonidine-induced hypotension responded to fluids.",
         [("Clonidine", CLONIDINE), ("hypotension", HYPOTENSION)], [("CAUSES", 0, 1)]),
    ])
    d3 = make_extraction("7002", 1995, [
        ("There was no evidence that aspirin caused hypertension.",
         [("aspirin", ASPIRIN, {"negated": True}), ("hypertension", HYPERTENSION, {"negated": True})],
         [("CAUSES", 0, 1, {"negated": True})]),
        ("Warfarin interacts with aspirin in most patients.",
         [("Warfarin", WARFARIN), ("aspirin", ASPIRIN)], [("INTERACTS_WITH", 0, 1)]),
    ])
    return [d1, d2, d3]


class GraphStoreContract:
    """Override the ``store`` fixture in a subclass."""

    @pytest.fixture
    def store(self) -> GraphStore:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def loaded(self, store):
        store.write(sample_batch())
        return store

    # --- writes, idempotency ------------------------------------------------
    def test_is_a_graph_store(self, store):
        assert isinstance(store, GraphStore)

    def test_write_counts(self, store):
        ws = store.write(sample_batch())
        assert (ws.documents, ws.unchanged, ws.sentences, ws.mentions, ws.evidence) == (3, 0, 6, 12, 5)
        st = store.stats()
        assert (st.documents, st.sentences, st.mentions, st.evidence) == (3, 6, 12, 5)
        assert st.concepts == 7
        # cocaine->hypertension (2 sentences), clonidine->hypotension, warfarin-aspirin, and the
        # negated-only aspirin->hypertension edge that carries contradicting evidence only
        assert st.edges == 4
        assert st.edges_by_predicate == {"CAUSES": 3, "INTERACTS_WITH": 1}

    def test_write_is_idempotent(self, store):
        store.write(sample_batch())
        before = store.stats()
        ws = store.write(sample_batch())
        assert ws.documents == 0 and ws.unchanged == 3
        assert store.stats() == before
        store.ensure_schema()
        assert store.stats() == before

    def test_duplicate_document_in_one_batch_counts_once(self, store):
        batch = sample_batch()
        store.write(batch + [copy.deepcopy(batch[0])])
        assert store.stats().documents == 3
        assert store.facts(COCAINE[0], ["CAUSES"])[0].support == 2

    def test_changed_document_replaces_old_version(self, store):
        store.write(sample_batch())
        changed = make_extraction("7001", 1991, [
            ("Clonidine-induced hypotension responded to fluids.",
             [("Clonidine", CLONIDINE), ("hypotension", HYPOTENSION)], [("CAUSES", 0, 1)]),
        ])
        ws = store.write([changed])
        assert ws.documents == 1 and ws.replaced == 1
        assert sentence_uid("7001", 1) in ws.removed_uids
        assert store.document_hashes(["7001"]) == {"7001": changed.document.content_hash}
        fact = store.facts(COCAINE[0], ["CAUSES"])[0]
        assert fact.support == 1 and [e.doc_id for e in fact.evidence] == ["6980"]
        hypo = store.facts(HYPOTENSION[0], ["CAUSES"])[0]
        assert hypo.first_year == 1991 and hypo.last_year == 1991
        assert store.stats().sentences == 5

    def test_document_hashes(self, loaded):
        hashes = loaded.document_hashes(["6980", "7002", "nope"])
        assert set(hashes) == {"6980", "7002"}
        assert hashes["6980"] == sample_batch()[0].document.content_hash

    # --- facts and evidence ---------------------------------------------------
    def test_fact_aggregates_support_with_evidence(self, loaded):
        facts = loaded.facts(HYPERTENSION[0], ["CAUSES"], direction="in")
        assert [f.subject.id for f in facts] == [COCAINE[0]]  # negated aspirin edge excluded
        f = facts[0]
        assert (f.predicate, f.object.id, f.support, f.contradicting, f.documents) == ("CAUSES", HYPERTENSION[0], 2, 0, 2)
        assert (f.first_year, f.last_year) == (1981, 1990)
        assert f.subject.name == "cocaine" and f.subject.type == "Chemical" and f.object.type == "Disease"
        assert sorted(e.doc_id for e in f.evidence) == ["6980", "7001"]
        for e in f.evidence:
            low = e.text.lower()
            assert "cocaine" in low and "hypertension" in low
            assert e.sentence_id.startswith(e.doc_id + "#")
        # offsets point into the document full text
        full = {ex.document.id: ex.document.full_text for ex in sample_batch()}
        for e in f.evidence:
            assert full[e.doc_id][e.start:e.end] == e.text

    def test_negated_evidence_contradicts_never_supports(self, loaded):
        assert loaded.facts(ASPIRIN[0], ["CAUSES"]) == []
        facts = loaded.facts(ASPIRIN[0], ["CAUSES"], include_negated=True)
        assert len(facts) == 1
        f = facts[0]
        assert (f.support, f.contradicting, f.documents) == (0, 1, 0)
        assert f.evidence[0].negated and "no evidence" in f.evidence[0].text

    def test_symmetric_predicate_stored_once_either_direction(self, loaded):
        a = loaded.facts(ASPIRIN[0], ["INTERACTS_WITH"])
        w = loaded.facts(WARFARIN[0], ["INTERACTS_WITH"])
        assert len(a) == len(w) == 1 and a[0].key == w[0].key
        assert a[0].subject.id == min(ASPIRIN[0], WARFARIN[0])

    def test_fact_filters(self, loaded):
        assert loaded.facts(COCAINE[0], direction="in") == []
        assert len(loaded.facts(COCAINE[0], direction="out")) == 1
        assert loaded.facts(HYPERTENSION[0], other_type="Disease") == []
        assert len(loaded.facts(HYPERTENSION[0], other_type="Chemical")) == 1
        assert len(loaded.facts(CLONIDINE[0], other_id=HYPOTENSION[0])) == 1
        assert loaded.facts(CLONIDINE[0], other_id=HYPERTENSION[0]) == []
        assert loaded.facts(COCAINE[0], ["TREATS"]) == []
        assert len(loaded.facts(COCAINE[0], evidence_limit=1)[0].evidence) == 1

    def test_facts_ranked_by_support(self, loaded):
        facts = loaded.facts(HYPERTENSION[0], include_negated=True)
        assert [f.subject.id for f in facts] == [COCAINE[0], ASPIRIN[0]]

    # --- removal --------------------------------------------------------------
    def test_remove_documents_decrements_and_drops_edges(self, loaded):
        uids = loaded.remove_documents(["7001"])
        assert sorted(uids) == sorted([sentence_uid("7001", 0), sentence_uid("7001", 1)])
        f = loaded.facts(COCAINE[0], ["CAUSES"])[0]
        assert f.support == 1 and f.documents == 1
        assert loaded.facts(HYPOTENSION[0]) == []
        assert loaded.concept(HYPOTENSION[0]) is None  # no mention left
        st = loaded.stats()
        assert (st.documents, st.sentences, st.edges) == (2, 4, 3)
        assert loaded.document_hashes(["7001"]) == {}
        assert loaded.remove_documents(["7001"]) == []

    # --- concepts -------------------------------------------------------------
    def test_concept_lookup(self, loaded):
        c = loaded.concept(COCAINE[0])
        assert c is not None and c.name == "cocaine" and c.type == "Chemical"
        assert c.mentions == 2 and c.documents == 2
        assert "cocaine" in {n.lower() for n in c.synonyms}
        assert loaded.concept("MESH:D000000") is None

    def test_find_concepts(self, loaded):
        assert [c.id for c in loaded.find_concepts("Hypertension")][:1] == [HYPERTENSION[0]]
        assert loaded.find_concepts(COCAINE[0])[0].id == COCAINE[0]
        assert HYPOTENSION[0] in [c.id for c in loaded.find_concepts("hypot")]
        assert loaded.find_concepts("zzz-not-there") == []
        assert loaded.find_concepts("") == []

    # --- search ---------------------------------------------------------------
    def test_keyword_search(self, loaded):
        hits = loaded.keyword_search("cocaine hypertension", k=3)
        assert hits and "ocaine" in hits[0].text and "hypertension" in hits[0].text
        assert hits[0].doc_id in ("6980", "7001")
        assert all(h.score >= hits[-1].score for h in hits)
        assert loaded.keyword_search("", k=3) == []
        assert loaded.keyword_search('"OR AND NOT (*', k=3) == []

    def test_keyword_search_documents(self, loaded):
        hits = loaded.keyword_search_documents("cocaine hypertension", k=5)
        ids = [d for d, _ in hits]
        # both words in 6980 and 7001; only "hypertension" in 7002; each document once
        assert set(ids[:2]) == {"6980", "7001"} and ids[2:] == ["7002"]
        assert all(a[1] >= b[1] for a, b in zip(hits, hits[1:]))
        assert [d for d, _ in loaded.keyword_search_documents("warfarin", k=5)] == ["7002"]
        assert len(loaded.keyword_search_documents("cocaine hypertension", k=1)) == 1
        assert loaded.keyword_search_documents("", k=3) == []
        assert loaded.keyword_search_documents('"OR AND NOT (*', k=3) == []
        assert loaded.keyword_search_documents("cocaine", k=0) == []

    def test_keyword_search_documents_follows_replace_and_remove(self, loaded):
        loaded.remove_documents(["7001"])
        assert [d for d, _ in loaded.keyword_search_documents("cocaine", k=5)] == ["6980"]
        changed = make_extraction("6980", 1981, [
            ("Naloxone reverses the antihypertensive effect of clonidine.",
             [("Naloxone", NAXOLONE), ("clonidine", CLONIDINE)], []),
        ], title="Naloxone and clonidine.")
        loaded.write([changed])
        assert loaded.keyword_search_documents("cocaine", k=5) == []
        assert [d for d, _ in loaded.keyword_search_documents("naloxone", k=5)] == ["6980"]

    def test_passages_by_uid_in_order(self, loaded):
        uids = [sentence_uid("7002", 1), sentence_uid("6980", 0), 12345]
        ps = loaded.passages(uids)
        assert [p.sentence_id for p in ps] == ["7002#1", "6980#0"]
        assert ps[0].text.startswith("Warfarin") and ps[1].title == "Naloxone and clonidine."
        assert sorted(loaded.sentence_uids()) == sorted(sentence_uid(d, i) for d in ("6980", "7001", "7002")
                                                         for i in (0, 1))

    def test_injection_like_text_is_plain_text(self, store):
        store.write(sample_batch())
        bad = make_extraction("9999", 2000, [
            ("The compound a'}) DETACH DELETE n // was inert.", [("a'}) DETACH DELETE n //", INJECTION)], []),
        ])
        store.write([bad])
        assert store.stats().documents == 4
        assert store.concept(INJECTION[0]).name == "a'}) DETACH DELETE n //"
        assert store.find_concepts("a'}) DETACH DELETE n //")[0].id == INJECTION[0]
        hits = store.keyword_search("a'}) DETACH DELETE n //", k=5)
        assert hits and hits[0].doc_id == "9999"

    # --- paths ----------------------------------------------------------------
    def test_paths(self, loaded):
        paths = loaded.paths(COCAINE[0], HYPERTENSION[0])
        assert len(paths) == 1 and paths[0].length == 1
        assert paths[0].hops[0].evidence
        # clonidine and cocaine are not connected through supported edges
        assert loaded.paths(CLONIDINE[0], COCAINE[0]) == []
        extra = make_extraction("7003", 2001, [
            ("Clonidine treats cocaine-induced hypertension.",
             [("Clonidine", CLONIDINE), ("hypertension", HYPERTENSION)], [("TREATS", 0, 1)]),
        ])
        loaded.write([extra])
        two = loaded.paths(CLONIDINE[0], COCAINE[0])
        assert len(two) == 1 and two[0].length == 2
        assert [h.predicate for h in two[0].hops] == ["TREATS", "CAUSES"]
        assert loaded.paths(CLONIDINE[0], COCAINE[0], max_hops=1) == []
