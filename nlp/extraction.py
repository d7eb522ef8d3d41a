"""The plain data that flows from the NLP pipeline into the graph and the vector index.

One :class:`Extraction` per document. Offsets are character offsets into
:attr:`Document.full_text` (``title + " " + text`` when there is a title, as PubTator
counts them), so a mention's ``full_text[start:end]`` is its surface text.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

# Assertion flags carried by mentions, relations and evidence, in one place.
ASSERTION_FLAGS = ("negated", "uncertain", "historical", "hypothetical", "family")


def stable_id63(text: str) -> int:
    """A positive 63-bit integer derived from ``text`` (blake2b), stable across runs and machines.

    Used as the vector-index id of a sentence so the SQLite store, the Neo4j store and
    FAISS agree on ids without a shared counter.
    """
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass
class Document:
    """One input record: a PubMed abstract, a BioC/PubTator document, a JSONL row or a note."""

    id: str
    text: str
    title: str = ""
    source: str = ""  # file path (or "-") the record came from
    kind: str = "article"  # "article" | "note"
    metadata: dict[str, Any] = field(default_factory=dict)  # year, journal, pmid, sections...

    @property
    def full_text(self) -> str:
        return f"{self.title} {self.text}" if self.title else self.text

    @property
    def year(self) -> int | None:
        year = self.metadata.get("year")
        try:
            return int(year) if year is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def content_hash(self) -> str:
        """Hash of what the NLP reads; a changed hash means the document must be re-processed."""
        h = hashlib.sha256()
        for part in (self.title, self.text, str(self.year or "")):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()[:32]


@dataclass
class Mention:
    """An entity mention, linked to a concept, with its assertion flags."""

    start: int
    end: int
    text: str
    label: str  # entity type: Chemical, Disease, Gene, Species, Phenotype, ...
    concept_id: str  # e.g. MESH:D006973, NCBIGene:672, HP:0001627, or TXT:disease:foo for unlinked
    concept_name: str = ""
    vocab: str = ""  # MESH, NCBIGene, HPO, DrugBank, ICD10CM, NCBITaxon, TXT
    score: float = 1.0  # linking score in [0, 1]
    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False


@dataclass
class Sentence:
    """A sentence of a document, with the mentions inside it."""

    index: int
    start: int
    end: int
    text: str
    mentions: list[Mention] = field(default_factory=list)
    section: str = ""  # clinical note section header, when known


@dataclass
class Relation:
    """A relation instance between two mentions of one sentence.

    ``subject``/``object`` index into ``Extraction.sentences[sentence].mentions``.
    ``negated`` means the sentence states the relation does NOT hold: it is recorded as
    contradicting evidence, never as support.
    """

    predicate: str  # one of kg.schema.PREDICATES
    sentence: int
    subject: int
    object: int
    trigger: str = ""
    confidence: float = 1.0
    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False
    method: str = "pattern"


@dataclass
class Extraction:
    """Everything the pipeline found in one document: what the graph and the index consume."""

    document: Document
    sentences: list[Sentence] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def sentence_id(self, index: int) -> str:
        return sentence_id(self.document.id, index)

    def mentions(self):
        """Yield ``(sentence, mention)`` pairs in document order."""
        for sent in self.sentences:
            for m in sent.mentions:
                yield sent, m

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Extraction":
        doc = Document(**data["document"])
        sents = [
            Sentence(**{**s, "mentions": [Mention(**m) for m in s.get("mentions", [])]})
            for s in data.get("sentences", [])
        ]
        rels = [Relation(**r) for r in data.get("relations", [])]
        return cls(document=doc, sentences=sents, relations=rels)


def sentence_id(doc_id: str, index: int) -> str:
    """The string id of a sentence: ``"<doc_id>#<index>"``."""
    return f"{doc_id}#{index}"


def sentence_uid(doc_id: str, index: int) -> int:
    """The 63-bit integer id of a sentence, used by the vector index."""
    return stable_id63(sentence_id(doc_id, index))
