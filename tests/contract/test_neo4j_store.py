"""The GraphStore contract suite against a Neo4j server (``Neo4jGraphStore``).

Needs a server: ``scripts/neo4j.sh start`` and ``NEO4J_URI`` / ``NEO4J_USER`` /
``NEO4J_PASSWORD`` in the environment. Without ``NEO4J_URI``, or with the server unreachable,
the tests are skipped with the reason, unless ``MEDKG_REQUIRE_NEO4J=1`` (CI), where they fail.
The database is wiped before every test: point ``NEO4J_URI`` at a scratch server only.
"""
from __future__ import annotations

import os

import pytest

from nlp.errors import BackendUnavailable
from tests.contract.graph_store_contract import GraphStoreContract, sample_batch

pytestmark = pytest.mark.neo4j


def neo4j_unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail when the run requires Neo4j (``MEDKG_REQUIRE_NEO4J=1``)."""
    if os.environ.get("MEDKG_REQUIRE_NEO4J") == "1":
        pytest.fail(f"MEDKG_REQUIRE_NEO4J=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def connect_test_store():
    """A store on the server named by ``NEO4J_URI``, or skip/fail with the reason."""
    from kg.neo4j_store import Neo4jGraphStore

    uri = os.environ.get("NEO4J_URI")
    if not uri:
        neo4j_unavailable("NEO4J_URI is not set (start a server with scripts/neo4j.sh start)")
    try:
        return Neo4jGraphStore.connect(uri, os.environ.get("NEO4J_USER"), os.environ.get("NEO4J_PASSWORD"))
    except BackendUnavailable as e:
        neo4j_unavailable(str(e))


@pytest.fixture(scope="module")
def neo4j_store():
    store = connect_test_store()
    yield store
    store.clear()
    store.close()


class TestNeo4jStore(GraphStoreContract):
    @pytest.fixture
    def store(self, neo4j_store):
        neo4j_store.clear()
        yield neo4j_store


def test_same_results_as_sqlite(neo4j_store, tmp_path):
    """Beyond the contract: every read returns exactly what the SQLite store returns."""
    from kg.sqlite_store import SQLiteGraphStore
    from tests.contract.graph_store_contract import (
        ASPIRIN, CLONIDINE, COCAINE, HYPERTENSION, HYPOTENSION, make_extraction,
    )

    neo4j_store.clear()
    lite = SQLiteGraphStore(tmp_path / "g.db")
    extra = make_extraction("7003", 2001, [
        ("Clonidine treats cocaine-induced hypertension.",
         [("Clonidine", CLONIDINE), ("hypertension", HYPERTENSION)], [("TREATS", 0, 1)]),
        ("Aspirin may cause hypertension.",
         [("Aspirin", ASPIRIN), ("hypertension", HYPERTENSION)], [("CAUSES", 0, 1, {"uncertain": True})]),
    ])
    batch = sample_batch() + [extra]
    assert neo4j_store.write(batch) == lite.write(batch)
    assert neo4j_store.stats() == lite.stats()
    for cid in (COCAINE[0], HYPERTENSION[0], ASPIRIN[0], CLONIDINE[0], HYPOTENSION[0]):
        assert neo4j_store.concept(cid) == lite.concept(cid)
        for neg in (False, True):
            for direction in ("both", "in", "out"):
                assert neo4j_store.facts(cid, include_negated=neg, direction=direction) == \
                    lite.facts(cid, include_negated=neg, direction=direction)
    for text in ("hyper", "cocaine", "a", "Clonidine", "MESH:D001241"):
        assert neo4j_store.find_concepts(text) == lite.find_concepts(text)
    assert neo4j_store.paths(CLONIDINE[0], COCAINE[0]) == lite.paths(CLONIDINE[0], COCAINE[0])
    assert neo4j_store.sentence_uids() == lite.sentence_uids()
    uids = lite.sentence_uids()[::-1]
    assert neo4j_store.passages(uids) == lite.passages(uids)
    for q in ("cocaine hypertension", "induced", "Clonidine-induced hypotension", "no evidence", "a'}) n //"):
        # same BM25 as SQLite FTS5, to the last bit
        assert neo4j_store.keyword_search(q, 5) == lite.keyword_search(q, 5)
        assert neo4j_store.keyword_search_documents(q, 5) == lite.keyword_search_documents(q, 5)
    assert neo4j_store.remove_documents(["7001", "7003"]) == lite.remove_documents(["7001", "7003"])
    assert neo4j_store.stats() == lite.stats()
    lite.close()


def test_concurrent_writers_of_the_same_documents(neo4j_store, tmp_path):
    """Writers racing on the same documents end with what one writer would store (no duplicates):
    the first statement of a write locks the documents, deadlocks are retried by the driver."""
    import copy
    import threading

    from kg.sqlite_store import SQLiteGraphStore

    neo4j_store.clear()
    docs = []
    for k in range(30):
        ex = copy.deepcopy(sample_batch()[k % 3])
        ex.document.id = f"{ex.document.id}-{k}"
        docs.append(ex)
    errors: list[BaseException] = []

    def writer():
        try:
            for i in range(0, len(docs), 5):
                neo4j_store.write(docs[i:i + 5])
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    lite = SQLiteGraphStore(tmp_path / "g.db")
    lite.write(docs)
    assert neo4j_store.stats() == lite.stats()
    lite.close()
