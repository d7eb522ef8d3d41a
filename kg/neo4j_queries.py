"""Every Cypher statement :class:`kg.neo4j_store.Neo4jGraphStore` runs, in one place.

Rules (see :mod:`kg.schema`):

* labels and relationship types come only from :mod:`kg.schema`; the one place a type is
  spliced into a statement is :func:`edge_recompute`, which validates it against
  ``PREDICATES`` first (Cypher cannot take a relationship type as a parameter);
* every value, above all user text, travels as a ``$parameter``;
* orderings mirror :mod:`kg.sqlite_store` so both backends return the same results in the
  same order (SQLite sorts NULL first ascending / last descending; Cypher does the reverse,
  hence the explicit ``x IS NULL`` sort keys).

Written for Neo4j 5.26 LTS (``CALL (x) { ... }`` scoped subqueries need 5.23+).
"""
from __future__ import annotations

import re

from kg.schema import (
    CONCEPT,
    DOCUMENT,
    EVIDENCE,
    HAS_EVIDENCE,
    HAS_SENTENCE,
    MENTIONS,
    PREDICATES,
    SENTENCE,
    check_predicate,
)

# Full-text indexes. Keyword search reproduces the SQLite backend's FTS5 BM25 exactly (same
# results, same scores): sentences and documents carry their FTS5 tokens ("porter unicode61",
# produced by SQLite's own tokenizer, see kg.neo4j_store.Fts5Tokenizer) as space-separated
# strings, indexed with Lucene's whitespace analyzer. Lucene finds the candidates (every node
# containing a query phrase); BM25 is computed from token counts as FTS5 computes it.
SENTENCE_TERMS_INDEX = "sentence_terms_fulltext"
DOCUMENT_TERMS_INDEX = "document_terms_fulltext"
TERMS_ANALYZER = "whitespace"
# Created by earlier versions (English analyzer over Sentence.text); dropped after a backfill.
LEGACY_FULLTEXT_INDEX = "sentence_text_fulltext"

# All predicate relationship types as a pattern alternative, e.g. "TREATS|CAUSES|...": built
# from the whitelist only. Naming them keeps traversals off the (many) MENTIONS relationships.
PREDICATE_TYPES = "|".join(check_predicate(p) for p in PREDICATES)

SCHEMA = [
    f"CREATE CONSTRAINT document_id IF NOT EXISTS FOR (n:{DOCUMENT}) REQUIRE n.id IS UNIQUE",
    f"CREATE CONSTRAINT sentence_id IF NOT EXISTS FOR (n:{SENTENCE}) REQUIRE n.id IS UNIQUE",
    f"CREATE CONSTRAINT concept_id IF NOT EXISTS FOR (n:{CONCEPT}) REQUIRE n.id IS UNIQUE",
    f"CREATE CONSTRAINT evidence_id IF NOT EXISTS FOR (n:{EVIDENCE}) REQUIRE n.id IS UNIQUE",
    f"CREATE INDEX sentence_uid IF NOT EXISTS FOR (n:{SENTENCE}) ON (n.uid)",
    f"CREATE INDEX sentence_doc IF NOT EXISTS FOR (n:{SENTENCE}) ON (n.doc_id)",
    f"CREATE INDEX evidence_doc IF NOT EXISTS FOR (n:{EVIDENCE}) ON (n.doc_id)",
    f"CREATE INDEX evidence_spo IF NOT EXISTS FOR (n:{EVIDENCE}) ON (n.subject_id, n.predicate, n.object_id)",
    f"CREATE FULLTEXT INDEX {SENTENCE_TERMS_INDEX} IF NOT EXISTS FOR (n:{SENTENCE}) ON EACH [n.terms] "
    f"OPTIONS {{indexConfig: {{`fulltext.analyzer`: '{TERMS_ANALYZER}'}}}}",
    f"CREATE FULLTEXT INDEX {DOCUMENT_TERMS_INDEX} IF NOT EXISTS FOR (n:{DOCUMENT}) "
    f"ON EACH [n.title_terms, n.text_terms] OPTIONS {{indexConfig: {{`fulltext.analyzer`: '{TERMS_ANALYZER}'}}}}",
]
AWAIT_INDEXES = "CALL db.awaitIndexes($seconds)"
INDEX_EXISTS = "SHOW INDEXES YIELD name WHERE name = $name RETURN count(*) > 0 AS found"
DROP_LEGACY_INDEX = f"DROP INDEX {LEGACY_FULLTEXT_INDEX} IF EXISTS"

