"""``SQLiteGraphStore``: the embedded default graph backend (one file, WAL, FTS5 over sentences).

Tables mirror the graph model of :mod:`kg.schema`. The aggregated tables (``edges``,
``concepts``, ``concept_names``) are *derived*: after every write or removal they are
recomputed from ``evidence`` / ``mentions`` for the keys that the change touched, inside the
same transaction, so counts can never drift from the evidence a fact lists.

Writes go through one connection; reads of a file database use one read-only connection per
thread, so a query engine's keyword search and graph facts run side by side (WAL readers do
not block each other or the writer, and ``sqlite3`` releases the GIL while SQLite works).
"""
from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
import sqlite3
import threading
from pathlib import Path as FsPath
from typing import Any, Iterable, Sequence

from kg.model import Concept, Evidence, Fact, GraphStats, Passage, Path, WriteStats
from kg.paths import shortest_chains
from kg.store import fact_predicates
from kg.rows import document_rows
from kg.schema import PREDICATES
from nlp.errors import GraphStoreError
from nlp.extraction import Extraction, stable_id63

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '', year INTEGER, journal TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sentences (
    uid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL REFERENCES documents(id),
    idx INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL,
    section TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS sentences_fts USING fts5(
    text, content='sentences', content_rowid='uid', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS sentences_ai AFTER INSERT ON sentences BEGIN
    INSERT INTO sentences_fts(rowid, text) VALUES (new.uid, new.text); END;
CREATE TRIGGER IF NOT EXISTS sentences_ad AFTER DELETE ON sentences BEGIN
    INSERT INTO sentences_fts(sentences_fts, rowid, text) VALUES ('delete', old.uid, old.text); END;
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(
    doc_id UNINDEXED, title, text, tokenize='porter unicode61');
CREATE TABLE IF NOT EXISTS mentions (
    id INTEGER PRIMARY KEY, sentence_uid INTEGER NOT NULL, doc_id TEXT NOT NULL, concept_id TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL, label TEXT NOT NULL,
    score REAL NOT NULL, negated INTEGER NOT NULL, uncertain INTEGER NOT NULL, historical INTEGER NOT NULL,
    hypothetical INTEGER NOT NULL, family INTEGER NOT NULL, concept_name TEXT NOT NULL DEFAULT '',
    vocab TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS mentions_doc ON mentions(doc_id);
CREATE INDEX IF NOT EXISTS mentions_concept ON mentions(concept_id);
CREATE TABLE IF NOT EXISTS evidence (
    id TEXT PRIMARY KEY, predicate TEXT NOT NULL, subject_id TEXT NOT NULL, object_id TEXT NOT NULL,
    doc_id TEXT NOT NULL, sentence_id TEXT NOT NULL, sentence_uid INTEGER NOT NULL, confidence REAL NOT NULL,
    trigger TEXT NOT NULL, method TEXT NOT NULL, year INTEGER, negated INTEGER NOT NULL,
    uncertain INTEGER NOT NULL, historical INTEGER NOT NULL, hypothetical INTEGER NOT NULL,
    family INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS evidence_spo ON evidence(subject_id, predicate, object_id);
-- A fact's evidence in the order facts() lists it: its top k rows are read from the index
-- instead of sorting all of an edge's evidence (thousands of rows for a common fact).
CREATE INDEX IF NOT EXISTS evidence_rank ON evidence(subject_id, predicate, object_id, negated, uncertain,
                                                     confidence DESC, year DESC, doc_id);
CREATE INDEX IF NOT EXISTS evidence_doc ON evidence(doc_id);
CREATE TABLE IF NOT EXISTS edges (
    subject_id TEXT NOT NULL, predicate TEXT NOT NULL, object_id TEXT NOT NULL,
    support INTEGER NOT NULL, contradicting INTEGER NOT NULL, uncertain INTEGER NOT NULL,
    documents INTEGER NOT NULL, first_year INTEGER, last_year INTEGER,
    PRIMARY KEY (subject_id, predicate, object_id));
CREATE INDEX IF NOT EXISTS edges_object ON edges(object_id, predicate);
CREATE TABLE IF NOT EXISTS concepts (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, vocab TEXT NOT NULL,
    mentions INTEGER NOT NULL, documents INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS concept_names (
    concept_id TEXT NOT NULL, name TEXT NOT NULL, norm TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (concept_id, norm));
CREATE INDEX IF NOT EXISTS concept_names_norm ON concept_names(norm);
"""

# Derived tables, recomputed per affected key (see module docstring).
_EDGE_RECOMPUTE = """
INSERT INTO edges (subject_id, predicate, object_id, support, contradicting, uncertain, documents,
                   first_year, last_year)
SELECT subject_id, predicate, object_id,
       SUM(negated = 0 AND uncertain = 0), SUM(negated), SUM(negated = 0 AND uncertain = 1),
       COUNT(DISTINCT CASE WHEN negated = 0 AND uncertain = 0 THEN doc_id END),
       MIN(CASE WHEN negated = 0 THEN year END), MAX(CASE WHEN negated = 0 THEN year END)
FROM evidence WHERE subject_id = ? AND predicate = ? AND object_id = ?
GROUP BY subject_id, predicate, object_id
"""
_CONCEPT_RECOMPUTE = """
INSERT INTO concepts (id, name, type, vocab, mentions, documents)
SELECT m.concept_id,
       (SELECT CASE WHEN concept_name != '' THEN concept_name ELSE text END FROM mentions
        WHERE concept_id = m.concept_id GROUP BY 1 ORDER BY COUNT(*) DESC, 1 LIMIT 1),
       (SELECT label FROM mentions WHERE concept_id = m.concept_id GROUP BY label
        ORDER BY COUNT(*) DESC, label LIMIT 1),
       (SELECT vocab FROM mentions WHERE concept_id = m.concept_id GROUP BY vocab
        ORDER BY COUNT(*) DESC, vocab LIMIT 1),
       COUNT(*), COUNT(DISTINCT m.doc_id)
FROM mentions m WHERE m.concept_id = ? GROUP BY m.concept_id
"""
_NAMES_RECOMPUTE = """
INSERT INTO concept_names (concept_id, name, norm, count)
SELECT concept_id, MIN(name), norm, SUM(c) FROM (
    SELECT concept_id, text AS name, lower(text) AS norm, 1 AS c FROM mentions WHERE concept_id = ?1
    UNION ALL
    SELECT concept_id, concept_name, lower(concept_name), 0 FROM mentions
    WHERE concept_id = ?1 AND concept_name != '')
GROUP BY concept_id, norm
"""

_FLAGS = ("negated", "uncertain", "historical", "hypothetical", "family")


def normalize_name(text: str) -> str:
    """Lower-case, collapse whitespace: how concept names are compared in lookups."""
    return re.sub(r"\s+", " ", text).strip().lower()


# English function words and question words: in an OR-query they match most rows and only add
# noise (and time) to BM25. Lucene's English analyzer, which the Neo4j backend uses, drops the
# first line's words too.
STOP_WORDS = frozenset("""
a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to
was will with what which who whom whose how why when where does do did doing can could may might must shall should
would has have had having been being were am i me my we our you your he him his she her its them those than too very
s t just so also about from up down out over under again further once here any both each few more most other some own
same only nor off all vs via versus between among after before during while through per based
""".split())


def query_terms(text: str) -> list[str]:
    """The words of ``text`` a keyword search looks for: ``\\w+`` runs, lower-cased, stop words
    left out (a query of stop words only finds nothing, as with Lucene's analyzer).

    A word given twice is kept twice: each occurrence is a BM25 phrase, so it counts twice (query
    term frequency; query expansion uses this to weigh the user's words above added ones).
    """
    return [w for w in re.findall(r"\w+", text.lower()) if w not in STOP_WORDS]


def fts_query(text: str) -> str | None:
    """Turn free user text into a safe FTS5 query: each word quoted, OR-ed (BM25 ranks them).

    Quoting makes every FTS5 operator and quote character in the user's text plain text.
    Stop words are left out (see :func:`query_terms`).
    """
    words = query_terms(text)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def budget_plan(words: Sequence[str], rows: dict[str, int], budget: int) -> tuple[list[str], list[str]]:
    """Which query words a keyword search matches alone and which only together (all of them).

    ``rows`` is the number of rows each word occurs in. When they add up to at most ``budget``
    every word matches alone (the plain OR query). Otherwise words are taken rarest first while
    their counts add up to at most ``budget`` and match alone; the remaining, frequent words only
    match a row that holds all of them (nothing, if only one is left and some word matches alone).
    Rows holding only some frequent words are skipped: their scores are the lowest (frequent words
    have the smallest IDF), and scoring them is what makes a common word cost ~0.1 s in 1M sentences.
    (FTS5 counts a word's BM25 term only in the OR branches a row matches, so a row found that holds
    an alone word and only some of the frequent ones scores a little below its plain-OR score.)
    Backends share this rule so their results agree. Returns ``(alone, together)``.
    """
    words = list(words)
    distinct = list(dict.fromkeys(words))
    if sum(rows.get(w, 0) for w in distinct) <= budget:
        return words, []
    alone: set[str] = set()
    total = 0
    for w in sorted(distinct, key=lambda w: (rows.get(w, 0), w)):
        if total + rows.get(w, 0) > budget:
            break
        alone.add(w)
        total += rows.get(w, 0)
    rest = [w for w in words if w not in alone]
    if len(set(rest)) >= 2:
        return [w for w in words if w in alone], rest
    if not alone:
        return rest, []  # one frequent word and nothing else: it has to be searched
    return [w for w in words if w in alone], []


def document_rowid(doc_id: str) -> int:
    """The ``documents_fts`` rowid of a document: a stable 63-bit hash of its id."""
    return stable_id63("doc:" + doc_id)


class SQLiteGraphStore:
    """The embedded graph store.

    Args:
        path: database file (created with its parent directory if missing), or ``":memory:"``.

    Thread-safe: one connection guarded by a lock (SQLite serialises writers anyway).
    """

    def __init__(self, path: str | FsPath):
        self.path = str(path)
        if self.path != ":memory:":
            FsPath(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        except sqlite3.Error as e:
            raise GraphStoreError(f"Cannot open graph database {self.path}: {e}") from e
        self._lock = threading.RLock()
        self._local = threading.local()  # this thread's read connection and its row-count cache
        self._readers: list[sqlite3.Connection] = []
        self._generation = 0  # bumped by every write of this object: read caches compare it
        self._closed = False
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise GraphStoreError(f"{self.path} is not a medkg graph database: {e}") from e
        self.ensure_schema()

    def __repr__(self) -> str:
        return f"SQLiteGraphStore({self.path!r})"

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's read-only connection, or None for an in-memory database (one connection)."""
        db = getattr(self._local, "db", None)
        if db is None:
            if self.path == ":memory:" or self.path.startswith("file:") or self._closed:
                return None
            try:
                db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA busy_timeout=30000")
                db.execute("PRAGMA query_only=1")
                # 64 MiB of page cache (default 2 MiB): full-text queries on a large store re-read
                # the same doclist pages; -13% CPU per keyword search on 1M sentences
                db.execute("PRAGMA cache_size=-65536")
            except sqlite3.Error as e:
                raise GraphStoreError(f"Cannot open graph database {self.path}: {e}") from e
            with self._lock:
                self._readers.append(db)
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _reading(self):
        """A connection to read from: this thread's reader, else the main one under the lock."""
        db = self._reader()
        if db is not None:
            yield db
            return
        with self._lock:
            yield self._db

    # ------------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        with self._lock:
            try:
                self._db.executescript(_DDL)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                if not self._db.execute("SELECT 1 FROM meta WHERE key = 'documents_fts'").fetchone():
                    self._backfill_documents_fts()
            except sqlite3.DatabaseError as e:
                raise GraphStoreError(f"{self.path} is not a medkg graph database: {e}") from e

    def _backfill_documents_fts(self) -> None:
        """Fill the document full-text table from stored sentences (databases made before it existed)."""
        with self._transaction() as db:
            db.execute("DELETE FROM documents_fts")
            for doc_id, title in db.execute("SELECT id, title FROM documents").fetchall():
                body = [r[0] for r in db.execute(
                    "SELECT text FROM sentences WHERE doc_id = ? AND start >= ? ORDER BY idx",
                    (doc_id, len(title) + 1 if title else 0))]
                db.execute("INSERT INTO documents_fts (rowid, doc_id, title, text) VALUES (?,?,?,?)",
                           (document_rowid(doc_id), doc_id, title, " ".join(body)))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('documents_fts', '1')")

    # ------------------------------------------------------------------ writes
    def write(self, batch: Sequence[Extraction]) -> WriteStats:
        stats = WriteStats()
        if not batch:
            return stats
        with self._lock, self._transaction() as db:
            edge_keys: set[tuple[str, str, str]] = set()
            concept_ids: set[str] = set()
            hashes = self._hashes(db, [ex.document.id for ex in batch])
            seen: dict[str, str] = {}
            for ex in batch:
                doc = ex.document
                h = doc.content_hash
                if hashes.get(doc.id) == h or seen.get(doc.id) == h:
                    stats.unchanged += 1
                    continue
                if doc.id in hashes or doc.id in seen:
                    uids, keys, cids = self._delete_documents(db, [doc.id])
                    stats.removed_uids.extend(uids)
                    edge_keys |= keys
                    concept_ids |= cids
                    stats.replaced += 1
                rows = document_rows(ex)
                self._insert(db, rows)
                seen[doc.id] = h
                edge_keys |= rows.edge_keys
                concept_ids |= set(rows.concepts)
                stats.documents += 1
                stats.sentences += len(rows.sentences)
                stats.mentions += len(rows.mentions)
                stats.evidence += len(rows.evidence)
            self._recompute(db, edge_keys, concept_ids)
        self._generation += 1  # after the commit: row counts cached by readers are stale
        return stats

    def _insert(self, db: sqlite3.Connection, rows) -> None:
        d = rows.document
        db.execute(
            "INSERT INTO documents (id, title, source, kind, year, journal, content_hash) VALUES (?,?,?,?,?,?,?)",
            (d["id"], d["title"], d["source"], d["kind"], d["year"], d["journal"], d["content_hash"]),
        )
        db.executemany(
            'INSERT INTO sentences (uid, id, doc_id, idx, start, "end", text, section) VALUES (?,?,?,?,?,?,?,?)',
            [(s["uid"], s["id"], s["doc_id"], s["idx"], s["start"], s["end"], s["text"], s["section"])
             for s in rows.sentences],
        )
        # Whole-document full text (title and body apart) for document-level keyword search.
        title_end = len(d["title"]) + 1 if d["title"] else 0
        db.execute("INSERT INTO documents_fts (rowid, doc_id, title, text) VALUES (?,?,?,?)",
                   (document_rowid(d["id"]), d["id"], d["title"],
                    " ".join(s["text"] for s in rows.sentences if s["start"] >= title_end)))
        names = {cid: c for cid, c in rows.concepts.items()}
        db.executemany(
            'INSERT INTO mentions (sentence_uid, doc_id, concept_id, start, "end", text, label, score, negated,'
            " uncertain, historical, hypothetical, family, concept_name, vocab) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(m["sentence_uid"], m["doc_id"], m["concept_id"], m["start"], m["end"], m["text"], m["label"],
              m["score"], *(int(m[f]) for f in _FLAGS), names[m["concept_id"]]["name"],
              names[m["concept_id"]]["vocab"]) for m in rows.mentions],
        )
        db.executemany(
            "INSERT INTO evidence (id, predicate, subject_id, object_id, doc_id, sentence_id, sentence_uid,"
            " confidence, trigger, method, year, negated, uncertain, historical, hypothetical, family)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(e["id"], e["predicate"], e["subject_id"], e["object_id"], e["doc_id"], e["sentence_id"],
              e["sentence_uid"], e["confidence"], e["trigger"], e["method"], e["year"],
              *(int(e[f]) for f in _FLAGS)) for e in rows.evidence],
        )

    def _delete_documents(self, db: sqlite3.Connection, doc_ids: Sequence[str]):
        uids: list[int] = []
        keys: set[tuple[str, str, str]] = set()
        cids: set[str] = set()
        for doc_id in doc_ids:
            uids += [r[0] for r in db.execute("SELECT uid FROM sentences WHERE doc_id = ?", (doc_id,))]
            keys |= {tuple(r) for r in db.execute(
                "SELECT DISTINCT subject_id, predicate, object_id FROM evidence WHERE doc_id = ?", (doc_id,))}
            cids |= {r[0] for r in db.execute("SELECT DISTINCT concept_id FROM mentions WHERE doc_id = ?", (doc_id,))}
            for table in ("evidence", "mentions", "sentences"):
                db.execute(f"DELETE FROM {table} WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            db.execute("DELETE FROM documents_fts WHERE rowid = ?", (document_rowid(doc_id),))
        return uids, keys, cids

    def _recompute(self, db: sqlite3.Connection, edge_keys: Iterable[tuple[str, str, str]],
                   concept_ids: Iterable[str]) -> None:
        for key in edge_keys:
            db.execute("DELETE FROM edges WHERE subject_id = ? AND predicate = ? AND object_id = ?", key)
            db.execute(_EDGE_RECOMPUTE, key)
        for cid in concept_ids:
            db.execute("DELETE FROM concepts WHERE id = ?", (cid,))
            db.execute("DELETE FROM concept_names WHERE concept_id = ?", (cid,))
            db.execute(_CONCEPT_RECOMPUTE, (cid,))
            db.execute(_NAMES_RECOMPUTE, (cid,))

    def remove_documents(self, doc_ids: Sequence[str]) -> list[int]:
        with self._lock, self._transaction() as db:
            uids, keys, cids = self._delete_documents(db, list(dict.fromkeys(doc_ids)))
            self._recompute(db, keys, cids)
        self._generation += 1  # after the commit: row counts cached by readers are stale
        return uids

    class _Tx:
        def __init__(self, store: "SQLiteGraphStore"):
            self.db = store._db
            self.path = store.path

        def __enter__(self) -> sqlite3.Connection:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise GraphStoreError(f"Cannot write to {self.path}: {e} (another medkg ingest running?)") from e
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            if exc_type is None:
                self.db.execute("COMMIT")
            else:
                self.db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise GraphStoreError(f"Write to {self.path} failed and was rolled back: {exc}") from exc

    def _transaction(self) -> "_Tx":
        return self._Tx(self)

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _hashes(db: sqlite3.Connection, doc_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(doc_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"SELECT id, content_hash FROM documents WHERE id IN ({','.join('?' * len(chunk))})"
            out.update({r[0]: r[1] for r in db.execute(q, chunk)})
        return out

    def document_hashes(self, doc_ids: Sequence[str]) -> dict[str, str]:
        with self._lock:
            return self._hashes(self._db, doc_ids)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._reading() as db:
            return db.execute(sql, params).fetchall()

    def _concept_from_row(self, row: sqlite3.Row, with_synonyms: bool = False) -> Concept:
        synonyms: list[str] = []
        if with_synonyms:
            synonyms = [r[0] for r in self._query(
                "SELECT name FROM concept_names WHERE concept_id = ? ORDER BY count DESC, name LIMIT 20",
                (row["id"],))]
        return Concept(id=row["id"], name=row["name"], type=row["type"], vocab=row["vocab"],
                       synonyms=synonyms, mentions=row["mentions"], documents=row["documents"])

    def concept(self, concept_id: str) -> Concept | None:
        rows = self._query("SELECT * FROM concepts WHERE id = ?", (concept_id,))
        return self._concept_from_row(rows[0], with_synonyms=True) if rows else None

    def _concepts(self, concept_ids: Iterable[str]) -> dict[str, Concept]:
        """:meth:`concept` for many ids in two queries (ids the graph lacks are left out)."""
        ids = list(dict.fromkeys(concept_ids))
        out: dict[str, Concept] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            synonyms: dict[str, list[str]] = {}
            for r in self._query(f"SELECT concept_id, name FROM concept_names WHERE concept_id IN ({marks}) "
                                 "ORDER BY concept_id, count DESC, name", chunk):
                names = synonyms.setdefault(r[0], [])
                if len(names) < 20:
                    names.append(r[1])
            for row in self._query(f"SELECT * FROM concepts WHERE id IN ({marks})", chunk):
                c = self._concept_from_row(row)
                c.synonyms = synonyms.get(c.id, [])
                out[c.id] = c
        return out

    def find_concepts(self, text: str, limit: int = 10) -> list[Concept]:
        norm = normalize_name(text)
        if not norm:
            return []
        like = "%" + norm.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._query(
            """SELECT c.*, MIN(CASE WHEN c.id = ?1 OR lower(c.name) = ?2 OR n.norm = ?2 THEN 0
                                   WHEN n.norm LIKE ?3 ESCAPE '\\' OR lower(c.name) LIKE ?3 ESCAPE '\\' THEN 1
                                   ELSE 2 END) AS rank
               FROM concepts c JOIN concept_names n ON n.concept_id = c.id
               WHERE c.id = ?1 OR n.norm = ?2 OR n.norm LIKE ?3 ESCAPE '\\' OR lower(c.name) LIKE ?3 ESCAPE '\\'
               GROUP BY c.id ORDER BY rank, c.mentions DESC, c.id LIMIT ?4""",
            (text.strip(), norm, like, limit),
        )
        return [self._concept_from_row(r, with_synonyms=True) for r in rows]

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
        clauses = []
        params: list[Any] = []
        for side, other in (("subject_id", "object_id"), ("object_id", "subject_id")):
            if (side == "subject_id" and direction == "in") or (side == "object_id" and direction == "out"):
                continue
            c = f"e.{side} = ?"
            p: list[Any] = [concept_id]
            if other_id is not None:
                c += f" AND e.{other} = ?"
                p.append(other_id)
            if other_type is not None:
                c += f" AND EXISTS (SELECT 1 FROM concepts oc WHERE oc.id = e.{other} AND oc.type = ?)"
                p.append(other_type)
            clauses.append(f"({c})")
            params += p
        where = "(" + " OR ".join(clauses) + ")"
        where += f" AND e.predicate IN ({','.join('?' * len(preds))})"
        params += preds
        if not include_negated:
            where += " AND (e.support > 0 OR e.uncertain > 0)"
        rows = self._query(
            f"""SELECT e.* FROM edges e WHERE ({where})
                ORDER BY e.support DESC, e.documents DESC, e.contradicting ASC, e.uncertain DESC,
                         e.subject_id, e.predicate, e.object_id LIMIT ?""",
            (*params, limit),
        )
        concepts = self._concepts([r[k] for r in rows for k in ("subject_id", "object_id")])
        return [self._fact(r, include_negated, evidence_limit, concepts) for r in rows]

    # A fact's evidence, best first: supporting before negated, asserted before hedged, then by
    # confidence, recency, document and position. The inner query reads the first k rows of the
    # edge from the evidence_rank index (no sort of all its evidence); s.idx breaks the ties.
    _EVIDENCE = """SELECT ev.*, s.text, s.start, s."end", s.idx, d.title FROM (
            SELECT * FROM evidence WHERE subject_id = ? AND predicate = ? AND object_id = ? {cond}
            ORDER BY negated, uncertain, confidence DESC, year DESC, doc_id LIMIT ?) ev
        JOIN sentences s ON s.uid = ev.sentence_uid JOIN documents d ON d.id = ev.doc_id
        ORDER BY ev.negated, ev.uncertain, ev.confidence DESC, ev.year DESC, ev.doc_id, s.idx"""
    _TIE = "AND negated = ? AND uncertain = ? AND confidence = ? AND year IS ? AND doc_id = ?"

    def _evidence_rows(self, key: tuple[str, str, str], include_negated: bool, k: int) -> list[sqlite3.Row]:
        """The first ``k`` evidence rows of an edge, as ``ORDER BY ... , s.idx LIMIT k`` over all of them.

        The index orders rows up to the document; when the k-th row's document has more rows with
        the same sort key (several sentences of one document), all of them are read and ordered
        by sentence position, so the cut falls where the full sort would put it.
        """
        if k <= 0:
            return []
        neg = "" if include_negated else "AND negated = 0"
        rows = self._query(self._EVIDENCE.format(cond=neg), (*key, k))
        if len(rows) < k:
            return rows
        last = rows[-1]
        tie = (last["negated"], last["uncertain"], last["confidence"], last["year"], last["doc_id"])
        group = self._query(self._EVIDENCE.format(cond=f"{neg} {self._TIE}"), (*key, *tie, -1))  # -1: no limit
        head = [r for r in rows if (r["negated"], r["uncertain"], r["confidence"], r["year"], r["doc_id"]) != tie]
        return (head + list(group))[:k]

    def _fact(self, edge: sqlite3.Row, include_negated: bool, evidence_limit: int,
              concepts: dict[str, Concept] | None = None) -> Fact:
        if concepts is None:
            concepts = self._concepts([edge["subject_id"], edge["object_id"]])
        subj = concepts.get(edge["subject_id"]) or Concept(id=edge["subject_id"], name=edge["subject_id"])
        obj = concepts.get(edge["object_id"]) or Concept(id=edge["object_id"], name=edge["object_id"])
        ev_rows = self._evidence_rows((edge["subject_id"], edge["predicate"], edge["object_id"]), include_negated,
                                      evidence_limit)
        evidence = [
            Evidence(sentence_id=r["sentence_id"], doc_id=r["doc_id"], text=r["text"], start=r["start"],
                     end=r["end"], year=r["year"], title=r["title"], confidence=r["confidence"],
                     trigger=r["trigger"], **{f: bool(r[f]) for f in _FLAGS})
            for r in ev_rows
        ]
        return Fact(subject=subj, predicate=edge["predicate"], object=obj, support=edge["support"],
                    contradicting=edge["contradicting"], uncertain=edge["uncertain"],
                    documents=edge["documents"], first_year=edge["first_year"], last_year=edge["last_year"],
                    evidence=evidence)

    def _neighbours(self, concept_id: str, cap: int = 200) -> list[str]:
        rows = self._query(
            """SELECT other FROM (
                   SELECT object_id AS other, support FROM edges WHERE subject_id = ?1 AND support > 0
                   UNION ALL
                   SELECT subject_id, support FROM edges WHERE object_id = ?1 AND support > 0)
               GROUP BY other ORDER BY SUM(support) DESC, other LIMIT ?2""",
            (concept_id, cap),
        )
        return [r[0] for r in rows]

    def paths(self, source_id: str, target_id: str, max_hops: int = 3, limit: int = 10) -> list[Path]:
        chains = shortest_chains(source_id, target_id, self._neighbours, max_hops=max_hops, limit=limit)
        return [Path(hops=[self._hop(a, b) for a, b in zip(chain, chain[1:])]) for chain in chains]

    def _hop(self, a: str, b: str) -> Fact:
        facts = self.facts(a, other_id=b, limit=1, evidence_limit=3)
        return facts[0]

    # At most this many rows are scored by bm25() per keyword query on a large index (see
    # _fts_match): FTS5 scores every row an OR-query matches (~1.3 us a row), so one common word
    # in a million sentences would cost ~0.1 s; counting a word's rows costs ~0.04 us a row.
    KEYWORD_BUDGET = 10_000

    # At most this many AND-combinations in a relaxed group (see _fts_match).
    MAX_COMBINATIONS = 20

    def _fts_match(self, table: str, text: str, k: int = 10, db: sqlite3.Connection | None = None) -> str | None:
        """The FTS5 query for ``text`` on ``table``: :func:`fts_query`, or :func:`budget_plan`'s
        cheaper near-equivalent when the words match more than ``KEYWORD_BUDGET`` rows together.

        The frequent words' AND group is dropped when it alone matches more than the budget and
        some words are searched alone (words that stem alike, "hypertension"/"hypertensive", make
        an AND no smaller than one of them). When the plan would find fewer than ``k`` rows, the
        group is relaxed before falling back to the plain OR query (which scores every row holding
        any word: ~0.1 s for three common words in a million sentences): rows holding at least
        ``m`` of the ``n`` frequent words, ``m`` from ``n - 1`` down to 2, as the OR of their
        ``m``-word ANDs (at most ``MAX_COMBINATIONS``).

        BM25 scores follow the query FTS5 runs: a word counts once per branch of the OR that the
        row matches, and not at all in a branch the row fails. So scores of a planned query are
        close to, not equal to, the plain query's (bench/query_latency.py measures the agreement
        of the top 10); the plain query is used whenever the words match at most the budget.
        """
        if db is None:
            with self._reading() as db:
                return self._fts_match(table, text, k, db)
        words = query_terms(text)
        if not words:
            return None
        quote = {w: '"' + w.replace('"', '""') + '"' for w in words}
        plain = " OR ".join(quote[w] for w in words)
        if len(quote) == 1:
            return plain
        rows = self._counts(db, table, quote)
        alone, together = budget_plan(words, rows, self.KEYWORD_BUDGET)
        if not together:
            return " OR ".join(quote[w] for w in alone)
        parts = [quote[w] for w in alone]
        found = sum(rows[w] for w in dict.fromkeys(alone))
        group = "(" + " AND ".join(quote[w] for w in together) + ")"
        in_group = self._counts(db, table, {group: group})[group]
        if not alone or in_group <= self.KEYWORD_BUDGET:
            if found + in_group >= k:
                return " OR ".join(parts + [group])
        elif found >= k:
            return " OR ".join(parts)
        distinct = list(dict.fromkeys(together))
        for m in range(len(distinct) - 1, 1, -1):
            if math.comb(len(distinct), m) > self.MAX_COMBINATIONS:
                continue
            relaxed = " OR ".join("(" + " AND ".join(quote[w] for w in c) + ")"
                                  for c in itertools.combinations(distinct, m))
            if found + self._counts(db, table, {relaxed: relaxed})[relaxed] >= k:
                return " OR ".join(parts + [relaxed])
        return plain

    def _counts(self, db: sqlite3.Connection, table: str, quoted: dict[str, str]) -> dict[str, int]:
        """Rows of ``table`` holding each word, cached until the database changes (frequent words,
        the costly ones to count, recur from query to query). One cache per connection:
        ``PRAGMA data_version`` (which changes when another connection commits) is per connection."""
        caches = self._local.__dict__.setdefault("counts", {})
        version = (db.execute("PRAGMA data_version").fetchone()[0], self._generation)
        cache = caches.get(id(db))
        if cache is None or cache[0] != version or len(cache[1]) > 100_000:
            cache = caches[id(db)] = (version, {})
        counts = cache[1]
        out = {}
        for w, q in quoted.items():
            key = (table, w)
            if key not in counts:
                counts[key] = db.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (q,)).fetchone()[0]
            out[w] = counts[key]
        return out

    def keyword_search(self, query: str, k: int = 10) -> list[Passage]:
        if k <= 0:
            return []
        with self._reading() as db:
            q = self._fts_match("sentences_fts", query, k, db)
            if q is None:
                return []
            # Rank inside the full-text index first, join the top k only.
            rows = db.execute(
                """SELECT s.uid, s.id, s.doc_id, s.text, s.start, s."end", d.title, d.year, r.rank
                   FROM (SELECT rowid, bm25(sentences_fts) AS rank FROM sentences_fts
                         WHERE sentences_fts MATCH ? ORDER BY rank, rowid LIMIT ?) r
                   JOIN sentences s ON s.uid = r.rowid JOIN documents d ON d.id = s.doc_id
                   ORDER BY r.rank, s.uid""",
                (q, k),
            ).fetchall()
        return [Passage(sentence_id=r["id"], uid=r["uid"], doc_id=r["doc_id"], text=r["text"],
                        score=-float(r["rank"]), title=r["title"], year=r["year"], start=r["start"], end=r["end"])
                for r in rows]

    # bm25() column weights of documents_fts (doc_id, title, text): a title word counts twice
    # (tuned on NFCorpus dev with bench/retrieval_eval.py).
    TITLE_WEIGHT = 2.0

    def keyword_search_documents(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """Full-text (BM25) search over whole documents (title and text): ``[(doc_id, score)]``, best first."""
        if k <= 0:
            return []
        with self._reading() as db:
            q = self._fts_match("documents_fts", query, k, db)
            if q is None:
                return []
            rows = db.execute(
                """SELECT doc_id, bm25(documents_fts, 0.0, ?, 1.0) AS rank FROM documents_fts
                   WHERE documents_fts MATCH ? ORDER BY rank, doc_id LIMIT ?""",
                (self.TITLE_WEIGHT, q, k),
            ).fetchall()
        return [(r["doc_id"], -float(r["rank"])) for r in rows]

    def passages(self, uids: Sequence[int]) -> list[Passage]:
        found: dict[int, Passage] = {}
        ids = [int(u) for u in uids]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for r in self._query(
                f"""SELECT s.uid, s.id, s.doc_id, s.text, s.start, s."end", d.title, d.year FROM sentences s
                    JOIN documents d ON d.id = s.doc_id WHERE s.uid IN ({','.join('?' * len(chunk))})""",
                chunk,
            ):
                found[r["uid"]] = Passage(sentence_id=r["id"], uid=r["uid"], doc_id=r["doc_id"], text=r["text"],
                                          title=r["title"], year=r["year"], start=r["start"], end=r["end"])
        return [found[u] for u in ids if u in found]

    def sentence_uids(self) -> list[int]:
        return [r[0] for r in self._query("SELECT uid FROM sentences ORDER BY uid")]

    def stats(self) -> GraphStats:
        def count(sql: str) -> int:
            return int(self._query(sql)[0][0])

        by_pred = {r[0]: r[1] for r in self._query(
            "SELECT predicate, COUNT(*) FROM edges GROUP BY predicate ORDER BY predicate")}
        return GraphStats(
            documents=count("SELECT COUNT(*) FROM documents"),
            sentences=count("SELECT COUNT(*) FROM sentences"),
            mentions=count("SELECT COUNT(*) FROM mentions"),
            concepts=count("SELECT COUNT(*) FROM concepts"),
            edges=count("SELECT COUNT(*) FROM edges"),
            evidence=count("SELECT COUNT(*) FROM evidence"),
            edges_by_predicate=by_pred,
        )

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             (key, value if isinstance(value, str) else json.dumps(value)))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for db in self._readers:
                db.close()
            self._readers.clear()
            self._db.close()

    def __enter__(self) -> "SQLiteGraphStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
