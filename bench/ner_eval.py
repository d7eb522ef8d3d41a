"""Benchmark medkg's NER: strict-span P/R/F1 on the dev splits, throughput and load time.

Scores are strict: a predicted entity counts only if its character offsets and its label
equal a gold mention's. Corpora and the types scored on each:

* BC5CDR dev      - Chemical, Disease
* NCBI-disease dev - Disease (all four NCBI mention classes)
* BioRED dev      - Chemical, Disease, Gene, Species, Variant, CellLine

Throughput is words/s (whitespace-separated words of title + abstract) on one CPU core
(BLAS/OpenMP/torch threads = 1), on the PubMed abstracts of ``pubmed_abstracts``; it is
computed per CPU-second of the (single-threaded) process, so other load on the machine
does not distort it, and the wall-clock rate is reported beside it.

Corpus-specific components: a model may declare profiles (``meta["medkg"]["profiles"]``;
the shipped model has ``ncbi``, a Disease component fine-tuned on NCBI-disease train). The
table always scores the DEFAULT pipeline; for each ``--profile CORPUS=PROFILE`` (default
``ncbi_disease=ncbi`` when the model declares it) extra rows marked ``[profile ...]``
score that corpus with the profile switched on, same model directory, same weights.

Usage::

    python bench/ner_eval.py                       # shipped model, prints a table
    python bench/ner_eval.py --json bench/ner_eval.json --model data/models/medkg_ner
    python bench/ner_eval.py --model en_ner_bc5cdr_md   # a scispaCy model, if installed
"""
from __future__ import annotations

import os

# One core: set before numpy/torch are imported anywhere.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from nlp.train import CORPORA, LABEL_MAP, read_pubtator, resolve_datasets  # noqa: E402

SCORED = {
    "bc5cdr": ("Chemical", "Disease"),
    "ncbi_disease": ("Disease",),
    "biored": ("Chemical", "Disease", "Gene", "Species", "Variant", "CellLine"),
}


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(100 * p, 2), "r": round(100 * r, 2), "f1": round(100 * f, 2),
            "tp": tp, "fp": fp, "fn": fn}


def evaluate_corpus(nlp, path: Path, labels: tuple[str, ...], batch_size: int) -> dict:
    """Strict-span scores per label and micro-averaged over ``labels``."""
    docs = list(read_pubtator(path))
    counts = {label: Counter() for label in labels}
    for pdoc, doc in zip(docs, nlp.pipe((d.text for d in docs), batch_size=batch_size)):
        gold = set()
        for m in pdoc.mentions:
            label = LABEL_MAP.get(m.type)
            if label in labels:
                start, end = m.start, m.end
                while start < end and pdoc.text[start].isspace():
                    start += 1
                while end > start and pdoc.text[end - 1].isspace():
                    end -= 1
                gold.add((start, end, label))
        pred = {(e.start_char, e.end_char, e.label_) for e in doc.ents if e.label_ in labels}
        for label in labels:
            g = {x for x in gold if x[2] == label}
            p = {x for x in pred if x[2] == label}
            counts[label]["tp"] += len(g & p)
            counts[label]["fp"] += len(p - g)
            counts[label]["fn"] += len(g - p)
    result = {label: prf(c["tp"], c["fp"], c["fn"]) for label, c in counts.items()}
    total = sum(counts.values(), Counter())
    result["overall"] = prf(total["tp"], total["fp"], total["fn"])
    result["docs"] = len(docs)
    return result


