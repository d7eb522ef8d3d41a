"""``Neo4jGraphStore``: the :class:`kg.store.GraphStore` protocol over a Neo4j 5 server (Bolt).

The graph follows :mod:`kg.schema`; every Cypher statement lives in :mod:`kg.neo4j_queries`.
Rows come from :func:`kg.rows.document_rows`, exactly what the SQLite backend writes, and the
reads mirror :mod:`kg.sqlite_store`'s orderings, so both backends answer alike (the contract
suite in ``tests/contract`` checks it). Keyword search included: sentences and documents carry
the tokens SQLite FTS5 would index (:class:`Fts5Tokenizer`), Lucene full-text indexes over them
find the candidates, and :func:`bm25_rank` scores them with FTS5's own ``bm25()`` arithmetic, so
results and scores are identical to the SQLite backend's.

Writes: one managed transaction per :meth:`Neo4jGraphStore.write` call, with ``UNWIND $rows``
statements in chunks; the driver retries transient failures (deadlocks, a leader switch, a
server that went away and came back within ``max_transaction_retry_time``) with exponential
backoff, re-running the whole transaction function, which is safe because it decides what to
write from what it reads inside the transaction; for the same reason a commit the server did not
confirm (no bookmark: the server shut down mid-transaction) is run again. Errors reach callers as
:class:`nlp.errors.BackendUnavailable` (cannot connect, authentication failed, server gone) or
:class:`nlp.errors.GraphStoreError` (constraint violation, any other server or driver error),
each with a one-line message naming the URI.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
import threading
import time
from typing import Any, Callable, Iterator, Sequence, TypeVar

from kg import neo4j_queries as Q
from kg import sqlite_store as _sqlite  # the words a keyword search looks for, and BM25 weights
from kg.model import Concept, Evidence, Fact, GraphStats, Passage, Path, WriteStats
from kg.paths import shortest_chains
from kg.store import fact_predicates
from kg.rows import DocumentRows, document_rows
from kg.schema import PREDICATES
from nlp.errors import BackendUnavailable, ConfigError, GraphStoreError
from nlp.extraction import ASSERTION_FLAGS as _FLAGS
from nlp.extraction import Extraction

try:  # the driver is a core dependency, but keep import errors readable
    import neo4j
    from neo4j import exceptions as neo4j_exc
except ImportError as _e:  # pragma: no cover - exercised only without the driver
    neo4j = None  # type: ignore[assignment]
    _IMPORT_ERROR: ImportError | None = _e
else:
    _IMPORT_ERROR = None

T = TypeVar("T")

DEFAULT_URI = "bolt://127.0.0.1:7687"
DEFAULT_USER = "neo4j"
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
# Rows per UNWIND statement: big enough to amortise round trips, small enough to keep each
# statement's memory modest.
CHUNK = 2000
# How long the driver keeps retrying a transaction that failed transiently (server restart included).
DEFAULT_RETRY_SECONDS = 60.0
_NEIGHBOUR_CAP = 200
_NO_LIMIT = 2**62


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _chunks(rows: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _normalize_name(text: str) -> str:
    # Same as kg.sqlite_store.normalize_name (kept here so this backend does not import SQLite's).
    return re.sub(r"\s+", " ", text).strip().lower()


# The FTS5 tokenizer of the SQLite backend's full-text tables; keep the two in step.
FTS5_TOKENIZER = "porter unicode61"
# FTS5's bm25() constants.
_BM25_K1 = 1.2
_BM25_B = 0.75


class Fts5Tokenizer:
    """Split text into the tokens SQLite FTS5 indexes (``porter unicode61``), by asking SQLite.

    An in-memory FTS5 table and its ``fts5vocab`` instance view give the exact tokens (lower
    case, diacritics removed, Porter-stemmed) in order, so token counts, phrase matches and
    BM25 scores agree with the SQLite backend to the last bit. Thread-safe (one lock).
    """

    def __init__(self, tokenizer: str = FTS5_TOKENIZER):
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize={_sql_string(tokenizer)})")
        self._db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self._lock = threading.Lock()

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """The token list of each text."""
        out: list[list[str]] = [[] for _ in texts]
        if not texts:
            return out
        with self._lock:
            self._db.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", [(i + 1, t) for i, t in enumerate(texts)])
            for doc, term in self._db.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
                out[doc - 1].append(term)
            self._db.execute("DELETE FROM t")
        return out


def _query_words(text: str) -> list[str]:
    """The words a keyword search looks for: the SQLite backend's definition, so both agree."""
    query_terms = getattr(_sqlite, "query_terms", None)
    if query_terms is not None:
        return query_terms(text)
    return list(dict.fromkeys(re.findall(r"\w+", text.lower())))


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_TOKENIZER: Fts5Tokenizer | None = None
_TOKENIZER_LOCK = threading.Lock()


