"""Result types returned by every :class:`kg.store.GraphStore` backend.

Plain dataclasses with ``to_dict()`` so the CLI's ``--json`` output and the library API
share one stable shape.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Concept:
    id: str
    name: str
    type: str = ""
    vocab: str = ""
    synonyms: list[str] = field(default_factory=list)  # surface forms seen in text + abbreviations
    mentions: int = 0  # number of mentions in the graph (asserted or not)
    documents: int = 0  # number of documents mentioning it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    """One sentence supporting (or contradicting) a fact."""

    sentence_id: str
    doc_id: str
    text: str
    start: int = 0  # sentence offsets in the document's full text
    end: int = 0
    year: int | None = None
    title: str = ""
    confidence: float = 1.0
    trigger: str = ""
    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Fact:
    """An aggregated edge ``subject -[predicate]-> object`` with its evidence."""

    subject: Concept
    predicate: str
    object: Concept
    support: int = 0  # asserted (not negated, not uncertain) evidence sentences
    contradicting: int = 0  # negated evidence sentences
    uncertain: int = 0  # uncertain (hedged) evidence sentences
    documents: int = 0  # distinct documents with supporting evidence
    first_year: int | None = None
    last_year: int | None = None
    evidence: list[Evidence] = field(default_factory=list)
    score: float = 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subject.id, self.predicate, self.object.id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Passage:
    """A sentence returned by keyword or dense search."""

    sentence_id: str
    uid: int
    doc_id: str
    text: str
    score: float = 0.0
    title: str = ""
    year: int | None = None
    start: int = 0
    end: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Path:
    """A chain of facts connecting two concepts (each hop carries its evidence)."""

    hops: list[Fact]

    @property
    def length(self) -> int:
        return len(self.hops)

    def to_dict(self) -> dict[str, Any]:
        return {"length": self.length, "hops": [h.to_dict() for h in self.hops]}


@dataclass
class GraphStats:
    documents: int = 0
    sentences: int = 0
    mentions: int = 0
    concepts: int = 0
    edges: int = 0
    evidence: int = 0
    edges_by_predicate: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WriteStats:
    documents: int = 0  # documents written (new or changed)
    unchanged: int = 0  # documents skipped because the same content was already stored
    replaced: int = 0  # documents whose older version was replaced
    sentences: int = 0
    mentions: int = 0
    evidence: int = 0
    removed_uids: list[int] = field(default_factory=list)  # sentence uids of replaced versions

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("removed_uids")
        return d
