"""Query latency on a synthetic 1M-sentence home (CPU), and cold ``medkg ask`` start time.

What is built (cached in ``--work``, default ``~/.cache/medkg/bench/latency``):

* ``core/``: a real medkg home: ``data/sample`` (277 PubMed abstracts + 5 notes) ingested by
  :meth:`retrieval.app.Medkg.ingest` with the full NLP pipeline and real MiniLM embeddings.
  It is also the "small home" the cold-start measurement runs ``medkg ask`` on.
* ``synth-<N>/``: ``N`` sentences (default 1,000,000) made from the core: every core document
  is read back from the core graph (sentences, mentions, relation evidence) and written again
  ``N / core sentences`` times under new ids through :meth:`SQLiteGraphStore.write` (batches of
  ``--copies-per-batch`` copies). In each copy 30% of the words outside entity mentions are
  replaced by random letters of the same length (offsets and mentions stay valid; the
  vocabulary gets a long tail, and common words get a realistic share instead of 100%), so the
  full-text index is not 350 identical copies. A copy's sentence vector is its core sentence's
  real MiniLM vector plus Gaussian noise (sigma 0.03 per dimension: cosine ~0.85 to the
  original), L2-normalised. Vectors are added to a :class:`retrieval.index.FaissIndex` in
  ingest-sized chunks, so the index goes through its automatic layout changes (exact ->
  IVF at 200k -> re-trained IVF after 4x growth) as a real ingest would.

Measured (warm: every question is asked once before timing):

* ``ask``: :meth:`QueryEngine.ask` with the configured question recogniser (the question
  lexicon by default, NER + linker with ``question_concepts = "pipeline"``), real query embedding, FAISS, FTS5 and graph facts: p50 / p95 over ``--repeats`` rounds of the
  questions below; also ``search`` (sentence level and document level, hybrid, as
  ``medkg search`` runs it) and a per-stage breakdown (parse, embed, FAISS, keyword, facts).
* cold ``medkg ask`` on the small core home: wall time of the whole process, median of
  ``--cold-runs`` runs, plus a stage breakdown measured in a fresh process (imports, settings,
  store, question lexicon (or spaCy pipeline), embedding model, index, the question) and the
  heavy modules (spaCy, torch, ...) the process imported; ``--cold-pipeline`` measures the
  same with the spaCy question pipeline for comparison.

Usage::

    python bench/query_latency.py [--sentences 1000000] [--out bench/results/query_latency.json]
        [--work DIR] [--repeats 5] [--cold-runs 5] [--skip-cold]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
QUESTIONS = [
    "What drugs treat hypertension?",
    "side effects of amiodarone",
    "does warfarin interact with aspirin?",
    "how is BRCA1 related to breast cancer?",
    "What drugs can cause hypertension?",
    "Which drugs cause QT prolongation?",
    "What are the adverse effects of lithium?",
    "Does cocaine cause myocardial infarction?",
    "What is the treatment of pulmonary hypertension?",
    "Is depression associated with antihypertensive drugs?",
]
COLD_QUESTION = "What drugs can cause hypertension?"
_WORD = re.compile(r"\w+")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[i]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------------- the core home
def build_core(work: Path):
    from retrieval.app import Medkg

    app = Medkg(Settings.load({"home": work / "core"}))
    t = time.perf_counter()
    report = app.ingest([SAMPLE])
    log(f"core home: {report.ingested} new / {report.unchanged} unchanged documents "
        f"in {time.perf_counter() - t:.1f}s")
    return app


def read_back(store) -> list:
    """The core graph's documents as Extractions (sentences, mentions, relations), from the SQLite rows."""
    from nlp.extraction import Document, Extraction, Mention, Relation, Sentence

    db = store._db
    out = []
    for d in db.execute("SELECT * FROM documents ORDER BY id").fetchall():
        sents = db.execute("SELECT * FROM sentences WHERE doc_id = ? ORDER BY idx", (d["id"],)).fetchall()
        by_uid: dict[int, Sentence] = {}
        sentences = []
        for s in sents:
            sent = Sentence(index=s["idx"], start=s["start"], end=s["end"], text=s["text"], section=s["section"])
            by_uid[s["uid"]] = sent
            sentences.append(sent)
        for m in db.execute("SELECT * FROM mentions WHERE doc_id = ? ORDER BY id", (d["id"],)):
            by_uid[m["sentence_uid"]].mentions.append(Mention(
                start=m["start"], end=m["end"], text=m["text"], label=m["label"], concept_id=m["concept_id"],
                concept_name=m["concept_name"], vocab=m["vocab"], score=m["score"], negated=bool(m["negated"]),
                uncertain=bool(m["uncertain"]), historical=bool(m["historical"]),
                hypothetical=bool(m["hypothetical"]), family=bool(m["family"])))
        relations = []
        for e in db.execute("SELECT * FROM evidence WHERE doc_id = ?", (d["id"],)):
            sent = by_uid[e["sentence_uid"]]
            ids = [m.concept_id for m in sent.mentions]
            if e["subject_id"] not in ids or e["object_id"] not in ids:
                continue
            relations.append(Relation(
                predicate=e["predicate"], sentence=sent.index, subject=ids.index(e["subject_id"]),
                object=ids.index(e["object_id"]), trigger=e["trigger"], confidence=e["confidence"],
                negated=bool(e["negated"]), uncertain=bool(e["uncertain"]), historical=bool(e["historical"]),
                hypothetical=bool(e["hypothetical"]), family=bool(e["family"]), method=e["method"]))
        meta = {"year": d["year"]} if d["year"] else {}
        if d["journal"]:
            meta["journal"] = d["journal"]
        doc = Document(id=d["id"], title=d["title"], text=" ".join(s.text for s in sentences), source="synthetic",
                       kind=d["kind"], metadata=meta)
        out.append(Extraction(document=doc, sentences=sentences, relations=relations))
    return out


