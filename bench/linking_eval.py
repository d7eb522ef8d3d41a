"""Entity-linking benchmark: concept-level F1 given gold mention spans, plus dictionary NER.

Linking (the BC5CDR DNER way): per document, the set of predicted concept ids (from linking
every GOLD mention with its gold type; text-derived ``TXT:`` ids are not predictions) against
the set of gold ids; micro-averaged P/R/F1 over documents. Also mention-level accuracy
(prediction among the mention's gold ids), per type and per linking method. Abbreviations'
long forms come from scispaCy's AbbreviationDetector on the document text.

Dictionary NER: greedy longest match of ``ConceptDictionary.ner_patterns()`` over tokens
(aliases that ``is_case_sensitive`` marks match case-sensitively, the rest on lowercase),
strict span + type match against BC5CDR dev Chemical/Disease mentions.

Also reports dictionary build / cache load time, RSS and sizes.

Usage::

    python bench/linking_eval.py results/linking.json [--datasets ../shared/datasets]
        [--cache-dir ~/.cache/medkg] [--threshold 0.8] [--corpora bc5cdr ncbi_disease biored]
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp.linking import (  # noqa: E402
    CORPORA,
    DEFAULT_THRESHOLD,
    ConceptDictionary,
    _pubtator,
    default_datasets_dir,
    is_case_sensitive,
)

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _abbreviations(texts: dict[str, str]) -> dict[str, dict[str, str]]:
    """pmid -> {short form: long form} (scispaCy AbbreviationDetector; empty if unavailable)."""
    try:
        import spacy
        from scispacy.abbreviation import AbbreviationDetector  # noqa: F401  registers the factory
    except ImportError:
        return {}
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("abbreviation_detector")
    out: dict[str, dict[str, str]] = {}
    for pmid, doc in zip(texts, nlp.pipe(texts.values(), batch_size=64)):
        out[pmid] = {a.text: a._.long_form.text for a in doc._.abbreviations}
    return out


def eval_linking(d: ConceptDictionary, path: Path, threshold: float, use_abbrev: bool = True) -> dict:
    docs = list(_pubtator(path))
    abbrevs = _abbreviations({pmid: text for pmid, text, _m in docs}) if use_abbrev else {}
    tp = fp = fn = 0
    per_type = defaultdict(Counter)
    mentions = Counter()
    methods = defaultdict(Counter)
    errors: list[dict] = []
    t0 = time.perf_counter()
    n_links = 0
    for pmid, _text, ms in docs:
        gold_ids: dict[str, set[str]] = defaultdict(set)
        pred_ids: dict[str, set[str]] = defaultdict(set)
        lf = abbrevs.get(pmid, {})
        for m in ms:
            for g in m.ids:
                gold_ids[m.type].add(g)
            r = d.link(m.text, m.type, long_form=lf.get(m.text), threshold=threshold)
            n_links += 1
            if r.vocab != "TXT":
                pred_ids[m.type].add(r.concept_id)
            if not m.ids:
                continue
            ok = r.concept_id in m.ids
            mentions["total"] += 1
            mentions["correct"] += ok
            per_type[m.type]["mentions"] += 1
            per_type[m.type]["mentions_correct"] += ok
            methods[r.method]["n"] += 1
            methods[r.method]["correct"] += ok
            if not ok and len(errors) < 400:
                errors.append({"pmid": pmid, "text": m.text, "type": m.type, "gold": m.ids,
                               "pred": r.concept_id, "pred_name": r.name, "method": r.method,
                               "score": r.score, "long_form": lf.get(m.text)})
        for typ in set(gold_ids) | set(pred_ids):
            g, p = gold_ids[typ], pred_ids[typ]
            t_tp, t_fp, t_fn = len(g & p), len(p - g), len(g - p)
            tp, fp, fn = tp + t_tp, fp + t_fp, fn + t_fn
            per_type[typ]["tp"] += t_tp
            per_type[typ]["fp"] += t_fp
            per_type[typ]["fn"] += t_fn
    seconds = time.perf_counter() - t0

    def prf(tp_, fp_, fn_):
        p = tp_ / (tp_ + fp_) if tp_ + fp_ else 0.0
        r = tp_ / (tp_ + fn_) if tp_ + fn_ else 0.0
        return {"precision": round(100 * p, 2), "recall": round(100 * r, 2),
                "f1": round(100 * (2 * p * r / (p + r) if p + r else 0.0), 2)}

    return {
        "file": str(path),
        "documents": len(docs),
        "doc_level": prf(tp, fp, fn),
        "mention_accuracy": round(100 * mentions["correct"] / max(1, mentions["total"]), 2),
        "mentions": mentions["total"],
        "per_type": {
            t: {**prf(c["tp"], c["fp"], c["fn"]), "mentions": c["mentions"],
                "mention_accuracy": round(100 * c["mentions_correct"] / max(1, c["mentions"]), 2)}
            for t, c in sorted(per_type.items())
        },
        "methods": {k: {"n": v["n"], "accuracy": round(100 * v["correct"] / max(1, v["n"]), 2)}
                    for k, v in sorted(methods.items())},
        "links_per_second": round(n_links / seconds, 1) if seconds else None,
        "errors_sample": errors[:60],
    }


def eval_dictionary_ner(d: ConceptDictionary, path: Path, types=("Chemical", "Disease")) -> dict:
    """Greedy longest-match dictionary NER on ``path`` vs its gold mentions of ``types``."""
    trie_lower: dict[tuple, tuple[str, str]] = {}
    trie_exact: dict[tuple, tuple[str, str]] = {}
    max_len = 1
    for alias, typ, cid in d.ner_patterns():
        if typ not in types:
            continue
        case_sensitive = is_case_sensitive(alias)
        toks = tuple(_TOKEN.findall(alias if case_sensitive else alias.lower()))
        if not toks:
            continue
        (trie_exact if case_sensitive else trie_lower)[toks] = (typ, cid)
        max_len = max(max_len, len(toks))
    tp = fp = fn = 0
    per_type = defaultdict(Counter)
    for _pmid, text, ms in _pubtator(path):
        spans = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        orig = [s[2] for s in spans]
        low = [s.lower() for s in orig]
        pred = set()
        i = 0
        while i < len(spans):
            hit = None
            for n in range(min(max_len, len(spans) - i), 0, -1):
                key_l, key_o = tuple(low[i:i + n]), tuple(orig[i:i + n])
                got = trie_exact.get(key_o) or trie_lower.get(key_l)
                if got:
                    hit = (n, got)
                    break
            if hit:
                n, (typ, _cid) = hit
                pred.add((spans[i][0], spans[i + n - 1][1], typ))
                i += n
            else:
                i += 1
        gold = {(m.start, m.end, m.type) for m in ms if m.type in types}
        for typ in types:
            g = {x for x in gold if x[2] == typ}
            p = {x for x in pred if x[2] == typ}
            per_type[typ]["tp"] += len(g & p)
            per_type[typ]["fp"] += len(p - g)
            per_type[typ]["fn"] += len(g - p)
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)

    def prf(tp_, fp_, fn_):
        p = tp_ / (tp_ + fp_) if tp_ + fp_ else 0.0
        r = tp_ / (tp_ + fn_) if tp_ + fn_ else 0.0
        return {"precision": round(100 * p, 2), "recall": round(100 * r, 2),
                "f1": round(100 * (2 * p * r / (p + r) if p + r else 0.0), 2)}

    return {"file": str(path), **prf(tp, fp, fn),
            "per_type": {t: prf(c["tp"], c["fp"], c["fn"]) for t, c in per_type.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output", type=Path, help="JSON file to write")
    ap.add_argument("--datasets", type=Path, default=None, help="shared datasets folder")
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "medkg",
                    help="where the built dictionary is cached")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="fuzzy cosine threshold")
    ap.add_argument("--corpora", nargs="+", default=["bc5cdr", "ncbi_disease", "biored"])
    ap.add_argument("--no-abbreviations", action="store_true", help="link without long forms")
    args = ap.parse_args(argv)
    datasets = args.datasets or default_datasets_dir()
    if datasets is None:
        print("No datasets folder found: pass --datasets", file=sys.stderr)
        return 1

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    cached = any(args.cache_dir.glob("concepts-*.pkl"))
    d = ConceptDictionary.load_or_build(args.cache_dir, datasets)
    first = time.perf_counter() - t0
    cache_file = sorted(args.cache_dir.glob("concepts-*.pkl"), key=lambda p: p.stat().st_mtime)[-1]
    # Load time and memory of the cached dictionary, measured in a fresh process.
    probe = (
        "import sys,time; sys.path.insert(0, sys.argv[2]); t=time.perf_counter();"
        "from nlp.linking import ConceptDictionary; d=ConceptDictionary.load(sys.argv[1]);"
        "s=time.perf_counter()-t; d.link('hypertension','Disease');"
        "rss=[int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')][0];"
        "print(s, rss/1024)"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(cache_file), str(Path(__file__).resolve().parents[1])],
                         capture_output=True, text=True, check=True).stdout.split()
    load_s, rss_dict = float(out[0]), float(out[1])
    stats = d.stats()

    results = {
        "dictionary": {
            "build_seconds": d.info.get("build_seconds"),
            "first_call_seconds": round(first, 2), "first_call_was_cached": cached,
            "load_seconds": round(load_s, 2), "rss_mb_after_load": round(rss_dict, 1),
            "rss_mb_bench_process": round(rss0, 1), "cache_file": str(cache_file),
            "cache_file_mb": round(cache_file.stat().st_size / 2**20, 1), **stats,
            "build_info": {k: v for k, v in d.info.items() if not k.startswith("aliases")},
        },
        "threshold": args.threshold,
        "linking": {},
    }
    for name in args.corpora:
        path = datasets / CORPORA[name]["dev"]
        if path.exists():
            results["linking"][name] = eval_linking(d, path, args.threshold, not args.no_abbreviations)
    bc5 = datasets / CORPORA["bc5cdr"]["dev"]
    if bc5.exists():
        results["dictionary_ner_bc5cdr_dev"] = eval_dictionary_ner(d, bc5)
    results["rss_mb_end"] = round(_rss_mb(), 1)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1))

    dd = results["dictionary"]
    print(f"dictionary: {dd['concepts']} concepts, {dd['exact_aliases']} aliases, {dd['ner_patterns']} NER patterns; "
          f"build {dd['build_seconds']} s, load {dd['load_seconds']} s, RSS {dd['rss_mb_after_load']} MB "
          "(fresh process: import + load + one link)")
    print("concepts per vocab: " + ", ".join(f"{k} {v}" for k, v in dd["concepts_per_vocab"].items()))
    print("aliases per vocab:  " + ", ".join(f"{k} {v}" for k, v in dd["aliases_per_vocab"].items()))
    print()
    print(f"{'corpus (dev)':<14} {'type':<10} {'P':>6} {'R':>6} {'F1':>6} {'mentions':>8} {'acc':>6}")
    for name, r in results["linking"].items():
        dl = r["doc_level"]
        print(f"{name:<14} {'all':<10} {dl['precision']:>6} {dl['recall']:>6} {dl['f1']:>6} "
              f"{r['mentions']:>8} {r['mention_accuracy']:>6}")
        for t, c in r["per_type"].items():
            print(f"{'':<14} {t:<10} {c['precision']:>6} {c['recall']:>6} {c['f1']:>6} "
                  f"{c['mentions']:>8} {c['mention_accuracy']:>6}")
        print(f"{'':<14} methods: " + ", ".join(f"{k} {v['n']} ({v['accuracy']}%)" for k, v in r["methods"].items())
              + f"; {r['links_per_second']} links/s")
    if "dictionary_ner_bc5cdr_dev" in results:
        n = results["dictionary_ner_bc5cdr_dev"]
        print()
        print(f"dictionary NER, BC5CDR dev: P {n['precision']} R {n['recall']} F1 {n['f1']}  "
              + "; ".join(f"{t} P {c['precision']} R {c['recall']} F1 {c['f1']}" for t, c in n["per_type"].items()))
    print(f"\nwrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
