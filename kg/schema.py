"""The graph model: node labels, relationship types, predicates and their properties.

This module is the single source of truth for names used by every backend. Labels and
relationship types are only ever taken from here, never from user text (Cypher cannot
parameterise them, so anything else would be an injection risk).

Model::

    (:Document {id, title, source, kind, year, journal, content_hash})
        -[:HAS_SENTENCE]->
    (:Sentence {id, uid, doc_id, idx, start, end, text, section})
        -[:MENTIONS {start, end, text, label, score, negated, uncertain, historical, hypothetical, family}]->
    (:Concept {id, name, type, vocab, synonyms})

    (:Concept)-[:<PREDICATE> {support, contradicting, uncertain, documents, first_year, last_year}]->(:Concept)

Every aggregated predicate edge is backed by evidence rows/nodes, one per relation instance::

    (:Sentence)-[:HAS_EVIDENCE]->(:Evidence {id, predicate, subject_id, object_id, doc_id, sentence_id,
                                             confidence, trigger, negated, uncertain, historical,
                                             hypothetical, family, year})

Derived properties (recomputed from mentions/evidence on every write, never set by callers):
``Concept.mentions``, ``Concept.documents``, ``Concept.synonyms``; ``MENTIONS.concept_name`` and
``MENTIONS.vocab`` (the linker's name/vocabulary at the time of the mention). The Neo4j backend
also stores keyword-search terms so its BM25 scores equal SQLite FTS5's: ``Sentence.terms``,
``Sentence.n_terms``, ``Document.title_terms``, ``Document.text_terms``, ``Document.n_terms``.

Edge counts are derived from evidence: ``support`` = evidence that is neither negated nor
uncertain; ``contradicting`` = negated evidence; ``uncertain`` = uncertain (not negated)
evidence; ``documents`` = distinct documents with supporting evidence.
"""
from __future__ import annotations

from dataclasses import dataclass

# Node labels
DOCUMENT = "Document"
SENTENCE = "Sentence"
CONCEPT = "Concept"
EVIDENCE = "Evidence"
NODE_LABELS = (DOCUMENT, SENTENCE, CONCEPT, EVIDENCE)

# Structural relationship types
HAS_SENTENCE = "HAS_SENTENCE"
MENTIONS = "MENTIONS"
HAS_EVIDENCE = "HAS_EVIDENCE"
STRUCTURAL_RELS = (HAS_SENTENCE, MENTIONS, HAS_EVIDENCE)

# Entity types (Concept.type). The trained NER emits the corpus types; the dictionary
# baseline and vocabularies add Phenotype (HPO) and Diagnosis (ICD-10-CM).
CHEMICAL = "Chemical"
DISEASE = "Disease"
GENE = "Gene"
SPECIES = "Species"
VARIANT = "Variant"
CELL_LINE = "CellLine"
ENTITY_TYPES = (CHEMICAL, DISEASE, GENE, SPECIES, VARIANT, CELL_LINE)


@dataclass(frozen=True)
class Predicate:
    """A relationship type between concepts, with the entity types it may connect."""

    name: str
    subject_types: tuple[str, ...]
    object_types: tuple[str, ...]
    symmetric: bool = False
    description: str = ""


TREATS = Predicate("TREATS", (CHEMICAL,), (DISEASE,), description="a drug/chemical treats or prevents a disease")
CAUSES = Predicate(
    "CAUSES", (CHEMICAL, GENE, VARIANT), (DISEASE,),
    description="a chemical induces a disease or adverse effect (BC5CDR CID); a gene/variant causes a disease",
)
ASSOCIATED_WITH = Predicate(
    "ASSOCIATED_WITH", ENTITY_TYPES, ENTITY_TYPES, symmetric=True,
    description="a stated association without direction (BioRED Association)",
)
INTERACTS_WITH = Predicate(
    "INTERACTS_WITH", (CHEMICAL,), (CHEMICAL,), symmetric=True,
    description="drug-drug interaction (BioRED Drug_Interaction)",
)
BINDS = Predicate("BINDS", (CHEMICAL, GENE), (CHEMICAL, GENE), symmetric=True, description="physical binding")
INHIBITS = Predicate(
    "INHIBITS", (CHEMICAL, GENE, VARIANT), (CHEMICAL, GENE, DISEASE),
    description="negative correlation / inhibition / down-regulation",
)
STIMULATES = Predicate(
    "STIMULATES", (CHEMICAL, GENE, VARIANT), (CHEMICAL, GENE, DISEASE),
    description="positive correlation / activation / up-regulation",
)

PREDICATES: dict[str, Predicate] = {
    p.name: p for p in (TREATS, CAUSES, ASSOCIATED_WITH, INTERACTS_WITH, BINDS, INHIBITS, STIMULATES)
}


def check_predicate(name: str) -> str:
    """Return ``name`` if it is a known predicate, else raise ``ValueError`` naming the known ones."""
    if name not in PREDICATES:
        raise ValueError(f"Unknown predicate {name!r}. Available: {', '.join(PREDICATES)}")
    return name


# Properties of an aggregated predicate edge, in the order backends export them.
EDGE_PROPERTIES = ("support", "contradicting", "uncertain", "documents", "first_year", "last_year")