def mutate(text: str, protected: list[tuple[int, int]], rng: random.Random, rate: float = 0.3) -> str:
    """Replace ``rate`` of the words outside ``protected`` spans by random letters (same length)."""
    chars = list(text)
    for m in _WORD.finditer(text):
        if rng.random() >= rate or any(m.start() < e and s < m.end() for s, e in protected):
            continue
        for i in range(m.start(), m.end()):
            chars[i] = rng.choice("abcdefghijklmnopqrstuvwxyz")
    return "".join(chars)


def clone(ex, copy: int, rng: random.Random):
    from nlp.extraction import Document, Extraction, Mention, Sentence

    doc = ex.document
    sentences = []
    for s in ex.sentences:
        spans = [(m.start - s.start, m.end - s.start) for m in s.mentions]
        sentences.append(Sentence(index=s.index, start=s.start, end=s.end, text=mutate(s.text, spans, rng),
                                  section=s.section, mentions=[Mention(**vars(m)) for m in s.mentions]))
    new = Document(id=f"{doc.id}~{copy}", title=doc.title, text=" ".join(s.text for s in sentences),
                   source=doc.source, kind=doc.kind, metadata=dict(doc.metadata))
    return Extraction(document=new, sentences=sentences, relations=list(ex.relations))


def build_synthetic(core_app, home: Path, n_sentences: int, copies_per_batch: int, seed: int = 0) -> dict:
    """Write the synthetic home (see module docstring); returns build statistics."""
    import numpy as np

    from kg.sqlite_store import SQLiteGraphStore
    from nlp.extraction import sentence_uid
    from retrieval.index import FaissIndex

    core = read_back(core_app.store)
    uids, vecs = core_app.index.vectors()
    vec_of = dict(zip(uids.tolist(), range(len(uids))))
    per_copy = sum(len(ex.sentences) for ex in core)
    copies = -(-n_sentences // per_copy)
    log(f"synthetic home: {copies} copies of {len(core)} documents ({per_copy} sentences each copy)")
    if home.exists():
        shutil.rmtree(home)
    settings = Settings.load({"home": home})
    store = SQLiteGraphStore(settings.graph_uri)
    emb = core_app.embedder
    index = FaissIndex(emb.dimension, emb.model_id)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    stats = {"copies": copies, "core_documents": len(core), "core_sentences": per_copy,
             "write_seconds": 0.0, "index_seconds": 0.0, "layouts": []}
    written = 0
    t_all = time.perf_counter()
    for first in range(0, copies, copies_per_batch):
        batch, bu, bv = [], [], []
        for c in range(first, min(copies, first + copies_per_batch)):
            for ex in core:
                new = clone(ex, c, rng)
                batch.append(new)
                for s in new.sentences:
                    bu.append(sentence_uid(new.document.id, s.index))
                    bv.append(vec_of[sentence_uid(ex.document.id, s.index)])
        t = time.perf_counter()
        store.write(batch)
        stats["write_seconds"] += time.perf_counter() - t
        t = time.perf_counter()
        v = vecs[np.asarray(bv)] + nrng.normal(0, 0.03, size=(len(bv), vecs.shape[1])).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        before = index.factory
        for lo in range(0, len(bu), 50_000):  # ingest-sized adds: the layout changes happen inside add()
            index.add(bu[lo:lo + 50_000], v[lo:lo + 50_000])
            if index.factory != before:
                stats["layouts"].append({"at": len(index), "factory": index.factory, "nprobe": index.nprobe,
                                         "recall_at_10": index.recall_at_10,
                                         "seconds": round(time.perf_counter() - t, 1)})
                before = index.factory
        stats["index_seconds"] += time.perf_counter() - t
        written += len(bu)
        del batch, v
        gc.collect()
        log(f"  {written:>9} sentences  write {stats['write_seconds']:.0f}s  index {stats['index_seconds']:.0f}s "
            f"({index.factory}, rss {rss_mb():.0f} MB)")
    t = time.perf_counter()
    index.save(settings.index_path)
    stats["save_seconds"] = round(time.perf_counter() - t, 1)
    st = store.stats()
    stats.update({"sentences": st.sentences, "documents": st.documents, "mentions": st.mentions,
                  "edges": st.edges, "evidence": st.evidence, "concepts": st.concepts,
                  "vectors": len(index), "factory": index.factory, "nprobe": index.nprobe,
                  "recall_at_10": index.recall_at_10, "build_seconds": round(time.perf_counter() - t_all, 1),
                  "db_mb": round(Path(settings.graph_uri).stat().st_size / 2**20),
                  "index_mb": round(settings.index_path.stat().st_size / 2**20)})
    stats["write_seconds"] = round(stats["write_seconds"], 1)
    stats["index_seconds"] = round(stats["index_seconds"], 1)
    store.close()
    return stats


# ---------------------------------------------------------------------------- warm latency
def measure_warm(home: Path, repeats: int) -> dict:
    from retrieval.app import Medkg

    t = time.perf_counter()
    app = Medkg(Settings.load({"home": home}))
    engine = app.engine
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    for q in QUESTIONS:  # warm-up: models, caches, SQLite pages
        engine.ask(q)
    warmup_s = time.perf_counter() - t

    def timed(fn) -> tuple[list[float], list[float]]:
        """Wall and CPU milliseconds per call. CPU = this process's user + system time (all
        threads): on a shared machine the wall time also counts waiting for a core."""
        wall, cpu = [], []
        for _ in range(repeats):
            for q in QUESTIONS:
                c0, t0 = time.process_time(), time.perf_counter()
                fn(q)
                wall.append(1000 * (time.perf_counter() - t0))
                cpu.append(1000 * (time.process_time() - c0))
        return wall, cpu

    def cli_search(q: str, level: str):
        concepts = [c for c in engine.parse(q).concepts if c.in_graph]
        return engine.search(q, k=10, level=level, concepts=concepts)

    def facts(q: str):
        parsed = engine.parse(q)
        for c in [c for c in parsed.concepts if c.in_graph][:2]:
            app.store.facts(c.id, parsed.predicates or None, other_type=parsed.answer_type, limit=30,
                            evidence_limit=3)

    import numpy as np

    qvec = {q: app.embedder.embed_query(q) for q in QUESTIONS}

    def with_nprobe(value: int, fn):
        if app.index.kind != "ivf":
            return [float("nan")], [float("nan")]
        tuned = app.index.nprobe
        app.index._set_param(app.index._index, value)
        try:
            return fn()
        finally:
            app.index._set_param(app.index._index, tuned)
    runs = {
        "ask": timed(lambda q: engine.ask(q)),
        "search (sentence, hybrid)": timed(lambda q: cli_search(q, "sentence")),
        "search (document, hybrid)": timed(lambda q: cli_search(q, "document")),
        "  parse (question concepts + graph lookup)": timed(engine.parse),
        "  embed query": timed(app.embedder.embed_query),
        "  FAISS top-100": timed(lambda q: app.index.search(qvec[q], 100)),
        "  FAISS top-1000": timed(lambda q: app.index.search(qvec[q], 1000)),
        # The synthetic vectors are tighter clusters than real ones, so the tuned nprobe is low;
        # real sentence embeddings needed ~1/4 of the lists on NFCorpus (38k vectors).
        "  FAISS top-100, nprobe 256": with_nprobe(256, lambda: timed(lambda q: app.index.search(qvec[q], 100))),
        "  FAISS top-100, nprobe 1024": with_nprobe(1024, lambda: timed(lambda q: app.index.search(qvec[q], 100))),
        "  keyword top-100 (FTS5 sentences)": timed(lambda q: app.store.keyword_search(q, 100)),
        "  keyword top-100 (FTS5 documents)": timed(lambda q: app.store.keyword_search_documents(q, 100)),
        "  facts (graph)": timed(facts),
    }
    out = {"open_seconds": round(open_s, 2), "warmup_seconds": round(warmup_s, 2), "repeats": repeats,
           "questions": QUESTIONS, "index": {"factory": app.index.factory, "nprobe": app.index.nprobe,
                                             "vectors": len(app.index)},
           "rss_mb": round(rss_mb()), "ms": {}}
    for name, (wall, cpu) in runs.items():
        out["ms"][name] = {"p50": round(pct(wall, 50), 2), "p95": round(pct(wall, 95), 2),
                           "mean": round(float(np.mean(wall)), 2), "cpu_p50": round(pct(cpu, 50), 2),
                           "cpu_p95": round(pct(cpu, 95), 2), "n": len(wall)}
    # What the keyword row budget costs in exactness: top-10 of each question's keyword search
    # against the plain OR query (no budget).
    # The synthetic home holds ~290 near-copies of each sentence, so many top-10 scores tie and
    # the uid overlap understates agreement; the score ratio (sum of the top-10 BM25 scores found
    # / sum of the exact top-10 scores; rows found keep their exact score) is the robust measure.
    budget = app.store.KEYWORD_BUDGET
    pruned = {q: app.store.keyword_search(q, 10) for q in QUESTIONS}
    app.store.KEYWORD_BUDGET = 10**12
    t = time.perf_counter()
    exact = {q: app.store.keyword_search(q, 10) for q in QUESTIONS}
    exact_ms = 1000 * (time.perf_counter() - t) / len(QUESTIONS)
    app.store.KEYWORD_BUDGET = budget
    out["keyword_budget"] = {
        "budget_rows": budget, "exact_or_query_ms_mean": round(exact_ms, 1),
        "top10_uid_overlap_with_exact": round(float(np.mean(
            [len({p.uid for p in pruned[q]} & {p.uid for p in exact[q]}) / max(1, len(exact[q])) for q in QUESTIONS])), 3),
        "top10_score_ratio_to_exact": round(float(np.mean(
            [sum(p.score for p in pruned[q]) / max(1e-9, sum(p.score for p in exact[q])) for q in QUESTIONS])), 3)}
    sample = engine.ask(QUESTIONS[0])
    out["example"] = {"question": QUESTIONS[0], "facts": len(sample.facts), "passages": len(sample.passages),
                      "top_fact": (f"{sample.facts[0].subject.name} -[{sample.facts[0].predicate}]-> "
                                   f"{sample.facts[0].object.name} (support {sample.facts[0].support})")
                      if sample.facts else None}
    app.close()
    return out


# ---------------------------------------------------------------------------- cold start
_BREAKDOWN = r"""
import json, sys, time
t0 = time.perf_counter(); c0 = time.process_time(); marks = {}
def mark(name):
    marks[name] = [round(time.perf_counter() - t0, 3), round(time.process_time() - c0, 3)]
import typer; mark("import typer")
import cli; mark("import cli")
from retrieval.app import Medkg
from retrieval.settings import Settings
mark("import retrieval.app")
app = Medkg(Settings.load({"home": sys.argv[1]})); _ = app.store; mark("settings + open store")
if app.settings.question_concepts == "pipeline":
    _ = app.question_nlp; mark("load spaCy + build question pipeline")
else:
    _ = app.question_lexicon; mark("open question lexicon")
app.recognize(sys.argv[2]); mark("recognize the question's concepts")
_ = app.embedder.embed_query(sys.argv[2]); mark("load embedding model + embed the question")
_ = app.index; mark("load FAISS index")
app.engine.ask(sys.argv[2]); mark("ask")
heavy = [m for m in ("spacy", "torch", "sentence_transformers", "transformers", "scipy") if m in sys.modules]
print(json.dumps({"marks": marks, "heavy_modules": heavy}))
"""


def measure_cold(home: Path, runs: int, question_concepts: str | None = None) -> dict:
    exe = Path(sys.executable).with_name("medkg")
    cmd = [str(exe)] if exe.exists() else [sys.executable, str(REPO / "cli.py")]
    env = dict(os.environ, MEDKG_HOME=str(home))
    if question_concepts:
        env["MEDKG_QUESTION_CONCEPTS"] = question_concepts
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run([*cmd, "ask", COLD_QUESTION], env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU time (user + system) of the process: on a shared, loaded machine the wall time
        # also counts the time spent waiting for a core.
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if r.returncode != 0:
            raise RuntimeError(f"medkg ask failed: {r.stderr[-2000:]}")
    help_walls = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([*cmd, "--help"], env=env, capture_output=True, text=True)
        help_walls.append(time.perf_counter() - t)
    r = subprocess.run([sys.executable, "-c", _BREAKDOWN, str(home), COLD_QUESTION], capture_output=True, text=True,
                       cwd=REPO, env=env)
    out = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {"marks": {}, "error": r.stderr[-2000:]}
    stages, prev = {}, (0.0, 0.0)
    for name, at in out["marks"].items():
        stages[name] = {"wall": round(at[0] - prev[0], 3), "cpu": round(at[1] - prev[1], 3)}
        prev = at
    return {"command": " ".join([Path(cmd[0]).name, "ask", repr(COLD_QUESTION)]), "runs": runs,
            "question_concepts": Settings.load(env=env).question_concepts,
            "wall_seconds": [round(w, 3) for w in walls], "median_seconds": round(statistics.median(walls), 3),
            "cpu_seconds": [round(c, 3) for c in cpus], "cpu_median_seconds": round(statistics.median(cpus), 3),
            "help_median_seconds": round(statistics.median(help_walls), 3), "stage_seconds": stages,
            "heavy_modules_imported": out.get("heavy_modules"), **({"error": out["error"]} if "error" in out else {})}


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--copies-per-batch", type=int, default=20)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the synthetic home even if it exists")
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--skip-warm", action="store_true")
    ap.add_argument("--cold-pipeline", action="store_true",
                    help="also measure cold ask with question_concepts=pipeline (spaCy NER + linker)")
    args = ap.parse_args(argv)

    work = args.work or Settings.load().cache_dir / "bench" / "latency"
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"benchmark": "query_latency", "work": str(work), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                "platform": platform.platform(), "load_average_start": load_average()}}
    core = build_core(work)
    synth = work / f"synth-{args.sentences}"
    marker = synth / "build.json"
    if args.rebuild or not marker.exists():
        stats = build_synthetic(core, synth, args.sentences, args.copies_per_batch)
        marker.write_text(json.dumps(stats, indent=2))
    result["synthetic"] = json.loads(marker.read_text())
    core_home = core.settings.home
    core.close()
    del core
    gc.collect()
    if not args.skip_warm:
        result["warm"] = measure_warm(synth, args.repeats)
    if not args.skip_cold:
        result["cold"] = measure_cold(core_home, args.cold_runs)
        if args.cold_pipeline:
            result["cold_pipeline"] = measure_cold(core_home, args.cold_runs, "pipeline")
    result["machine"]["load_average_end"] = load_average()

    s = result["synthetic"]
    print(f"synthetic home: {s['sentences']:,} sentences, {s['documents']:,} documents, {s['mentions']:,} mentions, "
          f"{s['edges']:,} edges; index {s['factory']} nprobe={s['nprobe']} "
          f"(recall@10 vs exact {s['recall_at_10']})")
    if "warm" in result:
        print(f"{'warm, on CPU (ms)':<44}{'p50':>9}{'p95':>9}{'CPU p50':>9}{'CPU p95':>9}")
        for name, v in result["warm"]["ms"].items():
            print(f"{name:<44}{v['p50']:>9.1f}{v['p95']:>9.1f}{v['cpu_p50']:>9.1f}{v['cpu_p95']:>9.1f}")
    if "warm" in result:
        kb = result["warm"]["keyword_budget"]
        print(f"keyword row budget {kb['budget_rows']}: top-10 BM25 score ratio to the plain OR query "
              f"{kb['top10_score_ratio_to_exact']:.3f}, uid overlap {kb['top10_uid_overlap_with_exact']:.2f} "
              f"(plain OR query: {kb['exact_or_query_ms_mean']:.0f} ms mean)")
    for key in ("cold", "cold_pipeline"):
        if key not in result:
            continue
        c = result[key]
        print(f"cold `{c['command']}` (small home, question_concepts={c['question_concepts']}): median wall "
              f"{c['median_seconds']:.2f} s, CPU {c['cpu_median_seconds']:.2f} s over {c['runs']} runs "
              f"(--help {c['help_median_seconds']:.2f} s); heavy modules imported: {c['heavy_modules_imported']}")
        print(f"  {'stage (fresh process)':<42}{'wall s':>8}{'CPU s':>8}")
        for name, sec in c["stage_seconds"].items():
            print(f"  {name:<42}{sec['wall']:>8.2f}{sec['cpu']:>8.2f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
