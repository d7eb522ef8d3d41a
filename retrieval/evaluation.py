"""BEIR-format evaluation files and ranking metrics, shared by ``bench/retrieval_eval.py`` and
``retrieval/train_embedder.py`` (one definition of nDCG for the benchmark and for checkpoint choice).

* queries: JSONL with ``_id`` and ``text``;
* qrels: ``query-id  corpus-id  score`` TSV, header optional;
* ``ndcg_at``: pytrec_eval's nDCG@k (gain = grade, log2 discount, ideal ranking from the qrels);
* ``recall_at``: share of the relevant (grade > 0) documents in the top k.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path


def read_queries(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                out[str(obj["_id"])] = obj["text"]
    return out


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id  corpus-id  score`` TSV (header optional) -> {query: {doc: grade}}, in file order."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            try:
                grade = int(float(row[2]))
            except ValueError:
                continue
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """nDCG@k, pytrec_eval's definition (gain = grade, log2 discount, ideal from the qrels)."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if rels.get(d, 0) > 0)
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, g in rels.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0
