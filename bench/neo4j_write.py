"""Neo4j write throughput: the batched writer (``Neo4jGraphStore.write``) vs a naive writer.

Both write the same extractions and must end with the same graph (checked). The naive writer
sends every row as its own auto-commit statement (one MERGE per document, sentence, concept,
mention, evidence row, then one recompute per edge and concept), using the same Cypher as the
store with one-row lists, so the comparison isolates batching and transaction count.

Input: BC5CDR PubTator abstracts (gold mentions; CID pairs co-occurring in a sentence become
CAUSES evidence, other chemical-disease pairs in a sentence ASSOCIATED_WITH), standing in for
the NLP pipeline's output so the benchmark measures the store alone.

    scripts/neo4j.sh start
    NEO4J_URI=bolt://127.0.0.1:7687 NEO4J_PASSWORD=medkg-test-pw \\
        python bench/neo4j_write.py --docs 200 --json bench/results/neo4j_write.json --wipe

It WIPES the database at NEO4J_URI (refuses without ``--wipe`` if it holds documents).
Prints a table on stdout; progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.neo4j_store import Neo4jGraphStore, insert_plan, recompute_plan  # noqa: E402
from kg.rows import document_rows  # noqa: E402
from nlp.errors import MedkgError  # noqa: E402
from nlp.extraction import Document, Extraction, Mention, Relation, Sentence  # noqa: E402

DEFAULT_CORPORA = [
    ROOT.parent / "shared/datasets/bc5cdr/CDR_TrainingSet.PubTator.txt",
    ROOT.parent / "shared/datasets/bc5cdr/CDR_DevelopmentSet.PubTator.txt",
]
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\[(])")


def read_pubtator(path: Path):
    """Yield (pmid, title, abstract, mentions [(start, end, text, type, id)], cid pairs {(chem, dis)})."""
    doc: dict = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                if doc:
                    yield doc
                doc = {}
                continue
            if "|t|" in line[:20]:
                pmid, _, title = line.split("|", 2)
                doc = {"pmid": pmid, "title": title, "abstract": "", "mentions": [], "cid": set()}
            elif "|a|" in line[:20]:
                doc["abstract"] = line.split("|", 2)[2]
            else:
                parts = line.split("\t")
                if len(parts) >= 6:
                    doc["mentions"].append((int(parts[1]), int(parts[2]), parts[3], parts[4], parts[5]))
                elif len(parts) == 4 and parts[1] == "CID":
                    doc["cid"].add((parts[2], parts[3]))
    if doc:
        yield doc


def to_extraction(d: dict) -> Extraction:
    doc = Document(id=d["pmid"], title=d["title"], text=d["abstract"], source="bc5cdr", metadata={"year": 2000})
    full = doc.full_text
    bounds, start = [], 0
    for m in _SENT_END.finditer(full):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(full)))
    sentences = []
    for i, (s, e) in enumerate(bounds):
        mentions = []
        for ms, me, text, label, ids in d["mentions"]:
            if s <= ms and me <= e:
                mesh = ids.split("|")[0]
                cid = f"MESH:{mesh}" if mesh not in ("-1", "") else f"TXT:{label.lower()}:{text.lower()}"
                mentions.append(Mention(start=ms, end=me, text=text, label=label, concept_id=cid,
                                        concept_name=text.lower(), vocab=cid.split(":")[0]))
        sentences.append(Sentence(index=i, start=s, end=e, text=full[s:e], mentions=mentions))
    relations = []
    cid_pairs = {(f"MESH:{c}", f"MESH:{x}") for c, x in d["cid"]}
    for i, sent in enumerate(sentences):
        for a, ma in enumerate(sent.mentions):
            if ma.label != "Chemical":
                continue
            for b, mb in enumerate(sent.mentions):
                if mb.label != "Disease":
                    continue
                pred = "CAUSES" if (ma.concept_id, mb.concept_id) in cid_pairs else "ASSOCIATED_WITH"
                relations.append(Relation(predicate=pred, sentence=i, subject=a, object=b, trigger="co-occurrence",
                                          confidence=0.9 if pred == "CAUSES" else 0.5, method="gold-cid"))
    return Extraction(document=doc, sentences=sentences, relations=relations)


def load_extractions(paths: list[Path], n: int) -> list[Extraction]:
    out: list[Extraction] = []
    for path in paths:
        for d in read_pubtator(path):
            out.append(to_extraction(d))
            if len(out) >= n:
                return out
    return out


def row_count(exs: list[Extraction]) -> dict[str, int]:
    counts = {"documents": 0, "sentences": 0, "mentions": 0, "evidence": 0}
    for ex in exs:
        r = document_rows(ex)
        counts["documents"] += 1
        counts["sentences"] += len(r.sentences)
        counts["mentions"] += len(r.mentions)
        counts["evidence"] += len(r.evidence)
    counts["total"] = sum(counts.values())
    return counts


def server_pid(explicit: int | None) -> int | None:
    """The Neo4j server's pid (for its CPU time): --server-pid, else scripts/neo4j.sh's pid file."""
    if explicit:
        return explicit
    state = Path(os.environ.get("MEDKG_NEO4J_HOME") or ROOT / ".neo4j-data")
    try:
        return int((state / "neo4j.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def cpu_seconds(pid: int | None) -> float:
    """User+system CPU seconds of ``pid`` (0 when unknown): with the machine shared, CPU time
    says what a writer costs better than wall time does."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Meter:
    """Wall time, this process's CPU time and the server's CPU time of a block."""

    def __init__(self, pid: int | None):
        self.pid = pid

    def __enter__(self) -> "Meter":
        self.t, self.c, self.s = time.perf_counter(), time.process_time(), cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t
        self.client_cpu = time.process_time() - self.c
        self.server_cpu = cpu_seconds(self.pid) - self.s