# Backfill of the FTS5 tokens for graphs written before they existed (run by ensure_schema while
# the legacy index is still there).
SENTENCES_WITHOUT_TERMS = f"""
MATCH (s:{SENTENCE}) WHERE s.terms IS NULL
RETURN s.uid AS uid, s.text AS text
LIMIT $limit
"""
SET_SENTENCE_TERMS = f"""
UNWIND $rows AS row
MATCH (s:{SENTENCE} {{uid: row.uid}})
SET s.terms = row.terms, s.n_terms = row.n_terms
"""
DOCUMENTS_WITHOUT_TERMS = f"""
MATCH (d:{DOCUMENT}) WHERE d.n_terms IS NULL
CALL (d) {{
  MATCH (s:{SENTENCE} {{doc_id: d.id}})
  WITH s ORDER BY s.idx
  RETURN collect({{start: s.start, text: s.text}}) AS sentences
}}
RETURN d.id AS id, d.title AS title, sentences
LIMIT $limit
"""
SET_DOCUMENT_TERMS = f"""
UNWIND $rows AS row
MATCH (d:{DOCUMENT} {{id: row.id}})
SET d.title_terms = row.title_terms, d.text_terms = row.text_terms, d.n_terms = row.n_terms
"""

# ----------------------------------------------------------------------------- writes
# Write statements only ever seek by unique constraint / index, so their plans do not depend on
# graph statistics; "replan=skip" keeps Neo4j from recompiling them again and again while an
# ingest grows the graph from empty (each recompilation costs 50-200 ms; dozens happened per
# benchmark run without it). Schema changes still flush the plan cache.
_STABLE = "CYPHER replan=skip"
DOCUMENT_HASHES = f"""{_STABLE}
UNWIND $ids AS id
MATCH (d:{DOCUMENT} {{id: id}})
RETURN d.id AS id, d.content_hash AS content_hash
"""

# The first statement of a write: MERGE takes the documents' unique-constraint locks, so a
# concurrent writer of the same document waits for this transaction and then sees its hash
# (SQLite gets the same from BEGIN IMMEDIATE). New ids come back with a null hash.
LOCK_DOCUMENTS = f"""{_STABLE}
UNWIND $ids AS id
MERGE (d:{DOCUMENT} {{id: id}})
RETURN d.id AS id, d.content_hash AS content_hash
"""

# Removes documents with their sentences, mentions and evidence, and reports what the removal
# touched (sentence uids, edge keys, concept ids) so the caller can recompute the aggregates.
DELETE_DOCUMENTS = f"""{_STABLE}
UNWIND $ids AS id
MATCH (d:{DOCUMENT} {{id: id}})
CALL (id) {{
  MATCH (s:{SENTENCE} {{doc_id: id}})
  WITH s ORDER BY s.uid
  RETURN collect(s.uid) AS uids
}}
CALL (id) {{
  MATCH (e:{EVIDENCE} {{doc_id: id}})
  RETURN collect(DISTINCT [e.subject_id, e.predicate, e.object_id]) AS keys
}}
CALL (id) {{
  MATCH (:{SENTENCE} {{doc_id: id}})-[:{MENTIONS}]->(c:{CONCEPT})
  RETURN collect(DISTINCT c.id) AS concept_ids
}}
CALL (id) {{
  MATCH (e:{EVIDENCE} {{doc_id: id}})
  DETACH DELETE e
}}
CALL (id) {{
  MATCH (s:{SENTENCE} {{doc_id: id}})
  DETACH DELETE s
}}
DETACH DELETE d
RETURN id, uids, keys, concept_ids
"""

MERGE_DOCUMENTS = f"""{_STABLE}
UNWIND $rows AS row
MERGE (d:{DOCUMENT} {{id: row.id}})
SET d += row
"""

MERGE_SENTENCES = f"""{_STABLE}
UNWIND $rows AS row
MATCH (d:{DOCUMENT} {{id: row.doc_id}})
MERGE (s:{SENTENCE} {{id: row.id}})
SET s += row
MERGE (d)-[:{HAS_SENTENCE}]->(s)
"""

# Placeholder values; the aggregates are recomputed from the mentions afterwards (CONCEPT_RECOMPUTE).
MERGE_CONCEPTS = f"""{_STABLE}
UNWIND $rows AS row
MERGE (c:{CONCEPT} {{id: row.id}})
ON CREATE SET c.name = row.name, c.type = row.type, c.vocab = row.vocab, c.synonyms = [],
              c.mentions = 0, c.documents = 0
"""

