"""The :class:`GraphStore` protocol every backend implements, and the backend factory.

Backends: :class:`kg.sqlite_store.SQLiteGraphStore` (embedded default, one file) and
:class:`kg.neo4j_store.Neo4jGraphStore` (Bolt). ``tests/contract/`` holds the behaviour
suite each backend must pass.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from kg.model import Concept, Fact, GraphStats, Passage, Path, WriteStats
from nlp.errors import BackendUnavailable, ConfigError, GraphStoreError  # noqa: F401 (re-exported)
from nlp.extraction import Extraction


@runtime_checkable
class GraphStore(Protocol):
    """What medkg needs from a knowledge-graph backend.

    Semantics every backend shares (checked by the contract suite):

    * ``write`` is idempotent: a document whose id and content hash are already stored is
      skipped; a stored document with another hash is replaced (old sentences, mentions and
      evidence removed, edge counts recomputed) in the same transaction as the new version.
    * Edge counts are derived from evidence (see :mod:`kg.schema`), so they are never out
      of step with the evidence a fact lists.
    * ``facts`` excludes negated evidence from ``evidence`` unless ``include_negated``; a fact
      whose only evidence is negated/uncertain is not returned unless ``include_negated``.
    """

    def ensure_schema(self) -> None:
        """Create tables / constraints / indexes if missing. Idempotent."""

    def write(self, batch: Sequence[Extraction]) -> WriteStats:
        """Store a batch of extractions in one transaction (MERGE semantics)."""

    def document_hashes(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """Content hashes of the given documents that are stored (absent ids are left out)."""

    def remove_documents(self, doc_ids: Sequence[str]) -> list[int]:
        """Remove documents with their sentences, mentions and evidence; recompute the edges
        they supported (edges with no evidence left disappear). Returns the removed sentence uids."""

    def concept(self, concept_id: str) -> Concept | None:
        """One concept by id, or None."""

    def find_concepts(self, text: str, limit: int = 10) -> list[Concept]:
        """Concepts whose id, name or a synonym matches ``text`` (exact first, then prefix/substring),
        most-mentioned first."""

    def facts(
        self,
        concept_id: str,
        predicates: Sequence[str] | None = None,
        *,
        direction: str = "both",  # "out" (concept is subject), "in" (object), "both"
        other_id: str | None = None,  # restrict to facts between concept_id and other_id
        other_type: str | None = None,  # restrict the other end's Concept.type
        include_negated: bool = False,
        limit: int = 50,
        evidence_limit: int = 5,
    ) -> list[Fact]:
        """Aggregated facts touching a concept, most-supported first, each with evidence."""

    def paths(self, source_id: str, target_id: str, max_hops: int = 3, limit: int = 10) -> list[Path]:
        """Shortest chains of supported facts between two concepts (ignoring direction)."""

    def keyword_search(self, query: str, k: int = 10) -> list[Passage]:
        """Full-text (BM25-style) search over sentences."""

    def keyword_search_documents(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """Full-text (BM25-style) search over whole documents (title and text): ``[(doc_id, score)]``,
        best first, each document at most once; the same query words as ``keyword_search`` (user
        text is never query syntax). Scores are backend-specific; only their order is shared."""

    def passages(self, uids: Sequence[int]) -> list[Passage]:
        """Sentences by vector-index uid (in the order given; unknown uids left out)."""

    def sentence_uids(self) -> list[int]:
        """All sentence uids stored (used to check the vector index is in step with the graph)."""

    def stats(self) -> GraphStats:
        """Counts of documents, sentences, mentions, concepts, edges, evidence."""

    def close(self) -> None:
        """Release connections/files."""


def fact_predicates(direction: str, predicates: Sequence[str] | None) -> list[str]:
    """Validate ``facts()`` arguments shared by every backend: the predicates to query (known ones
    only; all when ``predicates`` is None; empty when none of those asked for exists).

    Raises:
        ValueError: ``direction`` is not out, in or both.
    """
    if direction not in ("out", "in", "both"):
        raise ValueError(f"direction must be out, in or both, not {direction!r}")
    from kg.schema import PREDICATES

    return [p for p in (predicates or PREDICATES) if p in PREDICATES]


BACKENDS = ("sqlite", "neo4j")


def open_store(uri: str, *, user: str | None = None, password: str | None = None) -> GraphStore:
    """Open a graph store from a URI: a file path / ``sqlite:///path`` or ``bolt://`` / ``neo4j://``.

    Raises:
        ConfigError: the URI names no known backend.
        BackendUnavailable: the backend cannot be reached.
    """
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else "sqlite"
    if scheme in ("bolt", "neo4j", "bolt+s", "neo4j+s", "bolt+ssc", "neo4j+ssc"):
        from kg.neo4j_store import Neo4jGraphStore

        return Neo4jGraphStore.connect(uri, user=user, password=password)
    if scheme in ("sqlite", "file"):
        from kg.sqlite_store import SQLiteGraphStore

        path = uri.split("://", 1)[1] if "://" in uri else uri
        return SQLiteGraphStore(path)
    raise ConfigError(f"Unknown graph backend {scheme!r} in {uri!r}. Available: sqlite (a file path), neo4j (bolt://...)")
