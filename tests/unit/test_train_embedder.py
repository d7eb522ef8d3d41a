"""Embedder fine-tuning data handling: the query split keeps the reserved and held-out queries out
of training, and batches never hold a false in-batch negative."""
from __future__ import annotations

import random

from retrieval.evaluation import ndcg_at, read_qrels, recall_at
from retrieval.train_embedder import make_batches, split_queries


def _qrels(n_queries: int = 40, n_docs: int = 60, seed: int = 0) -> dict[str, dict[str, int]]:
    rng = random.Random(seed)
    return {f"q{i}": {f"d{j}": rng.choice((1, 2)) for j in rng.sample(range(n_docs), 4)} for i in range(n_queries)}


def test_split_queries_reserves_the_first_judged_queries_and_holds_out_a_seeded_sample():
    qrels = _qrels()
    qrels["q_unjudged"] = {"d1": 0}
    queries = {q: f"text {q}" for q in qrels}
    reserved, held, train = split_queries(qrels, queries, reserve=5, heldout=7, seed=3)
    assert reserved == [f"q{i}" for i in range(5)]
    assert len(held) == 7 and len(train) == 40 - 5 - 7
    assert not set(reserved) & set(held) and not set(held) & set(train) and not set(reserved) & set(train)
    assert "q_unjudged" not in reserved + held + train
    assert split_queries(qrels, queries, 5, 7, seed=3) == (reserved, held, train)
    assert split_queries(qrels, queries, 5, 7, seed=4)[1] != held


def test_batches_hold_no_false_negatives():
    qrels = _qrels(n_queries=60, n_docs=40)
    pairs = [(q, d, f"sentence of {d} for {q}") for q, rels in qrels.items() for d in rels]
    batches = make_batches(pairs, qrels, batch_size=8, rng=random.Random(1))
    assert batches and all(len(b) <= 8 for b in batches)
    for batch in batches:
        queries = [q for q, _, _ in batch]
        docs = [d for _, d, _ in batch]
        assert len(set(queries)) == len(queries) and len(set(docs)) == len(docs)
        for q, d, _ in batch:  # no other pair's positive is relevant to this query
            assert not any(d2 in qrels[q] for q2, d2, _ in batch if q2 != q)
    seen = [p for b in batches for p in b]
    assert len(seen) == len(set(seen)) and set(seen) <= set(pairs)


def test_metrics_and_qrels_reader(tmp_path):
    f = tmp_path / "qrels.tsv"
    f.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq1\td3\t0\nq2\td9\tbad\n")
    qrels = read_qrels(f)
    assert qrels == {"q1": {"d1": 2, "d2": 1, "d3": 0}}
    assert ndcg_at(["d1", "d2"], qrels["q1"]) == 1.0
    assert 0 < ndcg_at(["d2", "d1"], qrels["q1"]) < 1.0
    assert ndcg_at(["d3", "x"], qrels["q1"]) == 0.0
    assert recall_at(["d2", "d3"], qrels["q1"], 100) == 0.5