# CREATE, not MERGE: a sentence may mention one concept several times (each mention counts,
# as in SQLite). Idempotency is per document: a stored document is skipped or replaced whole.
CREATE_MENTIONS = f"""{_STABLE}
UNWIND $rows AS row
MATCH (s:{SENTENCE} {{uid: row.sentence_uid}})
MATCH (c:{CONCEPT} {{id: row.concept_id}})
CREATE (s)-[:{MENTIONS} {{start: row.start, end: row.end, text: row.text, label: row.label, score: row.score,
                         negated: row.negated, uncertain: row.uncertain, historical: row.historical,
                         hypothetical: row.hypothetical, family: row.family, concept_name: row.concept_name,
                         vocab: row.vocab}}]->(c)
"""

MERGE_EVIDENCE = f"""{_STABLE}
UNWIND $rows AS row
MATCH (s:{SENTENCE} {{uid: row.sentence_uid}})
MERGE (e:{EVIDENCE} {{id: row.id}})
SET e += row
MERGE (s)-[:{HAS_EVIDENCE}]->(e)
"""

# Concept aggregates from its mentions, with the same tie-breaking as SQLite: the most frequent
# name / label / vocab, ties to the smallest; synonyms are the distinct lower-cased surface forms
# (and linked names), each shown by its smallest spelling, most frequent first.
DELETE_UNMENTIONED_CONCEPTS = f"""{_STABLE}
UNWIND $ids AS id
MATCH (c:{CONCEPT} {{id: id}})
WHERE NOT EXISTS {{ (:{SENTENCE})-[:{MENTIONS}]->(c) }}
DETACH DELETE c
"""

CONCEPT_RECOMPUTE = f"""{_STABLE}
UNWIND $ids AS id
MATCH (c:{CONCEPT} {{id: id}})
CALL (c) {{
  MATCH (s:{SENTENCE})-[m:{MENTIONS}]->(c)
  RETURN count(m) AS mentions, count(DISTINCT s.doc_id) AS documents,
         collect([m.text, m.concept_name, m.label, m.vocab]) AS ms
}}
CALL (ms) {{
  UNWIND ms AS m
  WITH CASE WHEN m[1] <> '' THEN m[1] ELSE m[0] END AS x, count(*) AS n
  ORDER BY n DESC, x
  RETURN collect(x)[0] AS name
}}
CALL (ms) {{
  UNWIND ms AS m
  WITH m[2] AS x, count(*) AS n
  ORDER BY n DESC, x
  RETURN collect(x)[0] AS type
}}
CALL (ms) {{
  UNWIND ms AS m
  WITH m[3] AS x, count(*) AS n
  ORDER BY n DESC, x
  RETURN collect(x)[0] AS vocab
}}
CALL (ms) {{
  UNWIND ms AS m
  UNWIND [[m[0], 1]] + CASE WHEN m[1] <> '' THEN [[m[1], 0]] ELSE [] END AS pair
  WITH toLower(pair[0]) AS norm, min(pair[0]) AS x, sum(pair[1]) AS n
  ORDER BY n DESC, x
  RETURN collect(x) AS synonyms
}}
SET c.mentions = mentions, c.documents = documents, c.name = name, c.type = type, c.vocab = vocab,
    c.synonyms = synonyms
"""


def edge_recompute(predicate: str) -> str:
    """The statement that recomputes ``(:Concept)-[:<predicate>]->(:Concept)`` edges from evidence.

    ``$keys`` is a list of ``[subject_id, object_id]``. Counts follow :mod:`kg.schema`: support =
    neither negated nor uncertain, contradicting = negated, uncertain = uncertain and not negated,
    documents = distinct documents with support, years over non-negated evidence. An edge left
    with no evidence is deleted.

    Raises:
        ValueError: ``predicate`` is not in :data:`kg.schema.PREDICATES` (it is spliced into the
            statement, so only whitelisted names may ever reach this point).
    """
    rel = check_predicate(predicate)
    return f"""{_STABLE}
UNWIND $keys AS k
MATCH (a:{CONCEPT} {{id: k[0]}}), (b:{CONCEPT} {{id: k[1]}})
CALL (k) {{
  MATCH (e:{EVIDENCE} {{subject_id: k[0], predicate: $predicate, object_id: k[1]}})
  RETURN count(e) AS n,
         sum(CASE WHEN NOT e.negated AND NOT e.uncertain THEN 1 ELSE 0 END) AS support,
         sum(CASE WHEN e.negated THEN 1 ELSE 0 END) AS contradicting,
         sum(CASE WHEN NOT e.negated AND e.uncertain THEN 1 ELSE 0 END) AS uncertain,
         count(DISTINCT CASE WHEN NOT e.negated AND NOT e.uncertain THEN e.doc_id END) AS documents,
         min(CASE WHEN NOT e.negated THEN e.year END) AS first_year,
         max(CASE WHEN NOT e.negated THEN e.year END) AS last_year
}}
MERGE (a)-[r:{rel}]->(b)
SET r.support = support, r.contradicting = contradicting, r.uncertain = uncertain,
    r.documents = documents, r.first_year = first_year, r.last_year = last_year
WITH r, n WHERE n = 0
DELETE r
"""


