"""Dictionary-baseline NER vs the trained NER on the bundled sample (issue #4: answers on the sample
must get better, not worse). Ingests ``data/sample`` into two fresh homes with the same code and
counts linked mentions/concepts, supported edges, evidence, and the demo question's facts.

    python bench/sample_compare.py [--out bench/results/sample_ner_compare.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTION = "What drugs can cause hypertension?"


def measure(ner: str, sample: Path) -> dict:
    from retrieval.app import Medkg
    from retrieval.settings import Settings

    home = Path(tempfile.mkdtemp(prefix=f"medkg-{ner}-"))
    app = Medkg(Settings.load({"home": home, "ner": ner}))
    t = time.perf_counter()
    report = app.ingest([str(sample)])
    seconds = time.perf_counter() - t
    stats = app.store.stats()
    q = app.store._query
    ans = app.engine.ask(QUESTION)
    out = {
        "seconds": round(seconds, 1), "nlp_seconds": round(report.stage_seconds["nlp"], 1),
        "documents": stats.documents, "sentences": stats.sentences, "mentions": stats.mentions,
        "linked_mentions": q("SELECT COUNT(*) FROM mentions WHERE vocab != 'TXT'")[0][0],
        "concepts": stats.concepts, "linked_concepts": q("SELECT COUNT(*) FROM concepts WHERE vocab != 'TXT'")[0][0],
        "edges": stats.edges, "supported_edges": q("SELECT COUNT(*) FROM edges WHERE support > 0")[0][0],
        "evidence": stats.evidence, "demo_facts": len(ans.facts),
        "demo_facts_top10": [f"{f.subject.name} -[{f.predicate}]-> {f.object.name} ({f.support})" for f in ans.facts[:10]],
    }
    app.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=Path, default=ROOT / "data" / "sample")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sample_ner_compare.json")
    args = ap.parse_args(argv)
    results = {ner: measure(ner, args.sample) for ner in ("dictionary", "trained")}
    keys = ["mentions", "linked_mentions", "linked_concepts", "supported_edges", "evidence", "demo_facts"]
    print(f"{'':18}{'dictionary':>12}{'trained':>12}")
    for k in keys:
        print(f"{k:18}{results['dictionary'][k]:>12,}{results['trained'][k]:>12,}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
