"""Flatten an :class:`~nlp.extraction.Extraction` into the plain rows every backend writes.

Both the SQLite and the Neo4j store write exactly these rows, so ids, deduplication and
the orientation of symmetric predicates are decided once, here, and the backends agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kg.schema import PREDICATES
from nlp.extraction import ASSERTION_FLAGS, Extraction, sentence_id, sentence_uid


def orient(predicate: str, subject_id: str, object_id: str) -> tuple[str, str]:
    """Symmetric predicates are stored once, with the smaller concept id as subject."""
    if PREDICATES[predicate].symmetric and object_id < subject_id:
        return object_id, subject_id
    return subject_id, object_id


def evidence_id(sent_id: str, predicate: str, subject_id: str, object_id: str) -> str:
    return f"{sent_id}|{predicate}|{subject_id}|{object_id}"


def _polarity_rank(row: dict[str, Any]) -> int:
    # When one sentence states the same fact twice, keep the asserted reading over a hedged
    # one over a negated one: a sentence counts once for an edge.
    return 2 if row["negated"] else 1 if row["uncertain"] else 0


@dataclass
class DocumentRows:
    """Everything one document contributes to the graph, as backend-neutral rows."""

    document: dict[str, Any]
    sentences: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    concepts: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {id, name, type, vocab}
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def edge_keys(self) -> set[tuple[str, str, str]]:
        return {(e["subject_id"], e["predicate"], e["object_id"]) for e in self.evidence}


def document_rows(ex: Extraction) -> DocumentRows:
    """Rows for one extraction. Raises ``ValueError`` on an unknown predicate or a bad mention index."""
    doc = ex.document
    year = doc.year
    rows = DocumentRows(
        document={
            "id": doc.id,
            "title": doc.title,
            "source": doc.source,
            "kind": doc.kind,
            "year": year,
            "journal": str(doc.metadata.get("journal") or ""),
            "content_hash": doc.content_hash,
        }
    )
    for sent in ex.sentences:
        sid = sentence_id(doc.id, sent.index)
        uid = sentence_uid(doc.id, sent.index)
        rows.sentences.append(
            {"uid": uid, "id": sid, "doc_id": doc.id, "idx": sent.index, "start": sent.start,
             "end": sent.end, "text": sent.text, "section": sent.section}
        )
        for m in sent.mentions:
            rows.mentions.append(
                {"sentence_uid": uid, "sentence_id": sid, "doc_id": doc.id, "concept_id": m.concept_id,
                 "start": m.start, "end": m.end, "text": m.text, "label": m.label, "score": float(m.score),
                 **{f: bool(getattr(m, f)) for f in ASSERTION_FLAGS}}
            )
            known = rows.concepts.get(m.concept_id)
            if known is None:
                rows.concepts[m.concept_id] = {"id": m.concept_id, "name": m.concept_name or m.text,
                                               "type": m.label, "vocab": m.vocab}
    best: dict[str, dict[str, Any]] = {}
    for rel in ex.relations:
        if rel.predicate not in PREDICATES:
            raise ValueError(f"document {doc.id}: unknown predicate {rel.predicate!r}")
        try:
            sent = ex.sentences[rel.sentence]
            subj, obj = sent.mentions[rel.subject], sent.mentions[rel.object]
        except IndexError:
            raise ValueError(f"document {doc.id}: relation points at a missing sentence/mention") from None
        if subj.concept_id == obj.concept_id:
            continue  # a concept related to itself is noise, not a fact
        s_id, o_id = orient(rel.predicate, subj.concept_id, obj.concept_id)
        sid = sentence_id(doc.id, sent.index)
        eid = evidence_id(sid, rel.predicate, s_id, o_id)
        row = {"id": eid, "predicate": rel.predicate, "subject_id": s_id, "object_id": o_id,
               "doc_id": doc.id, "sentence_id": sid, "sentence_uid": sentence_uid(doc.id, sent.index),
               "confidence": float(rel.confidence), "trigger": rel.trigger, "method": rel.method, "year": year,
               **{f: bool(getattr(rel, f)) for f in ASSERTION_FLAGS}}
        prev = best.get(eid)
        if prev is None or (_polarity_rank(row), -row["confidence"]) < (_polarity_rank(prev), -prev["confidence"]):
            best[eid] = row
    rows.evidence = list(best.values())
    return rows
