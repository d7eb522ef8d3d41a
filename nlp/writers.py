"""Write extractions for curators: PubTator (BC5CDR/BioRED style) and JSONL.

PubTator output, per document::

    PMID|t|title
    PMID|a|abstract
    PMID<TAB>start<TAB>end<TAB>text<TAB>Type<TAB>ConceptID      (offsets into title + " " + abstract)
    PMID<TAB>CID<TAB>chemicalID<TAB>diseaseID                   (chemical-induced disease, document level)
    PMID<TAB>PREDICATE<TAB>id1<TAB>id2                          (other relations)

MeSH ids are written as BC5CDR does (``D012345``), NCBI Gene / Taxonomy ids as bare numbers,
other vocabularies as CURIEs (``HP:0001627``), unlinked mentions as ``-``. Negated relations
are not written as relations (they are contradicting evidence), and negated mentions keep
their line (a mention is a mention); JSONL carries every flag.
"""
from __future__ import annotations

from typing import Any

from nlp.extraction import ASSERTION_FLAGS, Extraction

PUBTATOR_TYPES = ("Chemical", "Disease", "Gene", "Species", "Variant", "CellLine")


def pubtator_id(concept_id: str) -> str:
    prefix, _, local = concept_id.partition(":")
    if prefix == "MESH":
        return local
    if prefix in ("NCBIGene", "NCBITaxon"):
        return local
    if prefix == "TXT" or not local:
        return "-"
    return concept_id


def cid_pairs(ex: Extraction) -> set[tuple[str, str]]:
    """Document-level chemical-induced-disease pairs (concept ids), from the relation model when
    available, else from the sentence-level CAUSES relations (not negated)."""
    try:
        from nlp.relation_model import document_cid_pairs  # trained model's document-level decision
    except ImportError:
        document_cid_pairs = None
    if document_cid_pairs is not None:
        return set(document_cid_pairs(ex))
    pairs = set()
    for r in ex.relations:
        if r.predicate != "CAUSES" or r.negated:
            continue
        s = ex.sentences[r.sentence]
        subj, obj = s.mentions[r.subject], s.mentions[r.object]
        if subj.label == "Chemical" and obj.label == "Disease":
            pairs.add((subj.concept_id, obj.concept_id))
    return pairs


def to_pubtator(ex: Extraction) -> str:
    doc = ex.document
    pmid = doc.metadata.get("pmid") or doc.id
    lines = [f"{pmid}|t|{doc.title}", f"{pmid}|a|{doc.text}"]
    for _, m in ex.mentions():
        if m.label in PUBTATOR_TYPES:
            lines.append(f"{pmid}\t{m.start}\t{m.end}\t{m.text}\t{m.label}\t{pubtator_id(m.concept_id)}")
    cids = cid_pairs(ex)
    for chem, dis in sorted(cids):
        if pubtator_id(chem) != "-" and pubtator_id(dis) != "-":
            lines.append(f"{pmid}\tCID\t{pubtator_id(chem)}\t{pubtator_id(dis)}")
    seen = set()
    for r in ex.relations:
        if r.negated:
            continue
        s = ex.sentences[r.sentence]
        a, b = s.mentions[r.subject], s.mentions[r.object]
        if r.predicate == "CAUSES" and (a.concept_id, b.concept_id) in cids:
            continue
        key = (r.predicate, pubtator_id(a.concept_id), pubtator_id(b.concept_id))
        if "-" in key[1:] or key in seen:
            continue
        seen.add(key)
        lines.append(f"{pmid}\t{key[0]}\t{key[1]}\t{key[2]}")
    return "\n".join(lines) + "\n\n"


def to_json(ex: Extraction) -> dict[str, Any]:
    doc = ex.document
    mentions = []
    index = {}
    for si, s in enumerate(ex.sentences):
        for mi, m in enumerate(s.mentions):
            index[(si, mi)] = len(mentions)
            mentions.append({"start": m.start, "end": m.end, "text": m.text, "type": m.label,
                             "concept_id": m.concept_id, "concept_name": m.concept_name, "vocab": m.vocab,
                             "score": m.score, "sentence": si,
                             **{f: getattr(m, f) for f in ASSERTION_FLAGS}})
    relations = [{"predicate": r.predicate, "subject": index[(r.sentence, r.subject)],
                  "object": index[(r.sentence, r.object)], "sentence": r.sentence, "trigger": r.trigger,
                  "confidence": r.confidence, "method": r.method,
                  **{f: getattr(r, f) for f in ASSERTION_FLAGS}} for r in ex.relations]
    return {"id": doc.id, "title": doc.title, "text": doc.text, "kind": doc.kind,
            "metadata": {k: v for k, v in doc.metadata.items() if k not in ("annotations", "relations")},
            "sentences": [{"index": s.index, "start": s.start, "end": s.end, "section": s.section}
                          for s in ex.sentences],
            "mentions": mentions, "relations": relations,
            "cid_pairs": sorted([list(p) for p in cid_pairs(ex)])}