def throughput(nlp, datasets: Path, batch_size: int, max_docs: int) -> dict:
    """Words/s of ``nlp.pipe`` over real abstracts, after one warm-up batch."""
    texts = []
    with open(datasets / "pubmed_abstracts" / "abstracts.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            texts.append(f"{rec.get('title', '')} {rec.get('abstract', '')}".strip())
            if len(texts) >= max_docs:
                break
    list(nlp.pipe(texts[:batch_size], batch_size=batch_size))  # warm-up
    words = sum(len(t.split()) for t in texts)
    tokens = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for doc in nlp.pipe(texts, batch_size=batch_size):
        tokens += len(doc)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    # Single-threaded, so CPU seconds = seconds on one core even when other processes
    # share the machine; wall-clock rates are reported too.
    return {"docs": len(texts), "words": words, "tokens": tokens,
            "wall_seconds": round(dt, 2), "cpu_seconds": round(dc, 2),
            "words_per_s": round(words / dc), "tokens_per_s": round(tokens / dc),
            "words_per_wall_s": round(words / dt)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="NER dev-set benchmark (strict spans) + throughput.")
    ap.add_argument("--model", default=None, help="model dir or package (default: shipped model)")
    ap.add_argument("--datasets", default=None, help="corpora dir (default $MEDKG_DATASETS or ../shared/datasets)")
    ap.add_argument("--json", dest="json_out", default=None, help="write the results as JSON here")
    ap.add_argument("--batch-size", type=int, default=32, help="nlp.pipe batch size (small: memory)")
    ap.add_argument("--throughput-docs", type=int, default=1000, help="abstracts timed for words/s")
    ap.add_argument("--corpora", default="bc5cdr,ncbi_disease,biored")
    ap.add_argument("--profile", action="append", default=None, metavar="CORPUS=PROFILE",
                    help="also score CORPUS with a corpus-specific profile of the model (default: "
                         "ncbi_disease=ncbi if the model has it); --profile none for no extra rows")
    args = ap.parse_args(argv)

    try:  # torch may be imported by a component; keep it on one thread too
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    try:  # belt and braces on top of the *_NUM_THREADS variables set above
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    import spacy  # noqa: F401 - import cost kept out of the load time

    from nlp.ner import load_ner, ner_profiles

    datasets = resolve_datasets(args.datasets)
    t0, c0 = time.perf_counter(), time.process_time()
    nlp = load_ner(args.model)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0

    results: dict = {
        "model": str(args.model or "data/models/medkg_ner"),
        "pipeline": nlp.pipe_names,
        "meta_version": nlp.meta.get("version"),
        "load_seconds": round(load_s, 2),
        "load_cpu_seconds": round(load_cpu, 2),
        "batch_size": args.batch_size,
        "scores": {},
    }
    for corpus in args.corpora.split(","):
        path = datasets / CORPORA[corpus]["dev"]
        results["scores"][corpus] = evaluate_corpus(nlp, path, SCORED[corpus], args.batch_size)
    profiles = ner_profiles(nlp)
    if args.profile is None:
        wanted = [("ncbi_disease", "ncbi")] if "ncbi" in profiles else []
    else:
        wanted = [tuple(p.split("=", 1)) for p in args.profile if p != "none"]
    wanted = [(c, p) for c, p in wanted if c in args.corpora.split(",")]
    # Throughput of the default pipeline, before any profile is switched on.
    results["throughput_1core"] = throughput(nlp, datasets, args.batch_size, args.throughput_docs)
    results["profile_scores"] = {}
    for corpus, profile in wanted:
        pnlp = load_ner(args.model, profile=profile)
        path = datasets / CORPORA[corpus]["dev"]
        res = evaluate_corpus(pnlp, path, SCORED[corpus], args.batch_size)
        res["pipeline"] = pnlp.pipe_names
        res["description"] = profiles.get(profile, {}).get("description", "")
        results["profile_scores"].setdefault(profile, {})[corpus] = res
    results["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    print(f"NER benchmark: {results['model']}  (load {results['load_seconds']} s wall, "
          f"{results['load_cpu_seconds']} s CPU)")
    print(f"{'corpus (dev)':<14} {'type':<9} {'P':>6} {'R':>6} {'F1':>6} {'gold':>6}")
    for corpus, res in results["scores"].items():
        for label in (*SCORED[corpus], "overall"):
            r = res[label]
            print(f"{corpus:<14} {label:<9} {r['p']:>6.2f} {r['r']:>6.2f} {r['f1']:>6.2f} "
                  f"{r['tp'] + r['fn']:>6}")
    for profile, by_corpus in results["profile_scores"].items():
        for corpus, res in by_corpus.items():
            for label in (*SCORED[corpus], "overall"):
                r = res[label]
                print(f"{corpus:<14} {label:<9} {r['p']:>6.2f} {r['r']:>6.2f} {r['f1']:>6.2f} "
                      f"{r['tp'] + r['fn']:>6}  [profile {profile}: corpus-specific component]")
    tp = results["throughput_1core"]
    print(f"throughput (1 core): {tp['words_per_s']} words/s per CPU-second, {tp['tokens_per_s']} "
          f"tokens/s; {tp['words_per_wall_s']} words/s wall-clock ({tp['docs']} abstracts, batch "
          f"{args.batch_size}); max RSS {results['max_rss_mb']} MB")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
