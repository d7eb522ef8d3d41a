"""Neo4j backend failure modes: clear one-line errors, and user text never becomes Cypher/Lucene.

The closed-port and query-building tests need no server. The others use the server named by
``NEO4J_URI`` (``scripts/neo4j.sh start``) and are skipped without one, or fail when
``MEDKG_REQUIRE_NEO4J=1``. They wipe that database.
"""
from __future__ import annotations

import os
import socket
import time

import pytest

from kg import neo4j_queries as Q
from kg.neo4j_store import Neo4jGraphStore
from kg.schema import PREDICATES
from nlp.errors import BackendUnavailable
from tests.contract.graph_store_contract import INJECTION, make_extraction, sample_batch
from tests.contract.test_neo4j_store import connect_test_store, neo4j_unavailable

INJECTIONS = [
    "a'}) DETACH DELETE n //",
    '"}) MATCH (n) DETACH DELETE n RETURN 1 //',
    "x` DETACH DELETE n //",
    "$password ${x} \\u0027",
    "text:cocaine AND *:* OR hypertension~2^10 [a TO z] {a TO z} /re.*gex/",
    '"unbalanced ( quote \\',
    "&& || ! - + ? : \\ /",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_store():
    store = connect_test_store()
    yield store
    store.clear()
    store.close()


@pytest.fixture
def store(server_store):
    server_store.clear()
    return server_store


# --------------------------------------------------------------------------- no server needed
def test_closed_port_is_backend_unavailable_naming_the_uri():
    uri = f"bolt://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable) as err:
        Neo4jGraphStore.connect(uri, "neo4j", "whatever-password")
    message = str(err.value)
    assert uri in message and "\n" not in message
    assert "Cannot reach Neo4j" in message
    assert time.monotonic() - t0 < 30


def test_open_store_routes_bolt_uris_to_neo4j():
    from kg.store import open_store

    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnavailable, match=uri.replace(".", r"\.")):
        open_store(uri, user="neo4j", password="whatever-password")


def test_relationship_types_only_from_the_whitelist():
    assert set(Q.EDGE_RECOMPUTE) == set(PREDICATES)
    for bad in ("CAUSES]->() DETACH DELETE n //", "causes", "MENTIONS", ""):
        with pytest.raises(ValueError, match="Unknown predicate"):
            Q.edge_recompute(bad)


@pytest.mark.parametrize("text", INJECTIONS)
def test_lucene_query_is_quoted_tokens(text):
    from kg.neo4j_store import tokenizer

    phrases = [p for p in tokenizer().tokenize(text.split()) if p]
    q = Q.phrase_query(phrases)
    if not phrases:
        assert q is None  # nothing to search for
        return
    # every clause is one quoted phrase of tokens with no unescaped Lucene syntax inside
    for clause in q.split(" OR "):
        assert clause.startswith('"') and clause.endswith('"')
        assert all(ch.isalnum() or ch == " " for ch in clause[1:-1].replace("\\", ""))
    assert Q.phrase_query([]) is None
    assert Q.lucene_escape('a+b"c*') == 'a\\+b\\"c\\*'


# --------------------------------------------------------------------------- server needed
@pytest.mark.neo4j
def test_wrong_password_is_backend_unavailable_naming_the_uri(server_store):
    uri = server_store.uri
    with pytest.raises(BackendUnavailable) as err:
        Neo4jGraphStore.connect(uri, os.environ.get("NEO4J_USER") or "neo4j", "definitely-not-the-password")
    message = str(err.value)
    assert uri in message and "authentication failed" in message and "\n" not in message
    assert "definitely-not-the-password" not in message


@pytest.mark.neo4j
def test_injection_like_text_is_stored_and_found_as_plain_text(store):
    store.write(sample_batch())
    before = store.stats()
    sentences = [(f"Compound {t} was inert.", [(t, (f"TXT:chemical:{t.lower()}", t, "Chemical"))], [])
                 for t in INJECTIONS]
    store.write([make_extraction("9999", 2000, sentences)])
    after = store.stats()
    assert after.documents == before.documents + 1
    assert after.sentences == before.sentences + len(INJECTIONS)
    assert after.concepts == before.concepts + len(INJECTIONS)
    assert after.edges == before.edges and after.evidence == before.evidence
    for t in INJECTIONS:
        cid = f"TXT:chemical:{t.lower()}"
        c = store.concept(cid)
        assert c is not None and c.name == t and t in c.synonyms
        assert store.find_concepts(t)[0].id == cid
        assert store.facts(cid) == [] and store.facts(cid, other_type=t, other_id=t) == []
        assert store.paths(cid, INJECTION[0]) == []
        hits = store.keyword_search(t, k=20)  # must not raise a Lucene parse error
        if any(ch.isalnum() for ch in t):
            assert "9999" in {h.doc_id for h in hits}
    # queries made only of operators / stop words find nothing and do not fail
    assert store.keyword_search("AND OR NOT", k=5) == []
    assert store.keyword_search("*:*", k=5) == []
    assert store.document_hashes([INJECTIONS[0]]) == {}
    assert store.remove_documents([INJECTIONS[0], "' OR 1=1 //"]) == []
    assert store.stats() == after


@pytest.mark.neo4j
def test_unknown_database_is_a_clear_error():
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        neo4j_unavailable("NEO4J_URI is not set (start a server with scripts/neo4j.sh start)")
    from nlp.errors import GraphStoreError

    with pytest.raises((BackendUnavailable, GraphStoreError)) as err:
        Neo4jGraphStore.connect(uri, os.environ.get("NEO4J_USER"), os.environ.get("NEO4J_PASSWORD"),
                                database="nosuchdb")
    assert uri in str(err.value) and "\n" not in str(err.value)


class _FailingSession:
    def __init__(self, error):
        self.error = error

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute_read(self, *a, **k):
        raise self.error

    execute_write = execute_read


class _FailingDriver:
    def __init__(self, error):
        self.error = error

    def session(self, **kwargs):
        return _FailingSession(self.error)


@pytest.mark.parametrize("error", [
    __import__("neo4j").exceptions.ServiceUnavailable("Couldn't connect to 127.0.0.1:7687"),
    __import__("neo4j").exceptions.SessionExpired("connection lost\nmid-transaction"),
])
def test_retries_exhausted_become_backend_unavailable(error):
    """What the driver raises once its managed-transaction retries give up (server gone)."""
    store = Neo4jGraphStore(_FailingDriver(error), uri="bolt://example:7687")
    for call in (lambda: store.stats(), lambda: store.write(sample_batch())):
        with pytest.raises(BackendUnavailable) as err:
            call()
        assert "bolt://example:7687" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.neo4j
def test_constraint_violation_is_graph_store_error(store):
    from kg.schema import DOCUMENT
    from nlp.errors import GraphStoreError

    store.write(sample_batch())

    def duplicate(tx):
        tx.run(f"CREATE (:{DOCUMENT} {{id: $id}})", id="6980").consume()

    with pytest.raises(GraphStoreError, match="constraint violated") as err:
        store._write_tx(duplicate, "create a duplicate document")
    assert store.uri in str(err.value) and "\n" not in str(err.value)
    assert store.stats().documents == 3  # rolled back