EDGE_RECOMPUTE: dict[str, str] = {p: edge_recompute(p) for p in PREDICATES}

# ----------------------------------------------------------------------------- reads
_CONCEPT_MAP = "{.id, .name, .type, .vocab, .mentions, .documents, synonyms: {v}.synonyms[0..20]}"


def concept_map(var: str) -> str:
    """A map projection of a Concept node with the fields of :class:`kg.model.Concept`."""
    if not var.isidentifier():
        raise ValueError(f"not a Cypher variable: {var!r}")
    return var + " " + _CONCEPT_MAP.replace("{v}", var)


CONCEPT_BY_ID = f"""
MATCH (c:{CONCEPT} {{id: $id}})
RETURN {concept_map("c")} AS concept
"""

# Rank 0: exact id / name / synonym; 1: a name or synonym contains the text. Then most mentioned.
FIND_CONCEPTS = f"""
MATCH (c:{CONCEPT})
WITH c, [x IN c.synonyms | toLower(x)] AS norms, toLower(c.name) AS lname
WHERE c.id = $id OR $norm IN norms OR lname CONTAINS $norm OR any(x IN norms WHERE x CONTAINS $norm)
WITH c, CASE WHEN c.id = $id OR lname = $norm OR $norm IN norms THEN 0 ELSE 1 END AS rank
ORDER BY rank, c.mentions DESC, c.id
LIMIT $limit
RETURN {concept_map("c")} AS concept
"""

FACTS = f"""
MATCH (c:{CONCEPT} {{id: $id}})-[r:{PREDICATE_TYPES}]-(o:{CONCEPT})
WHERE type(r) IN $predicates
  AND ($direction = 'both' OR ($direction = 'out' AND startNode(r) = c) OR ($direction = 'in' AND endNode(r) = c))
  AND ($other_id IS NULL OR o.id = $other_id)
  AND ($other_type IS NULL OR o.type = $other_type)
  AND ($include_negated OR r.support > 0 OR r.uncertain > 0)
WITH r, startNode(r) AS s, endNode(r) AS t
ORDER BY r.support DESC, r.documents DESC, r.contradicting ASC, r.uncertain DESC, s.id, type(r), t.id
LIMIT $limit
CALL (r, s, t) {{
  MATCH (ev:{EVIDENCE} {{subject_id: s.id, predicate: type(r), object_id: t.id}})
  WHERE $include_negated OR NOT ev.negated
  MATCH (sent:{SENTENCE})-[:{HAS_EVIDENCE}]->(ev)
  MATCH (d:{DOCUMENT} {{id: ev.doc_id}})
  WITH ev, sent, d
  ORDER BY ev.negated, ev.uncertain, ev.confidence DESC, ev.year IS NULL, ev.year DESC, ev.doc_id, sent.idx
  LIMIT $evidence_limit
  RETURN collect({{sentence_id: ev.sentence_id, doc_id: ev.doc_id, text: sent.text, start: sent.start,
                   end: sent.end, year: ev.year, title: d.title, confidence: ev.confidence,
                   trigger: ev.trigger, negated: ev.negated, uncertain: ev.uncertain,
                   historical: ev.historical, hypothetical: ev.hypothetical, family: ev.family}}) AS evidence
}}
RETURN {concept_map("s")} AS subject, type(r) AS predicate, {concept_map("t")} AS object,
       r {{.support, .contradicting, .uncertain, .documents, .first_year, .last_year}} AS edge, evidence
"""

