"""End-to-end ingest benchmark: documents/s, per-stage split and peak RSS.

Ingests the shared PubMed abstracts (default: all 1,990 of
``../shared/datasets/pubmed_abstracts/abstracts.jsonl``) into a fresh embedded store, once per
configuration (``--workers 1`` is the baseline, measured in the same run as the others), and
prints a table; ``--out`` writes JSON. Each configuration runs in its own process so peak RSS
is its own (``ru_maxrss`` of the process plus its NLP workers). ``--precision`` adds the embedding
precision as a second axis (``fp32`` = the plain sentence-transformers path, ``auto`` = bf16 documents
on CPUs with native bf16); with ``--repeat`` the configurations run interleaved, round by round.

    python bench/ingest.py --workers 1 2 --out bench/results/ingest.json
    python bench/ingest.py --workers 1 2 --precision fp32 auto --limit 500 --out bench/results/ingest_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "datasets" / "pubmed_abstracts" / "abstracts.jsonl"


def run_one(src: Path, workers: int, limit: int | None, ner: str, precision: str = "auto",
            torch_threads: int | None = None) -> dict:
    """In a child process: ingest into a temp home, return the report + RSS."""
    sys.path.insert(0, str(REPO))
    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    from retrieval.app import Medkg
    from retrieval.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "input.jsonl"
        with open(src) as f, open(inp, "w") as out:
            for i, line in enumerate(f):
                if limit is not None and i >= limit:
                    break
                out.write(line)
        app = Medkg(Settings.load({"home": Path(tmp) / "home", "workers": workers, "ner": ner,
                                    "embedding_precision": precision}))
        t = time.perf_counter()
        # model loading is not ingest throughput: load before the clock starts
        app.nlp
        app.embedder.embed_documents(["warm-up"] * 32)  # a bulk-sized batch: loads the document path
        load_s = time.perf_counter() - t
        cpu0, kids0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        report = app.ingest([inp])
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = time.process_time() - cpu0 + (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        stats = app.store.stats()
        app.close()
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"workers": workers, "ner": ner, "precision": precision, "torch_threads": torch_threads,
            "documents": report.read, "ingested": report.ingested,
            "sentences": report.sentences, "seconds": round(report.seconds, 2),
            "docs_per_s": round(report.read / report.seconds, 2),
            "sentences_per_s": round(report.sentences / report.seconds, 1),
            "stage_seconds": report.to_dict()["stage_seconds"], "model_load_s": round(load_s, 2),
            "cpu_s": round(cpu_s, 1), "cpu_ms_per_doc": round(1000 * cpu_s / max(report.read, 1), 1),
            "peak_rss_mb": round(rss_self, 1), "peak_rss_worker_mb": round(rss_children, 1),
            "edges": stats.edges, "evidence": stats.evidence}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--limit", type=int, default=None, help="only the first N documents")
    ap.add_argument("--ner", default="trained")
    ap.add_argument("--precision", nargs="+", default=["auto"],
                    help="embedding precisions (retrieval.embedder.PRECISIONS); the first is the baseline")
    ap.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads in each run")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration (median reported)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        w, precision = args.child.split(":")
        print(json.dumps(run_one(args.input, int(w), args.limit, args.ner, precision, args.torch_threads)))
        return
    configs = [(p, w) for p in args.precision for w in args.workers]
    runs: dict = {c: [] for c in configs}
    for _ in range(args.repeat):  # interleaved: every configuration once per round
        for p, w in configs:
            cmd = [sys.executable, __file__, "--child", f"{w}:{p}", "--input", str(args.input), "--ner", args.ner]
            if args.limit:
                cmd += ["--limit", str(args.limit)]
            if args.torch_threads:
                cmd += ["--torch-threads", str(args.torch_threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
            if out.returncode != 0:
                sys.exit(f"benchmark child failed:\n{out.stderr[-3000:]}")
            runs[(p, w)].append(json.loads(out.stdout.strip().splitlines()[-1]))
    results = []
    for c in configs:
        rs = runs[c]
        med = dict(sorted(rs, key=lambda r: r["docs_per_s"])[len(rs) // 2])
        med["runs_docs_per_s"] = [r["docs_per_s"] for r in rs]
        med["median_docs_per_s"] = statistics.median(med["runs_docs_per_s"])
        results.append(med)
    base = results[0]["median_docs_per_s"]
    print(f"{'precision':>10} {'workers':>7} {'docs':>6} {'docs/s':>8} {'sent/s':>8} {'x base':>7} {'read':>6} {'nlp':>7} {'graph':>6} "
          f"{'embed':>7} {'index':>6} {'CPU ms/doc':>10} {'RSS MB':>7} {'worker MB':>9}")
    for r in results:
        st = r["stage_seconds"]
        print(f"{r['precision']:>10} {r['workers']:>7} {r['documents']:>6} {r['median_docs_per_s']:>8.2f} {r['sentences_per_s']:>8.1f} "
              f"{r['median_docs_per_s'] / base:>7.2f} {st['read']:>6.1f} {st['nlp']:>7.1f} {st['graph']:>6.1f} "
              f"{st['embed']:>7.1f} {st['index']:>6.1f} {r['cpu_ms_per_doc']:>10.1f} {r['peak_rss_mb']:>7.0f} {r['peak_rss_worker_mb']:>9.0f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"input": str(args.input), "cpu_count": os.cpu_count(), "results": results},
                                       indent=2))


if __name__ == "__main__":
    main()
