"""Sentence-embedding speed and quality on CPU, per precision / backend variant.

Three parts, each measured against a same-run baseline:

1. ``speed``: sentences/s (median of ``--repeat`` rounds; the variants run interleaved, their order
   rotated every round) on ``--sentences`` real PubMed sentences (from
   ``../shared/datasets/pubmed_abstracts``), with CPU time per sentence, and the mean / min cosine
   of each variant's vectors to the sentence-transformers fp32 vectors of the same sentences.
2. ``overlap``: retrieval quality. ``--queries`` NFCorpus dev questions, encoded on the fp32 NumPy
   query path, search ``--docs`` NFCorpus corpus sentences embedded by each variant in
   ``--overlap``; reported: mean |top10(variant) & top10(fp32)| / 10 (recall@10 of the variant
   against all-fp32 retrieval).
3. ``cold``: a fresh process per run (interleaved): import + model load + first ``embed_query``,
   NumPy path (``precision=auto``) vs the sentence-transformers path (``precision=fp32``), whether
   torch got imported, and the warm per-query latency of both in one process.

    python bench/embed_speed.py --out bench/results/embed_speed.json
    python bench/embed_speed.py --parts speed --variants st-fp32 st-int8 --sentences 500
    python bench/embed_speed.py --parts speed overlap --variants st-fp32-1t st-bf16-1t st-int8-1t ort-fp32-1t ort-int8-1t \
        --overlap st-bf16-1t st-int8-1t ort-int8-1t   (ort-*: needs onnxruntime, see onnx_runtime())
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASETS = REPO.parent / "shared" / "datasets"
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in _SPLIT.split(text or "") if len(s.strip()) > 3]


def pubmed_sentences(path: Path, n: int, seed: int = 0) -> list[str]:
    sents = []
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            sents.append(d["title"])
            sents.extend(sentences_of(d.get("abstract", "")))
    random.Random(seed).shuffle(sents)
    return sents[:n]


def nfcorpus(path: Path, n_docs: int, n_queries: int) -> tuple[list[str], list[str]]:
    sents = []
    with open(path / "corpus.jsonl") as f:
        for line in f:
            d = json.loads(line)
            sents.append(d.get("title", ""))
            sents.extend(sentences_of(d.get("text", "")))
            if len(sents) >= n_docs:
                break
    qtext = {}
    with open(path / "queries.jsonl") as f:
        for line in f:
            d = json.loads(line)
            qtext[d["_id"]] = d["text"]
    dev = []
    with open(path / "qrels" / "dev.tsv") as f:
        next(f)
        for line in f:
            q = line.split("\t")[0]
            if q in qtext and q not in dev:
                dev.append(q)
    return [s for s in sents if s][:n_docs], [qtext[q] for q in dev[:n_queries]]


# ---------------------------------------------------------------------------- variants
def _threads(n: int | None):
    import torch

    if n:
        torch.set_num_threads(n)


def make_variants(names: list[str]) -> dict:
    """name -> (encode(texts) -> vectors, load seconds, description)."""
    import torch

    from retrieval.embedder import SentenceTransformerEmbedder

    default_threads = torch.get_num_threads()
    out = {}

    def embedder(precision: str, threads: int | None = None, **kw):
        t = time.perf_counter()
        e = SentenceTransformerEmbedder(device="cpu", precision=precision, **kw)
        if precision == "fp32-numpy":
            e._numpy_encoder()
        else:
            e._load()

        def enc(texts):
            _threads(threads or default_threads)
            if precision == "fp32-numpy":
                if threads:
                    from threadpoolctl import threadpool_limits

                    with threadpool_limits(limits=threads):
                        return e.embed_documents(texts)
            return e.embed_documents(texts)

        return enc, time.perf_counter() - t, e

    @contextlib.contextmanager
    def quantized_engine(engine: str):
        old = torch.backends.quantized.engine
        torch.backends.quantized.engine = engine
        try:
            yield
        finally:
            torch.backends.quantized.engine = old

    def stock_int8(engine: str, qconfig_spec, threads: int | None = None):
        """torch's stock ``quantize_dynamic`` of the fp32 model, quantized and run under ``engine``."""
        from torch.ao.quantization import quantize_dynamic

        t = time.perf_counter()
        e = SentenceTransformerEmbedder(device="cpu", precision="fp32")
        with quantized_engine(engine):
            quantize_dynamic(e._load(), qconfig_spec, dtype=torch.qint8, inplace=True)
        dt = time.perf_counter() - t

        def enc(texts):
            _threads(threads or default_threads)
            with quantized_engine(engine):
                return e.embed_documents(texts)

        return enc, dt

    def onnx_runtime(quantize: bool, threads: int | None = None):
        """The model's transformer exported to ONNX, fused by onnxruntime's BERT optimizer, optionally
        int8 (``quantize_dynamic``, per-channel weights), run by onnxruntime on CPU; mean pooling and
        normalisation as the model's modules say (mean, normalised: all-MiniLM-L6-v2).
        Needs ``pip install onnxruntime==1.30.0 onnx==1.23.1 "numpy<2"`` (not a medkg dependency)."""
        import tempfile

        import onnx
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        from retrieval.embedder import DEFAULT_MODEL, resolve_model_path

        t = time.perf_counter()
        path = str(resolve_model_path(DEFAULT_MODEL))
        tok = AutoTokenizer.from_pretrained(path)
        cfg = AutoConfig.from_pretrained(path)
        work = Path(tempfile.mkdtemp(prefix="medkg-onnx-"))
        base = AutoModel.from_pretrained(path, attn_implementation="eager").eval()

        class Hidden(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

        names_in = ["input_ids", "attention_mask", "token_type_ids"]
        ex = tok(["warm up", "a b c d"], padding=True, return_tensors="pt")
        torch.onnx.export(Hidden(base), tuple(ex[n] for n in names_in), str(work / "raw.onnx"), input_names=names_in,
                          output_names=["hidden"], opset_version=17, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in names_in + ["hidden"]})
        optimize_model(str(work / "raw.onnx"), model_type="bert", num_heads=cfg.num_attention_heads,
                       hidden_size=cfg.hidden_size).save_model_to_file(str(work / "opt.onnx"))
        model = work / "opt.onnx"
        if quantize:
            quantize_dynamic(str(model), str(work / "int8.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            model = work / "int8.onnx"
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or default_threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        dt = time.perf_counter() - t

        def enc(texts, batch_size: int = 64):
            order = np.argsort([len(x) for x in texts], kind="stable")
            out = np.zeros((len(texts), cfg.hidden_size), np.float32)
            for lo in range(0, len(texts), batch_size):
                idx = order[lo:lo + batch_size]
                b = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=256, return_tensors="np")
                hidden = sess.run(None, {n: b[n].astype(np.int64) for n in names_in})[0]
                mask = b["attention_mask"][..., None].astype(np.float32)
                v = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
                out[idx] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            return out

        return enc, dt

    for full in names:
        # "<variant>-1t": the same variant with one torch / BLAS thread
        name, one = (full[:-3], True) if full.endswith("-1t") else (full, False)
        threads = 1 if one else None
        desc = full
        if name == "st-fp32":
            enc, dt, _ = embedder("fp32", threads)
            desc = "sentence-transformers fp32 (the old path), batch 64"
        elif name == "numpy-fp32":
            enc, dt, _ = embedder("fp32-numpy", threads)
            desc = "NumPy/OpenBLAS fp32 (retrieval.minilm_numpy), length-sorted batches of 64"
        elif name == "st-int8":
            enc, dt, _ = embedder("int8", threads)
            desc = "SmoothQuant int8 (alpha 0.7, per-channel weights, 8-bit dynamic activations, fbgemm VNNI)"
        elif name.startswith("st-int8-b"):
            bs = int(name.rsplit("b", 1)[1])
            enc, dt, _ = embedder("int8", batch_size=bs)
            desc = f"int8 per-channel, batch {bs}"
        elif name == "st-int8-msl128":
            enc, dt, e = embedder("int8")
            e._model.max_seq_length = 128
            desc = "int8 per-channel, max_seq_length 128"
        elif name == "st-int8-tensor":
            enc, dt = stock_int8("x86", {torch.nn.Linear}, threads)
            desc = "torch's stock quantize_dynamic: int8 per-tensor weights, 7-bit activations"
        elif name == "st-int8-onednn":
            from torch.ao.quantization import per_channel_dynamic_qconfig

            enc, dt = stock_int8("onednn", {torch.nn.Linear: per_channel_dynamic_qconfig}, threads)
            desc = "stock quantize_dynamic per-channel, onednn engine"
        elif name == "st-bf16":
            enc, dt, _ = embedder("bf16", threads)
            desc = "bfloat16 weights and activations"
        elif name == "st-bf16-autocast":
            t = time.perf_counter()
            e = SentenceTransformerEmbedder(device="cpu", precision="fp32")
            e._load()
            dt = time.perf_counter() - t

            def enc(texts, e=e, th=threads):
                _threads(th or default_threads)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return e.embed_documents(texts)
            desc = "fp32 weights, torch.autocast(cpu, bfloat16)"
        elif name in ("ort-fp32", "ort-int8"):
            enc, dt = onnx_runtime(name == "ort-int8", threads)
            desc = ("onnxruntime 1.30, fused BERT graph, " +
                    ("int8 dynamic (per-channel weights)" if name == "ort-int8" else "fp32"))
        elif name == "st-compile":
            t = time.perf_counter()
            e = SentenceTransformerEmbedder(device="cpu", precision="fp32")
            m = e._load()
            m[0].auto_model = torch.compile(m[0].auto_model, dynamic=True)
            dt = time.perf_counter() - t
            enc = lambda texts, e=e, th=threads: (_threads(th or default_threads), e.embed_documents(texts))[1]  # noqa: E731
            desc = "fp32, torch.compile(dynamic=True) (inductor)"
        else:
            raise SystemExit(f"unknown variant {name!r}")
        if one:
            desc += ", 1 thread"
        try:
            enc(["warm-up sentence about aspirin and myocardial infarction."] * 8)
        except Exception as ex:  # e.g. torch.compile without a working toolchain
            print(f"variant {full} failed to run: {type(ex).__name__}: {ex}"[:400], file=sys.stderr)
            continue
        out[full] = (enc, dt, desc)
    _threads(default_threads)
    return out


def part_speed(variants: dict, sents: list[str], repeat: int) -> list[dict]:
    names = list(variants)
    times = {n: [] for n in names}
    cpu = {n: [] for n in names}
    vecs = {}
    for r in range(repeat):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            enc = variants[n][0]
            t, c = time.perf_counter(), time.process_time()
            v = enc(sents)
            times[n].append(time.perf_counter() - t)
            cpu[n].append(time.process_time() - c)
            vecs[n] = v
    ref = vecs.get("st-fp32")
    rows = []
    base = statistics.median(times["st-fp32"]) if "st-fp32" in times else None
    for n in names:
        med = statistics.median(times[n])
        cos = (vecs[n] * ref).sum(1) if ref is not None else None
        rows.append({"variant": n, "description": variants[n][2], "load_s": round(variants[n][1], 2),
                     "sentences": len(sents), "runs_s": [round(x, 2) for x in times[n]],
                     "median_s": round(med, 3), "sentences_per_s": round(len(sents) / med, 1),
                     "speedup_vs_st_fp32": round(base / med, 2) if base else None,
                     "cpu_ms_per_sentence": round(1000 * statistics.median(cpu[n]) / len(sents), 2),
                     "cpu_over_wall": round(statistics.median(cpu[n]) / med, 2),
                     "mean_cos_to_fp32": round(float(cos.mean()), 5) if cos is not None else None,
                     "min_cos_to_fp32": round(float(cos.min()), 5) if cos is not None else None})
    return rows


def part_overlap(variants: dict, names: list[str], docs: list[str], queries: list[str], k: int = 10,
                 ref: str = "st-fp32") -> list[dict]:
    from retrieval.embedder import SentenceTransformerEmbedder

    qe = SentenceTransformerEmbedder(device="cpu", precision="fp32-numpy")
    q = np.stack([qe.embed_query(x) for x in queries])
    rows, top = [], {}
    for n in [ref] + [x for x in names if x != ref]:
        t = time.perf_counter()
        d = variants[n][0](docs)
        dt = time.perf_counter() - t
        s = q @ d.T
        top[n] = np.argsort(-s, axis=1)[:, :k]
        row = {"variant": n, "docs": len(docs), "queries": len(queries), "encode_s": round(dt, 1)}
        if n != ref:
            ov = [len(set(a) & set(b)) / k for a, b in zip(top[n], top[ref])]
            row["recall_at_10_vs_fp32"] = round(float(np.mean(ov)), 4)
            row["min_query_overlap"] = round(float(np.min(ov)), 2)
            row["top1_agreement"] = round(float(np.mean(top[n][:, 0] == top[ref][:, 0])), 4)
        rows.append(row)
        print(f"  overlap {n}: {row}", file=sys.stderr)
    return rows


_COLD = r"""
import sys, time, json
t0 = time.perf_counter(); c0 = time.process_time()
sys.path.insert(0, {repo!r})
from retrieval.embedder import SentenceTransformerEmbedder
e = SentenceTransformerEmbedder(precision={precision!r})
t1 = time.perf_counter()
v = e.embed_query("What are the side effects of metformin in patients with chronic kidney disease?")
t2 = time.perf_counter()
print(json.dumps({{"import_construct_s": t1 - t0, "first_query_s": t2 - t1, "total_s": t2 - t0,
                  "cpu_s": time.process_time() - c0, "torch_imported": "torch" in sys.modules,
                  "sentence_transformers_imported": "sentence_transformers" in sys.modules}}))
"""


def part_cold(repeat: int, queries: list[str]) -> dict:
    runs = {"auto": [], "fp32": []}
    for r in range(repeat):
        for p in (("auto", "fp32") if r % 2 == 0 else ("fp32", "auto")):
            out = subprocess.run([sys.executable, "-c", _COLD.format(repo=str(REPO), precision=p)],
                                 capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            runs[p].append(json.loads(out.stdout.strip().splitlines()[-1]))
    res = {}
    for p, rs in runs.items():
        res[p] = {k: round(statistics.median(r[k] for r in rs), 3) for k in ("import_construct_s", "first_query_s", "total_s", "cpu_s")}
        res[p]["runs_total_s"] = [round(r["total_s"], 2) for r in rs]
        res[p]["torch_imported"] = any(r["torch_imported"] for r in rs)
        res[p]["sentence_transformers_imported"] = any(r["sentence_transformers_imported"] for r in rs)
    # warm per-query latency, both paths in one process, interleaved
    from retrieval.embedder import SentenceTransformerEmbedder

    emb = {"auto": SentenceTransformerEmbedder(device="cpu", precision="auto"),
           "fp32": SentenceTransformerEmbedder(device="cpu", precision="fp32")}
    for e in emb.values():
        e.embed_query("warm-up")
    lat = {p: [] for p in emb}
    cpu = {p: [] for p in emb}
    for q in queries:
        for p, e in emb.items():
            t, c = time.perf_counter(), time.process_time()
            e.embed_query(q)
            lat[p].append(time.perf_counter() - t)
            cpu[p].append(time.process_time() - c)
    for p in emb:
        res[p]["warm_query_ms_p50"] = round(1000 * statistics.median(lat[p]), 2)
        res[p]["warm_query_ms_p95"] = round(1000 * float(np.percentile(lat[p], 95)), 2)
        res[p]["warm_query_cpu_ms_p50"] = round(1000 * statistics.median(cpu[p]), 2)
    res["queries_timed"] = len(queries)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["speed", "overlap", "cold"], choices=["speed", "overlap", "cold"])
    ap.add_argument("--variants", nargs="+",
                    default=["st-fp32", "st-fp32-1t", "numpy-fp32", "numpy-fp32-1t", "st-int8", "st-int8-1t",
                             "st-int8-tensor-1t", "st-bf16", "st-bf16-1t", "st-bf16-autocast-1t"])
    ap.add_argument("--overlap", nargs="+", default=["st-bf16-1t", "st-int8-1t"], help="variants checked for retrieval overlap")
    ap.add_argument("--overlap-reference", default="st-fp32-1t",
                    help="the fp32 document variant the overlap is measured against (threads do not change the vectors)")
    ap.add_argument("--sentences", type=int, default=1000, help="PubMed sentences per speed round")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--docs", type=int, default=20000, help="NFCorpus sentences for the overlap check")
    ap.add_argument("--queries", type=int, default=300, help="NFCorpus dev queries")
    ap.add_argument("--cold-repeat", type=int, default=5)
    ap.add_argument("--pubmed", type=Path, default=DATASETS / "pubmed_abstracts" / "abstracts.jsonl")
    ap.add_argument("--nfcorpus", type=Path, default=DATASETS / "nfcorpus")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result: dict = {"cpu_count": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()}}
    prev = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}

    docs, queries = nfcorpus(args.nfcorpus, args.docs, args.queries)
    if "cold" in args.parts:
        result["cold"] = part_cold(args.cold_repeat, queries[:100])
        c = result["cold"]
        print(f"{'cold ask embed path':<22} {'import+construct s':>18} {'first query s':>13} {'total s':>8} "
              f"{'CPU s':>6} {'torch?':>6} {'warm p50 ms':>11} {'warm p95 ms':>11}")
        for p, label in (("fp32", "sentence-transformers"), ("auto", "NumPy (auto)")):
            r = c[p]
            print(f"{label:<22} {r['import_construct_s']:>18.2f} {r['first_query_s']:>13.2f} {r['total_s']:>8.2f} "
                  f"{r['cpu_s']:>6.2f} {str(r['torch_imported']):>6} {r['warm_query_ms_p50']:>11.1f} {r['warm_query_ms_p95']:>11.1f}")
        print(f"cold total ratio ST/NumPy: {c['fp32']['total_s'] / c['auto']['total_s']:.2f}x")
    need = set()
    if "speed" in args.parts:
        need |= set(args.variants) | {"st-fp32"}
    if "overlap" in args.parts:
        need |= set(args.overlap) | {args.overlap_reference}
    if need:
        names = (["st-fp32"] if "speed" in args.parts else []) + [v for v in args.variants if v in need and v != "st-fp32"]
        names += [v for v in [args.overlap_reference] + args.overlap if v in need and v not in names]
        variants = make_variants(names)
    if "speed" in args.parts:
        sents = pubmed_sentences(args.pubmed, args.sentences)
        rows = part_speed({n: variants[n] for n in args.variants if n in variants} | {"st-fp32": variants["st-fp32"]},
                          sents, args.repeat)
        result["speed"] = rows
        print(f"\n{'variant':<18} {'sent/s':>7} {'x fp32':>7} {'CPU ms/sent':>11} {'CPU/wall':>8} {'mean cos':>8} {'min cos':>8}  runs (s)")
        for r in rows:
            print(f"{r['variant']:<18} {r['sentences_per_s']:>7.1f} {r['speedup_vs_st_fp32']:>7.2f} {r['cpu_ms_per_sentence']:>11.2f} "
                  f"{r['cpu_over_wall']:>8.2f} {r['mean_cos_to_fp32']:>8.5f} {r['min_cos_to_fp32']:>8.5f}  {r['runs_s']}")
    if "overlap" in args.parts:
        rows = part_overlap(variants, [v for v in args.overlap if v in variants], docs, queries,
                            ref=args.overlap_reference)
        result["overlap"] = rows
        print(f"\n{'doc variant':<18} {'docs':>6} {'queries':>7} {'encode s':>8} {'recall@10 vs fp32':>17} {'top1 agree':>10}")
        for r in rows:
            print(f"{r['variant']:<18} {r['docs']:>6} {r['queries']:>7} {r['encode_s']:>8.1f} "
                  f"{r.get('recall_at_10_vs_fp32', 1.0):>17.4f} {r.get('top1_agreement', 1.0):>10.4f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        merged = {**prev, **result}
        args.out.write_text(json.dumps(merged, indent=2))


if __name__ == "__main__":
    main()
