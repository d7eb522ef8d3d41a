"""Export the embedded graph as CSV for ``neo4j-admin database import full`` (bulk load).

Curators can build a large graph with the embedded store and bulk-load it into Neo4j, which
is much faster than transactional writes. The files use neo4j-admin's header syntax
(``id:ID(Label)``, ``:START_ID(Label)``, ``:END_ID(Label)``, ``:TYPE``, typed properties
``year:int``, arrays ``synonyms:string[]`` with ``;`` between items) and produce exactly the
graph :class:`kg.neo4j_store.Neo4jGraphStore` writes, so a bulk-loaded database can be used
by ``medkg --graph bolt://...`` directly (run ``medkg --graph bolt://... stats`` once after
loading: ``ensure_schema`` then creates the constraints and the full-text index).

Output (``medkg export DIR``)::

    documents.csv sentences.csv concepts.csv evidence.csv
    has_sentence.csv mentions.csv has_evidence.csv edges.csv
    import.sh   (the neo4j-admin command line for these files)
"""
from __future__ import annotations

import csv
import shlex
from pathlib import Path
from typing import Iterable, Sequence

from kg.schema import CONCEPT, DOCUMENT, EVIDENCE, HAS_EVIDENCE, HAS_SENTENCE, MENTIONS, SENTENCE
from kg.sqlite_store import SQLiteGraphStore

FLAGS = ("negated", "uncertain", "historical", "hypothetical", "family")
ARRAY_DELIMITER = ";"


def _bool(v) -> str:
    return "true" if v else "false"


def _opt(v) -> str:
    return "" if v is None else str(v)


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            n += 1
    return n


def export_csv(store: SQLiteGraphStore, out_dir: str | Path, database: str = "neo4j") -> dict[str, int]:
    """Write the CSV files and ``import.sh``; returns rows written per file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    q = store._query
    counts: dict[str, int] = {}
    counts["documents.csv"] = _write(
        out / "documents.csv",
        ["id:ID(Document)", "title", "source", "kind", "year:int", "journal", "content_hash", ":LABEL"],
        ((r["id"], r["title"], r["source"], r["kind"], _opt(r["year"]), r["journal"], r["content_hash"], DOCUMENT)
         for r in q("SELECT * FROM documents ORDER BY id")))
    counts["sentences.csv"] = _write(
        out / "sentences.csv",
        ["id:ID(Sentence)", "uid:long", "doc_id", "idx:int", "start:int", "end:int", "text", "section", ":LABEL"],
        ((r["id"], r["uid"], r["doc_id"], r["idx"], r["start"], r["end"], r["text"], r["section"], SENTENCE)
         for r in q("SELECT * FROM sentences ORDER BY doc_id, idx")))
    synonyms: dict[str, list[str]] = {}
    for r in q("SELECT concept_id, name FROM concept_names ORDER BY concept_id, count DESC, name"):
        synonyms.setdefault(r[0], []).append(r[1].replace(ARRAY_DELIMITER, ","))
    counts["concepts.csv"] = _write(
        out / "concepts.csv",
        ["id:ID(Concept)", "name", "type", "vocab", "synonyms:string[]", "mentions:int", "documents:int", ":LABEL"],
        ((r["id"], r["name"], r["type"], r["vocab"], ARRAY_DELIMITER.join(synonyms.get(r["id"], [])),
          r["mentions"], r["documents"], CONCEPT) for r in q("SELECT * FROM concepts ORDER BY id")))
    ev_cols = ["predicate", "subject_id", "object_id", "doc_id", "sentence_id"]
    counts["evidence.csv"] = _write(
        out / "evidence.csv",
        ["id:ID(Evidence)", *ev_cols, "sentence_uid:long", "confidence:float", "trigger", "method", "year:int",
         *(f"{f}:boolean" for f in FLAGS), ":LABEL"],
        ((r["id"], *(r[c] for c in ev_cols), r["sentence_uid"], r["confidence"], r["trigger"], r["method"],
          _opt(r["year"]), *(_bool(r[f]) for f in FLAGS), EVIDENCE) for r in q("SELECT * FROM evidence ORDER BY id")))
    counts["has_sentence.csv"] = _write(
        out / "has_sentence.csv", [":START_ID(Document)", ":END_ID(Sentence)", ":TYPE"],
        ((r["doc_id"], r["id"], HAS_SENTENCE) for r in q("SELECT doc_id, id FROM sentences ORDER BY doc_id, idx")))
    counts["mentions.csv"] = _write(
        out / "mentions.csv",
        [":START_ID(Sentence)", ":END_ID(Concept)", "start:int", "end:int", "text", "label", "score:float",
         *(f"{f}:boolean" for f in FLAGS), "concept_name", "vocab", ":TYPE"],
        ((r["sid"], r["concept_id"], r["start"], r["end"], r["text"], r["label"], r["score"],
          *(_bool(r[f]) for f in FLAGS), r["concept_name"], r["vocab"], MENTIONS)
         for r in q("SELECT m.*, s.id AS sid FROM mentions m JOIN sentences s ON s.uid = m.sentence_uid ORDER BY m.id")))
    counts["has_evidence.csv"] = _write(
        out / "has_evidence.csv", [":START_ID(Sentence)", ":END_ID(Evidence)", ":TYPE"],
        ((r["sentence_id"], r["id"], HAS_EVIDENCE) for r in q("SELECT sentence_id, id FROM evidence ORDER BY id")))
    counts["edges.csv"] = _write(
        out / "edges.csv",
        [":START_ID(Concept)", ":END_ID(Concept)", ":TYPE", "support:int", "contradicting:int", "uncertain:int",
         "documents:int", "first_year:int", "last_year:int"],
        ((r["subject_id"], r["object_id"], r["predicate"], r["support"], r["contradicting"], r["uncertain"],
          r["documents"], _opt(r["first_year"]), _opt(r["last_year"]))
         for r in q("SELECT * FROM edges ORDER BY subject_id, predicate, object_id")))
    nodes = ["documents.csv", "sentences.csv", "concepts.csv", "evidence.csv"]
    rels = ["has_sentence.csv", "mentions.csv", "has_evidence.csv", "edges.csv"]
    cmd = ["neo4j-admin", "database", "import", "full", database, "--overwrite-destination",
           f"--array-delimiter={ARRAY_DELIMITER}", "--multiline-fields=true",
           *(f"--nodes={n}" for n in nodes), *(f"--relationships={r}" for r in rels)]
    (out / "import.sh").write_text(
        "#!/usr/bin/env bash\n# Bulk-load this export into a STOPPED Neo4j 5 server (run from this directory).\n"
        "set -euo pipefail\ncd \"$(dirname \"$0\")\"\n" + " ".join(shlex.quote(c) for c in cmd) + "\n")
    (out / "import.sh").chmod(0o755)
    return counts