def write_batched(store: Neo4jGraphStore, exs: list[Extraction], batch_size: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(exs), batch_size):
        store.write(exs[i:i + batch_size])
    return time.perf_counter() - t0


def write_naive(driver, exs: list[Extraction], database: str | None) -> float:
    """One auto-commit statement per row, document by document (what a first attempt looks like)."""
    t0 = time.perf_counter()
    with driver.session(database=database, notifications_min_severity="OFF") as session:
        for ex in exs:
            rows = document_rows(ex)
            for statement, items in insert_plan([rows]):
                for item in items:
                    session.run(statement, rows=[item]).consume()
            for statement, fixed, param, items in recompute_plan(rows.edge_keys, set(rows.concepts)):
                for item in items:
                    session.run(statement, {**fixed, param: [item]}).consume()
    return time.perf_counter() - t0


def _rates(m: Meter, n_rows: int, n_docs: int, runs: list[Meter] | None = None) -> dict:
    out = {"seconds": round(m.wall, 3), "rows_per_s": round(n_rows / m.wall, 1), "docs_per_s": round(n_docs / m.wall, 2),
           "client_cpu_s": round(m.client_cpu, 2), "server_cpu_s": round(m.server_cpu, 2)}
    if runs:
        out["runs_seconds"] = [round(r.wall, 3) for r in runs]
    return out


def _cpu_ratio(naive: Meter, batched: Meter) -> float | None:
    b = batched.client_cpu + batched.server_cpu
    return round((naive.client_cpu + naive.server_cpu) / b, 1) if b > 0 and batched.server_cpu > 0 else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=200, help="documents to write with each writer (default 200)")
    ap.add_argument("--warmup", type=int, default=100,
                    help="extra documents written (and wiped) first, twice with the batched writer and 20 of them "
                         "with the naive one, so Cypher compilation and the server's JIT warm-up are not timed "
                         "(default 100)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed runs of the batched writer (median reported; the naive writer runs once)")
    ap.add_argument("--batch-size", type=int, default=100, help="documents per store.write() call (default 100)")
    ap.add_argument("--corpus", type=Path, action="append", help="PubTator file(s) (default: BC5CDR train+dev)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"))
    ap.add_argument("--wipe", action="store_true", help="allow wiping a database that holds documents")
    ap.add_argument("--server-pid", type=int, help="pid of the server, for its CPU time (default: scripts/neo4j.sh's)")
    args = ap.parse_args(argv)

    loaded = load_extractions(args.corpus or DEFAULT_CORPORA, args.warmup + args.docs)
    # The measured documents come first; warm-up uses others, so nothing is cached by id.
    exs, warm = loaded[:args.docs], loaded[args.docs:]
    load_before = os.getloadavg()[0]
    rows = row_count(exs)
    print(f"{len(exs)} documents, {rows['total']} rows ({rows})", file=sys.stderr)
    try:
        store = Neo4jGraphStore.connect(args.uri)
    except MedkgError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with store:
        if store.stats().documents and not args.wipe:
            print(f"error: {args.uri} holds documents; this benchmark wipes the database: pass --wipe", file=sys.stderr)
            return 1
        store.clear()
        if warm:
            print(f"warm-up ({len(warm)} documents)...", file=sys.stderr)
            for _ in range(2):
                write_batched(store, warm, args.batch_size)
                store.clear()
            write_naive(store._driver, warm[:20], store._database)
            store.clear()
        pid = server_pid(args.server_pid)
        runs: list[Meter] = []
        for i in range(max(1, args.repeat)):
            print(f"batched writer, run {i + 1}...", file=sys.stderr)
            with Meter(pid) as m:
                write_batched(store, exs, args.batch_size)
            runs.append(m)
            graph_batched = store.stats()
            store.clear()
        batched = sorted(runs, key=lambda m: m.wall)[len(runs) // 2]  # the median run
        print("naive writer...", file=sys.stderr)
        with Meter(pid) as naive:
            write_naive(store._driver, exs, store._database)
        graph_naive = store.stats()
        store.clear()
    same = graph_batched == graph_naive
    result = {
        "benchmark": "neo4j_write",
        "documents": len(exs),
        "rows": rows,
        "batch_size": args.batch_size,
        "warmup_documents": len(warm),
        "batched": _rates(batched, rows["total"], len(exs), runs),
        "naive": _rates(naive, rows["total"], len(exs)),
        "speedup": round(naive.wall / batched.wall, 1),
        # CPU seconds (client + server) per row: what each writer costs, whatever else runs.
        "speedup_cpu": _cpu_ratio(naive, batched),
        "same_graph": same,
        "graph": graph_batched.to_dict(),
        "server": args.uri,
        # The machine may be shared: the load average says how much CPU the run competed for.
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
    }
    print(f"{'writer':<10}{'seconds':>10}{'rows/s':>12}{'docs/s':>10}{'client CPU s':>14}{'server CPU s':>14}")
    for name in ("batched", "naive"):
        r = result[name]
        print(f"{name:<10}{r['seconds']:>10.2f}{r['rows_per_s']:>12.1f}{r['docs_per_s']:>10.2f}"
              f"{r['client_cpu_s']:>14.2f}{r['server_cpu_s']:>14.2f}")
    print(f"batched runs: {', '.join(f'{m.wall:.2f}s' for m in runs)} (median shown); "
          f"load average {result['machine']['load_avg_1m'][0]} -> {result['machine']['load_avg_1m'][1]} "
          f"on {os.cpu_count()} CPUs")
    print(f"speed-up: {result['speedup']}x wall, {result['speedup_cpu']}x CPU "
          f"(same graph: {same}; {rows['total']} rows, {len(exs)} documents)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