# Concepts one supported edge away (either direction), strongest first: the BFS step of paths().
NEIGHBOURS = f"""
MATCH (c:{CONCEPT} {{id: $id}})-[r:{PREDICATE_TYPES}]-(o:{CONCEPT})
WHERE r.support > 0
WITH o.id AS other, sum(r.support) AS support
ORDER BY support DESC, other
LIMIT $cap
RETURN other
"""

# Keyword-search candidates: every node containing a query phrase, with the number of times each
# phrase ($phrases: lists of tokens) occurs (consecutive tokens), per column for documents.
_PHRASE_COUNT = "size([i IN range(0, size({t}) - size(p)) WHERE {t}[i..i + size(p)] = p])"

# One round trip: the table totals BM25 needs and the candidates, as one record.
SENTENCE_SEARCH = f"""
CALL () {{ MATCH (s:{SENTENCE}) RETURN count(s) AS rows, coalesce(sum(s.n_terms), 0) AS tokens }}
CALL () {{
  CALL db.index.fulltext.queryNodes('{SENTENCE_TERMS_INDEX}', $query) YIELD node
  WITH node, split(node.terms, ' ') AS t
  RETURN collect({{id: node.uid, n_terms: node.n_terms,
                   freqs: [[p IN $phrases | {_PHRASE_COUNT.format(t="t")}]]}}) AS candidates
}}
RETURN rows, tokens, candidates
"""

DOCUMENT_SEARCH = f"""
CALL () {{ MATCH (d:{DOCUMENT}) RETURN count(d) AS rows, coalesce(sum(d.n_terms), 0) AS tokens }}
CALL () {{
  CALL db.index.fulltext.queryNodes('{DOCUMENT_TERMS_INDEX}', $query) YIELD node
  WITH node, split(node.title_terms, ' ') AS a, split(node.text_terms, ' ') AS b
  RETURN collect({{id: node.id, n_terms: node.n_terms,
                   freqs: [[p IN $phrases | {_PHRASE_COUNT.format(t="a")}],
                           [p IN $phrases | {_PHRASE_COUNT.format(t="b")}]]}}) AS candidates
}}
RETURN rows, tokens, candidates
"""

PASSAGES = f"""
UNWIND $uids AS uid
MATCH (s:{SENTENCE} {{uid: uid}})
MATCH (d:{DOCUMENT} {{id: s.doc_id}})
RETURN s.id AS sentence_id, s.uid AS uid, s.doc_id AS doc_id, s.text AS text, d.title AS title,
       d.year AS year, s.start AS start, s.end AS end
"""

SENTENCE_UIDS = f"MATCH (s:{SENTENCE}) RETURN s.uid AS uid ORDER BY uid"

# Label and relationship-type counts come from Neo4j's count store (constant time).
STATS = f"""
CALL () {{ MATCH (n:{DOCUMENT}) RETURN count(n) AS documents }}
CALL () {{ MATCH (n:{SENTENCE}) RETURN count(n) AS sentences }}
CALL () {{ MATCH ()-[r:{MENTIONS}]->() RETURN count(r) AS mentions }}
CALL () {{ MATCH (n:{CONCEPT}) RETURN count(n) AS concepts }}
CALL () {{ MATCH (n:{EVIDENCE}) RETURN count(n) AS evidence }}
RETURN documents, sentences, mentions, concepts, evidence
"""

EDGE_COUNTS = "\nUNION ALL\n".join(
    f"MATCH ()-[r:{check_predicate(p)}]->() RETURN '{p}' AS predicate, count(r) AS n" for p in sorted(PREDICATES)
)

# Wipes the database in bounded transactions (tests, `medkg reset`): not part of the protocol.
DELETE_ALL = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"

# ----------------------------------------------------------------------------- full-text queries
_LUCENE_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/&|])')


def lucene_escape(term: str) -> str:
    """Backslash-escape every Lucene query-syntax character in ``term``."""
    return _LUCENE_SPECIAL.sub(r"\\\1", term)


def phrase_query(phrases: list[list[str]]) -> str | None:
    """The Lucene query matching any of ``phrases`` (token lists), every token escaped and quoted.

    User text reaches Lucene only as FTS5 tokens inside quotes, each Lucene syntax character
    escaped, so quotes, ``AND``/``OR``/``NOT``, wildcards, field names or
    ``'}) DETACH DELETE n //`` in a query are plain words.
    """
    clauses = ['"' + " ".join(lucene_escape(t) for t in p) + '"' for p in phrases if p]
    return " OR ".join(clauses) or None