def tokenizer() -> Fts5Tokenizer:
    """The process-wide :class:`Fts5Tokenizer`."""
    global _TOKENIZER
    with _TOKENIZER_LOCK:
        if _TOKENIZER is None:
            _TOKENIZER = Fts5Tokenizer()
        return _TOKENIZER


def bm25_rank(candidates: list[Any], n_phrases: int, rows: int, tokens: int,
              weights: Sequence[float]) -> list[tuple[float, Any]]:
    """``(rank, id)`` for each candidate, computed exactly as SQLite FTS5's ``bm25()`` does.

    ``candidates`` are records with ``id``, ``n_terms`` (the row's token count over all columns)
    and ``freqs`` (per column, per phrase: occurrences); ``rows``/``tokens`` are the table's
    totals; ``weights`` the column weights. Lower rank is better (FTS5's convention); the same
    floating-point operations in the same order as fts5_aux.c, so ties and scores match.
    """
    if not candidates or rows <= 0:
        return []
    avgdl = float(tokens) / float(rows)
    idf: list[float] = []
    for i in range(n_phrases):
        hits = sum(1 for c in candidates if any(col[i] for col in c["freqs"]))
        x = math.log((rows - hits + 0.5) / (hits + 0.5))
        idf.append(x if x > 0.0 else 1e-6)
    ranked = []
    for c in candidates:
        d = float(c["n_terms"] or 0)
        score = 0.0
        for i in range(n_phrases):
            freq = 0.0
            for w, col in zip(weights, c["freqs"]):
                freq += w * col[i]
            score += idf[i] * ((freq * (_BM25_K1 + 1.0)) / (freq + _BM25_K1 * (1 - _BM25_B + _BM25_B * d / avgdl)))
        ranked.append((-1.0 * score, c["id"]))
    ranked.sort()
    return ranked


def _document_terms(document: dict[str, Any], sentences: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """FTS5 tokens of a document's title and body, as the SQLite backend's documents_fts holds them
    (the body is the text of the sentences after the title)."""
    title = document.get("title") or ""
    title_end = len(title) + 1 if title else 0
    body = " ".join(s["text"] for s in sentences if s["start"] >= title_end)
    title_tokens, body_tokens = tokenizer().tokenize([title, body])
    return {"title_terms": " ".join(title_tokens), "text_terms": " ".join(body_tokens),
            "n_terms": len(title_tokens) + len(body_tokens)}


class Neo4jGraphStore:
    """The graph store on a Neo4j server.

    Args:
        driver: a ``neo4j.Driver`` (injected; use :meth:`connect` to make one from a URI).
        database: database name (``None``: the server's default database).
        uri: the server URI, used in error messages only (defaults to the driver's address).
        owns_driver: close the driver in :meth:`close` (true when :meth:`connect` made it).

    Thread-safe as far as the driver is: each call uses its own session.
    """

    def __init__(self, driver: Any, *, database: str | None = None, uri: str | None = None,
                 owns_driver: bool = False, retry_seconds: float = DEFAULT_RETRY_SECONDS):
        if _IMPORT_ERROR is not None:  # pragma: no cover
            raise BackendUnavailable("The neo4j Python driver is not installed: pip install neo4j") from _IMPORT_ERROR
        self._driver = driver
        self._database = database
        self._owns_driver = owns_driver
        self._retry_seconds = retry_seconds
        self.uri = uri or self._driver_address(driver)

    @staticmethod
    def _driver_address(driver: Any) -> str:
        try:
            host, port = driver.get_server_info().address[:2]  # pragma: no cover - needs a server
            return f"bolt://{host}:{port}"
        except Exception:
            return "the Neo4j server"

    @classmethod
    def connect(cls, uri: str | None = None, user: str | None = None, password: str | None = None, *,
                database: str | None = None, max_transaction_retry_time: float = DEFAULT_RETRY_SECONDS,
                connection_timeout: float = 10.0, ensure_schema: bool = True) -> "Neo4jGraphStore":
        """Connect to a server, check the connection and credentials, create the schema.

        Missing arguments come from ``NEO4J_URI`` / ``NEO4J_USER`` / ``NEO4J_PASSWORD``
        (``NEO4J_DATABASE`` for the database), then ``bolt://127.0.0.1:7687`` and ``neo4j``.

        Raises:
            ConfigError: the URI is malformed.
            BackendUnavailable: the server cannot be reached, or rejects the credentials.
        """
        if _IMPORT_ERROR is not None:  # pragma: no cover
            raise BackendUnavailable("The neo4j Python driver is not installed: pip install neo4j") from _IMPORT_ERROR
        uri = uri or os.environ.get("NEO4J_URI") or DEFAULT_URI
        user = user or os.environ.get("NEO4J_USER") or DEFAULT_USER
        if password is None:
            password = os.environ.get("NEO4J_PASSWORD", "")
        database = database or os.environ.get("NEO4J_DATABASE") or None
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        if scheme not in BOLT_SCHEMES:
            known = ", ".join(s + "://" for s in BOLT_SCHEMES)
            raise ConfigError(f"Invalid Neo4j URI {uri!r}: expected one of {known}")
        try:
            driver = neo4j.GraphDatabase.driver(
                uri, auth=(user, password), max_transaction_retry_time=max_transaction_retry_time,
                connection_timeout=connection_timeout, notifications_min_severity="OFF",
            )
        except (neo4j_exc.ConfigurationError, ValueError) as e:
            raise ConfigError(f"Invalid Neo4j URI {uri!r}: {_one_line(e)}") from e
        try:
            driver.verify_connectivity()
        except neo4j_exc.AuthError as e:
            driver.close()
            hint = "NEO4J_PASSWORD is not set" if not password else "check NEO4J_USER / NEO4J_PASSWORD"
            raise BackendUnavailable(f"Neo4j at {uri}: authentication failed for user {user!r} ({hint})") from e
        except (neo4j_exc.ServiceUnavailable, neo4j_exc.SessionExpired, OSError) as e:
            driver.close()
            raise BackendUnavailable(
                f"Cannot reach Neo4j at {uri}: {_one_line(e)} (is it running? scripts/neo4j.sh start)"
            ) from e
        except neo4j_exc.Neo4jError as e:
            driver.close()
            raise BackendUnavailable(f"Neo4j at {uri} refused the connection: {_one_line(e.message or e)}") from e
        except neo4j_exc.DriverError as e:
            driver.close()
            raise BackendUnavailable(f"Cannot use Neo4j at {uri}: {_one_line(e)}") from e
        store = cls(driver, database=database, uri=uri, owns_driver=True, retry_seconds=max_transaction_retry_time)
        if ensure_schema:
            try:
                store.ensure_schema()
            except Exception:
                store.close()
                raise
        return store

    def __repr__(self) -> str:
        return f"Neo4jGraphStore({self.uri!r})"

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate driver errors into medkg errors with a one-line message naming the URI."""
        try:
            yield
        except neo4j_exc.AuthError as e:
            raise BackendUnavailable(f"Neo4j at {self.uri}: authentication failed while trying to {action}") from e
        except (neo4j_exc.ServiceUnavailable, neo4j_exc.SessionExpired) as e:
            raise BackendUnavailable(
                f"Neo4j at {self.uri} is unavailable (tried to {action}, retries exhausted): {_one_line(e)}"
            ) from e
        except neo4j_exc.ConstraintError as e:
            raise GraphStoreError(
                f"Neo4j at {self.uri}: constraint violated while trying to {action}: {_one_line(e.message or e)}"
            ) from e
        except neo4j_exc.Neo4jError as e:
            raise GraphStoreError(
                f"Neo4j at {self.uri}: failed to {action}: {_one_line(e.message or e)} [{e.code}]"
            ) from e
        except neo4j_exc.DriverError as e:
            raise GraphStoreError(f"Neo4j at {self.uri}: failed to {action}: {_one_line(e)}") from e

    def _session(self, write: bool = False):
        return self._driver.session(
            database=self._database,
            default_access_mode=neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS,
            notifications_min_severity="OFF",
        )

    def _read(self, cypher: str, action: str, /, **params: Any) -> list[Any]:
        """Run a read query in a managed (retried) transaction and return its records."""

        def work(tx):
            return list(tx.run(cypher, params))

        with self._errors(action), self._session() as session:
            return session.execute_read(work)

    def _write_tx(self, work: Callable[..., T], action: str, *args: Any) -> T:
        """Run ``work`` in a managed write transaction and make sure the server committed it.

        A server that shuts down while a transaction is open can leave a bare ``SUCCESS {}`` in
        the socket; the driver (6.4) takes it for the COMMIT reply and returns normally although
        nothing was committed (seen with ``scripts/neo4j.sh stop`` during a write: the batch was
        missing after the restart while ingest had counted it and indexed its sentences). A real
        commit always returns a bookmark, so a commit without one is treated like a lost
        connection: ``work`` decides what to write from what it reads, so it is run again (the
        driver waits for the server within the retry window), or the write fails cleanly.
        """
        deadline = None
        while True:
            with self._errors(action), self._session(write=True) as session:
                result = session.execute_write(work, *args)
                confirmed = bool(session.last_bookmarks())
            if confirmed:
                return result
            deadline = deadline or time.monotonic() + self._retry_seconds
            if time.monotonic() >= deadline:
                raise BackendUnavailable(
                    f"Neo4j at {self.uri} is unavailable (tried to {action}: the server did not confirm the commit)")
            time.sleep(0.5)

    # ------------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        """Create the constraints and indexes if missing (idempotent) and wait until they are online."""
        with self._errors("create the schema"), self._session(write=True) as session:
            for statement in Q.SCHEMA:
                session.run(statement).consume()
            session.run(Q.AWAIT_INDEXES, seconds=120).consume()
            legacy = session.run(Q.INDEX_EXISTS, name=Q.LEGACY_FULLTEXT_INDEX).single()["found"]
        if legacy:
            self._backfill_terms()
            with self._errors("drop the old full-text index"), self._session(write=True) as session:
                session.run(Q.DROP_LEGACY_INDEX).consume()

    def _backfill_terms(self, batch: int = 2000) -> None:
        """Give sentences and documents stored by earlier versions their FTS5 tokens."""
        while True:
            rows = self._read(Q.SENTENCES_WITHOUT_TERMS, "find sentences to index", limit=batch)
            if not rows:
                break
            tokens = tokenizer().tokenize([r["text"] for r in rows])
            update = [{"uid": r["uid"], "terms": " ".join(t), "n_terms": len(t)} for r, t in zip(rows, tokens)]
            self._write_tx(lambda tx: tx.run(Q.SET_SENTENCE_TERMS, rows=update).consume(), "index sentences")
        while True:
            rows = self._read(Q.DOCUMENTS_WITHOUT_TERMS, "find documents to index", limit=batch)
            if not rows:
                break
            update = [{"id": r["id"], **_document_terms({"title": r["title"]}, r["sentences"])} for r in rows]
            self._write_tx(lambda tx: tx.run(Q.SET_DOCUMENT_TERMS, rows=update).consume(), "index documents")

    # ------------------------------------------------------------------ writes
    def write(self, batch: Sequence[Extraction]) -> WriteStats:
        """Store a batch of extractions in one transaction (see :class:`kg.store.GraphStore`)."""
        if not batch:
            return WriteStats()
        return self._write_tx(self._write_batch, f"write {len(batch)} documents", list(batch))

    @staticmethod
    def _write_batch(tx, batch: list[Extraction]) -> WriteStats:
        # Runs inside a managed transaction and may be retried: build everything afresh.
        stats = WriteStats()
        ids = list(dict.fromkeys(ex.document.id for ex in batch))
        hashes = {r["id"]: r["content_hash"] for r in tx.run(Q.LOCK_DOCUMENTS, ids=ids)
                  if r["content_hash"] is not None}
        # Same decisions as SQLiteGraphStore.write, in batch order. A document's current version is
        # either the stored one (until replaced) or one pending from earlier in this batch.
        seen: dict[str, str] = {}
        pending: dict[str, DocumentRows] = {}
        stored = set(hashes)
        to_delete: list[str] = []
        removed: list[str | list[int]] = []  # a doc id (stored version, uids known after delete) or uids
        edge_keys: set[tuple[str, str, str]] = set()
        concept_ids: set[str] = set()
        for ex in batch:
            doc = ex.document
            h = doc.content_hash
            if hashes.get(doc.id) == h or seen.get(doc.id) == h:
                stats.unchanged += 1
                continue
            if doc.id in hashes or doc.id in seen:
                if doc.id in pending:
                    old = pending.pop(doc.id)
                    removed.append([s["uid"] for s in old.sentences])
                elif doc.id in stored:
                    stored.discard(doc.id)
                    to_delete.append(doc.id)
                    removed.append(doc.id)
                stats.replaced += 1
            rows = document_rows(ex)
            pending[doc.id] = rows
            seen[doc.id] = h
            edge_keys |= rows.edge_keys
            concept_ids |= set(rows.concepts)
            stats.documents += 1
            stats.sentences += len(rows.sentences)
            stats.mentions += len(rows.mentions)
            stats.evidence += len(rows.evidence)

        deleted_uids: dict[str, list[int]] = {}
        if to_delete:
            uids, keys, cids = _delete_documents(tx, to_delete)
            deleted_uids = uids
            edge_keys |= keys
            concept_ids |= cids
        for item in removed:
            stats.removed_uids.extend(deleted_uids.get(item, []) if isinstance(item, str) else item)

        _insert(tx, list(pending.values()))
        _recompute(tx, edge_keys, concept_ids)
        return stats

    def remove_documents(self, doc_ids: Sequence[str]) -> list[int]:
        """Remove documents and everything derived from them; returns the removed sentence uids."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return []

        def work(tx) -> list[int]:
            uids, keys, cids = _delete_documents(tx, ids)
            _recompute(tx, keys, cids)
            return [u for doc_id in ids for u in uids.get(doc_id, [])]

        return self._write_tx(work, f"remove {len(ids)} documents")

    def clear(self) -> None:
        """Delete every node and relationship (constraints and indexes stay). For tests and resets."""
        with self._errors("clear the database"), self._session(write=True) as session:
            session.run(Q.DELETE_ALL).consume()

    # ------------------------------------------------------------------ reads
    def document_hashes(self, doc_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(doc_ids))
        out: dict[str, str] = {}
        for chunk in _chunks(ids):
            out.update({r["id"]: r["content_hash"]
                        for r in self._read(Q.DOCUMENT_HASHES, "read document hashes", ids=list(chunk))})
        return out

    def concept(self, concept_id: str) -> Concept | None:
        rows = self._read(Q.CONCEPT_BY_ID, "look up a concept", id=concept_id)
        return _concept(rows[0]["concept"]) if rows else None

    def find_concepts(self, text: str, limit: int = 10) -> list[Concept]:
        norm = _normalize_name(text)
        if not norm:
            return []
        rows = self._read(Q.FIND_CONCEPTS, "find concepts", id=text.strip(), norm=norm,
                          limit=_limit(limit))
        return [_concept(r["concept"]) for r in rows]

    def facts(
        self,
        concept_id: str,
        predicates: Sequence[str] | None = None,
        *,
        direction: str = "both",
        other_id: str | None = None,
        other_type: str | None = None,
        include_negated: bool = False,
        limit: int = 50,
        evidence_limit: int = 5,
    ) -> list[Fact]:
        preds = fact_predicates(direction, predicates)
        if not preds:
            return []
        rows = self._read(
            Q.FACTS, "read facts", id=concept_id, predicates=preds, direction=direction, other_id=other_id,
            other_type=other_type, include_negated=bool(include_negated), limit=_limit(limit),
            evidence_limit=_limit(evidence_limit),
        )
        return [_fact(r) for r in rows]

    def _neighbours(self, concept_id: str) -> list[str]:
        return [r["other"] for r in self._read(Q.NEIGHBOURS, "find paths", id=concept_id, cap=_NEIGHBOUR_CAP)]

    def paths(self, source_id: str, target_id: str, max_hops: int = 3, limit: int = 10) -> list[Path]:
        chains = shortest_chains(source_id, target_id, self._neighbours, max_hops=max_hops, limit=limit)
        return [Path(hops=[self._hop(a, b) for a, b in zip(chain, chain[1:])]) for chain in chains]

    def _hop(self, a: str, b: str) -> Fact:
        return self.facts(a, other_id=b, limit=1, evidence_limit=3)[0]

    def _phrases(self, query: str) -> list[list[str]]:
        # SQLite quotes each query word as an FTS5 phrase: the word's tokens, in order.
        words = _query_words(query)
        return [p for p in tokenizer().tokenize(words) if p]

    def keyword_search(self, query: str, k: int = 10) -> list[Passage]:
        """Full-text BM25 search over sentences: the SQLite backend's results and scores exactly.

        User text is searched as plain words (see :func:`kg.neo4j_queries.phrase_query`).
        """
        phrases = self._phrases(query)
        q = Q.phrase_query(phrases)
        if q is None or k <= 0:
            return []
        found = self._read(Q.SENTENCE_SEARCH, "search sentences", query=q, phrases=phrases)[0]
        ranked = bm25_rank(found["candidates"], len(phrases), found["rows"], found["tokens"], (1.0,))[:k]
        by_uid = {p.uid: p for p in self.passages([uid for _, uid in ranked])}
        out = []
        for rank, uid in ranked:
            p = by_uid.get(uid)
            if p is not None:
                p.score = -float(rank)
                out.append(p)
        return out

    # Weight of a title word in the document search: the SQLite backend's.
    TITLE_WEIGHT = getattr(_sqlite.SQLiteGraphStore, "TITLE_WEIGHT", 2.0)

    def keyword_search_documents(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """Full-text BM25 search over whole documents (title and text): ``[(doc_id, score)]``, best
        first; the SQLite backend's results and scores exactly."""
        phrases = self._phrases(query)
        q = Q.phrase_query(phrases)
        if q is None or k <= 0:
            return []
        found = self._read(Q.DOCUMENT_SEARCH, "search documents", query=q, phrases=phrases)[0]
        weights = (float(self.TITLE_WEIGHT), 1.0)
        ranked = bm25_rank(found["candidates"], len(phrases), found["rows"], found["tokens"], weights)[:k]
        return [(doc_id, -float(rank)) for rank, doc_id in ranked]

    def passages(self, uids: Sequence[int]) -> list[Passage]:
        ids = [int(u) for u in uids]
        found: dict[int, Passage] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            for r in self._read(Q.PASSAGES, "read passages", uids=list(chunk)):
                found[r["uid"]] = _passage(r)
        return [found[u] for u in ids if u in found]

    def sentence_uids(self) -> list[int]:
        return [r["uid"] for r in self._read(Q.SENTENCE_UIDS, "list sentence uids")]

    def stats(self) -> GraphStats:
        row = self._read(Q.STATS, "count the graph")[0]
        by_pred = {r["predicate"]: r["n"] for r in self._read(Q.EDGE_COUNTS, "count edges") if r["n"]}
        return GraphStats(documents=row["documents"], sentences=row["sentences"], mentions=row["mentions"],
                          concepts=row["concepts"], edges=sum(by_pred.values()), evidence=row["evidence"],
                          edges_by_predicate=dict(sorted(by_pred.items())))

    def close(self) -> None:
        if self._owns_driver:
            self._driver.close()

    def __enter__(self) -> "Neo4jGraphStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------- transaction helpers
def _delete_documents(tx, doc_ids: Sequence[str]):
    """Delete documents inside ``tx``; returns (uids by doc id, edge keys, concept ids) they touched."""
    uids: dict[str, list[int]] = {}
    keys: set[tuple[str, str, str]] = set()
    cids: set[str] = set()
    for chunk in _chunks(list(doc_ids), 500):
        for r in tx.run(Q.DELETE_DOCUMENTS, ids=list(chunk)):
            uids[r["id"]] = list(r["uids"])
            keys |= {tuple(k) for k in r["keys"]}
            cids |= set(r["concept_ids"])
    return uids, keys, cids


def insert_plan(docs: Sequence[DocumentRows]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The ``(statement, rows)`` pairs that store new documents, in dependency order.

    Each statement takes ``$rows`` (``UNWIND $rows AS row``); the store sends them in chunks of
    :data:`CHUNK` rows (``bench/neo4j_write.py`` also sends them one row at a time, to compare).
    """
    concepts: dict[str, dict[str, Any]] = {}
    documents: list[dict[str, Any]] = []
    sentences: list[dict[str, Any]] = []
    mentions: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    all_sentences = [s for rows in docs for s in rows.sentences]
    tokens = tokenizer().tokenize([s["text"] for s in all_sentences])
    sentences = [{**s, "terms": " ".join(t), "n_terms": len(t)} for s, t in zip(all_sentences, tokens)]
    for rows in docs:
        documents.append({**rows.document, **_document_terms(rows.document, rows.sentences)})
        for cid, c in rows.concepts.items():
            concepts.setdefault(cid, c)
        for m in rows.mentions:
            c = rows.concepts[m["concept_id"]]
            props = {k: m[k] for k in ("start", "end", "text", "label", "score", *_FLAGS)}
            # The document's name for the concept, as SQLite's mentions table keeps it.
            props["concept_name"] = c["name"]
            props["vocab"] = c["vocab"]
            mentions.append({"sentence_uid": m["sentence_uid"], "concept_id": m["concept_id"], **props})
        evidence += rows.evidence
    return [
        (Q.MERGE_DOCUMENTS, documents),
        (Q.MERGE_SENTENCES, sentences),
        (Q.MERGE_CONCEPTS, list(concepts.values())),
        (Q.CREATE_MENTIONS, mentions),
        (Q.MERGE_EVIDENCE, evidence),
    ]


def recompute_plan(edge_keys: set[tuple[str, str, str]],
                   concept_ids: set[str]) -> list[tuple[str, dict[str, Any], str, list[Any]]]:
    """The ``(statement, fixed params, list param, items)`` steps that recompute derived data.

    Edges come first: a concept with no mention left carries no evidence, and is deleted after.
    """
    by_pred: dict[str, list[list[str]]] = {}
    for s, p, o in sorted(edge_keys):
        by_pred.setdefault(p, []).append([s, o])
    plan: list[tuple[str, dict[str, Any], str, list[Any]]] = []
    for predicate, keys in by_pred.items():
        statement = Q.EDGE_RECOMPUTE.get(predicate)
        if statement is None:  # stored evidence with a predicate no longer in the schema
            raise GraphStoreError(f"Evidence with unknown predicate {predicate!r}. Available: {', '.join(PREDICATES)}")
        plan.append((statement, {"predicate": predicate}, "keys", keys))
    ids = sorted(concept_ids)
    plan.append((Q.DELETE_UNMENTIONED_CONCEPTS, {}, "ids", ids))
    plan.append((Q.CONCEPT_RECOMPUTE, {}, "ids", ids))
    return plan


def _insert(tx, docs: list[DocumentRows]) -> None:
    if not docs:
        return
    for statement, rows in insert_plan(docs):
        for chunk in _chunks(rows):
            tx.run(statement, rows=list(chunk)).consume()


def _recompute(tx, edge_keys: set[tuple[str, str, str]], concept_ids: set[str]) -> None:
    """Recompute the derived edges and concept aggregates touched by a change."""
    for statement, fixed, param, items in recompute_plan(edge_keys, concept_ids):
        for chunk in _chunks(items):
            tx.run(statement, {**fixed, param: list(chunk)}).consume()


# ---------------------------------------------------------------------------- record -> model
def _limit(n: int) -> int:
    # SQLite treats a negative LIMIT as "no limit"; Cypher rejects it.
    return _NO_LIMIT if n < 0 else int(n)


def _concept(m: dict[str, Any]) -> Concept:
    return Concept(id=m["id"], name=m.get("name") or "", type=m.get("type") or "", vocab=m.get("vocab") or "",
                   synonyms=list(m.get("synonyms") or []), mentions=int(m.get("mentions") or 0),
                   documents=int(m.get("documents") or 0))


def _fact(r: Any) -> Fact:
    edge = r["edge"]
    evidence = [
        Evidence(sentence_id=e["sentence_id"], doc_id=e["doc_id"], text=e["text"], start=e["start"], end=e["end"],
                 year=e["year"], title=e["title"] or "", confidence=e["confidence"], trigger=e["trigger"] or "",
                 **{f: bool(e[f]) for f in _FLAGS})
        for e in r["evidence"]
    ]
    return Fact(subject=_concept(r["subject"]), predicate=r["predicate"], object=_concept(r["object"]),
                support=edge["support"], contradicting=edge["contradicting"], uncertain=edge["uncertain"],
                documents=edge["documents"], first_year=edge["first_year"], last_year=edge["last_year"],
                evidence=evidence)


def _passage(r: Any, score: float = 0.0) -> Passage:
    return Passage(sentence_id=r["sentence_id"], uid=r["uid"], doc_id=r["doc_id"], text=r["text"], score=score,
                   title=r["title"] or "", year=r["year"], start=r["start"], end=r["end"])

