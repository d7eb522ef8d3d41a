"""Relation-extraction benchmark on the dev splits: BC5CDR CID and BioRED.

* **BC5CDR CID, gold entities**: the dev abstracts with their gold mentions (spans and MeSH
  ids) placed as ``doc.ents`` and run through the sentence splitter and ConText; the relation
  model's document-level chemical -> disease pairs against the gold CID pairs.
* **BC5CDR CID, end to end**: the full pipeline (``--ner dictionary`` or ``trained``) on the
  raw dev abstracts, then :func:`nlp.relation_model.document_cid_pairs` on the Extraction;
  only MeSH ids can match the gold pairs.
* **BioRED, gold entities**: document-level concept pairs with a relation (pair), with its
  BioRED type (pair+type) and with the kg.schema predicate it maps to (pair+predicate).

P/R/F1 are micro-averaged over documents (the shared-task way: a pair counts once per
abstract). The trigger-pattern baseline is reported next to the model (sentence-level CAUSES
relations, not negated). Published reference: best BC5CDR CID team, end to end, 57.03 F1 (on
the test set).

Usage::

    python bench/relation_eval.py results/relations.json [--ner dictionary|trained] [--datasets DIR]
        [--model data/models/medkg_rel] [--limit N] [--skip-e2e]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kg.schema import CHEMICAL, DISEASE  # noqa: E402
from nlp.linking import CORPORA, default_datasets_dir  # noqa: E402
from nlp.relation_model import (  # noqa: E402
    MODEL_DIR,
    NONE,
    RelationModel,
    document_cid_pairs,
    map_label,
    view_from_extraction,
)
from nlp.relations import pattern_relations  # noqa: E402
from nlp.train_relations import context_pipeline, gold_view, read_pubtator  # noqa: E402


class PRF:
    def __init__(self):
        self.tp = self.fp = self.fn = 0

    def add(self, pred: set, gold: set) -> None:
        self.tp += len(pred & gold)
        self.fp += len(pred - gold)
        self.fn += len(gold - pred)

    def to_dict(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"P": round(100 * p, 2), "R": round(100 * r, 2), "F1": round(100 * f, 2),
                "tp": self.tp, "fp": self.fp, "fn": self.fn}


def _pattern_cid(view) -> set[tuple[str, str]]:
    """CID pairs of the trigger-pattern baseline: sentence-level CAUSES, Chemical -> Disease, not negated."""
    by_ref = {id(e.ref) if not isinstance(e.ref, tuple) else e.ref: e for e in view.ents}
    out = set()
    for r in pattern_relations(view):
        if r["predicate"] != "CAUSES" or r["negated"] or r["hypothetical"]:
            continue
        s = by_ref.get(r["subject"] if isinstance(r["subject"], tuple) else id(r["subject"]))
        o = by_ref.get(r["object"] if isinstance(r["object"], tuple) else id(r["object"]))
        if s is None or o is None or s.label != CHEMICAL or o.label != DISEASE:
            continue
        out.update((x, y) for x in s.ids for y in o.ids)
    return out


def eval_cid_gold(model: RelationModel | None, docs: list, nlp) -> dict[str, Any]:
    res = {"model": PRF(), "model_doc_only": PRF(), "pattern": PRF()}
    for d in docs:
        view = gold_view(nlp, d)
        gold = set(d.cid)
        res["pattern"].add(_pattern_cid(view), gold)
        if model is not None:
            doc_pairs = set(model.cid_pairs(view))
            res["model_doc_only"].add(doc_pairs, gold)
            res["model"].add(doc_pairs | model.sentence_cid_pairs(view), gold)
    return {k: v.to_dict() for k, v in res.items() if v.tp + v.fp + v.fn or k == "pattern"}


def _why_missing(cid: str, gold_mentions, found) -> str:
    """Why the concept id ``cid`` of a gold CID pair is not among a document's predicted ids:
    ``linked_elsewhere`` (a predicted mention has the text of one of its gold mentions, linked to
    another id), ``span_differs`` (a predicted mention's text contains or is inside one of them),
    ``not_found`` (no predicted mention near its surface forms)."""
    texts = {m.text.lower() for m in gold_mentions if cid in m.ids}
    if any(m.text.lower() in texts for m in found):
        return "linked_elsewhere"
    if any(t in m.text.lower() or m.text.lower() in t for m in found for t in texts):
        return "span_differs"
    return "not_found"


def eval_cid_e2e(model: RelationModel | None, docs: list, ner: str) -> dict[str, Any]:
    from nlp.extraction import Document
    from nlp.pipeline import Extractor
    from retrieval.app import Medkg
    from retrieval.settings import Settings

    t0 = time.perf_counter()
    app = Medkg(Settings.load({"home": tempfile.mkdtemp(prefix="medkg-releval-"), "ner": ner}))
    extractor = Extractor(app.nlp)
    load_s = time.perf_counter() - t0
    res = {"model": PRF(), "pattern": PRF()}
    ents = PRF()  # chemical/disease concept ids per document (MeSH), a diagnostic of the NER+linker
    reach = Counter()
    missing = Counter()  # ids of gold CID pairs the NER+linker did not find, by why (see _why_missing)
    t1 = time.perf_counter()
    documents = [Document(id=d.pmid, title=d.title, text=d.abstract) for d in docs]
    for d, ex in zip(docs, extractor.extract_many(documents)):
        gold = set(d.cid)
        mesh = lambda pairs: {(x, y) for x, y in pairs if x.startswith("MESH:") and y.startswith("MESH:")}  # noqa: E731
        view = view_from_extraction(ex)
        res["pattern"].add(mesh(_pattern_cid(view)), gold)
        if model is not None:
            res["model"].add(mesh(document_cid_pairs(ex, model)), gold)
        pred_ids = {m.concept_id for _s, m in ex.mentions() if m.label in (CHEMICAL, DISEASE)
                    and m.concept_id.startswith("MESH:")}
        gold_ids = {c for m in d.mentions if m.type in (CHEMICAL, DISEASE) for c in m.ids}
        ents.add(pred_ids, gold_ids)
        reach["gold"] += len(gold)
        reach["both_found"] += sum(1 for x, y in gold if x in pred_ids and y in pred_ids)
        found = [m for _s, m in ex.mentions() if m.label in (CHEMICAL, DISEASE)]
        for cid in {x for pair in gold for x in pair} - pred_ids:
            missing[_why_missing(cid, d.mentions, found)] += 1
    out = {k: v.to_dict() for k, v in res.items() if v.tp + v.fp + v.fn or k == "pattern"}
    out["concept_ids_per_doc"] = ents.to_dict()
    # recall ceiling of any relation classifier on this NER + linking: gold pairs both of whose ids were found
    out["gold_pairs_with_both_ids_found"] = {**reach, "recall_ceiling": round(100 * reach["both_found"]
                                                                             / max(1, reach["gold"]), 2)}
    out["cid_ids_missing_by_cause"] = dict(missing.most_common())
    out["seconds"] = {"load": round(load_s, 1), "extract_and_relations": round(time.perf_counter() - t1, 1)}
    return out


def eval_biored(model: RelationModel | None, docs: list, nlp) -> dict[str, Any]:
    res = {k: PRF() for k in ("pair", "pair+type", "pair+predicate")}
    per_label: dict[str, PRF] = {}
    pattern = {k: PRF() for k in ("pair", "pair+predicate")}
    for d in docs:
        view = gold_view(nlp, d)
        types = d.concept_types()
        gold_pair = set(d.rels)
        gold_typed = {(k, lab) for k, lab in d.rels.items()}
        gold_pred = set()
        for (x, y), lab in d.rels.items():
            pred = map_label("biored", lab, types.get(x, ""), types.get(y, ""))
            if pred:
                gold_pred.add(((x, y), pred))
        # baseline: sentence-level pattern relations aggregated per document
        by_ref = {id(e.ref): e for e in view.ents}
        pp, ppred = set(), set()
        for r in pattern_relations(view):
            s, o = by_ref.get(id(r["subject"])), by_ref.get(id(r["object"]))
            if s is None or o is None:
                continue
            for x in s.ids:
                for y in o.ids:
                    if x != y:
                        key = tuple(sorted((x, y)))
                        pp.add(key)
                        ppred.add((key, r["predicate"]))
        pattern["pair"].add(pp, gold_pair)
        pattern["pair+predicate"].add(ppred, gold_pred)
        if model is None:
            continue
        rels = model.document_relations(view)
        pred_pair = {tuple(sorted((r["x"], r["y"]))) for r in rels}
        pred_typed = {(tuple(sorted((r["x"], r["y"]))), r["label"]) for r in rels}
        pred_pred = {(tuple(sorted((r["x"], r["y"]))), r["predicate"]) for r in rels if r["predicate"]}
        res["pair"].add(pred_pair, gold_pair)
        res["pair+type"].add(pred_typed, gold_typed)
        res["pair+predicate"].add(pred_pred, gold_pred)
        for lab in {lab for _k, lab in gold_typed | pred_typed}:
            per_label.setdefault(lab, PRF()).add({t for t in pred_typed if t[1] == lab},
                                                 {t for t in gold_typed if t[1] == lab})
    out = {"model": {k: v.to_dict() for k, v in res.items()} if model is not None else None,
           "pattern": {k: v.to_dict() for k, v in pattern.items()},
           "model_per_type": {k: v.to_dict() for k, v in sorted(per_label.items())}}
    return out


def _row(name: str, m: dict[str, Any]) -> str:
    return f"  {name:<44} {m['P']:>7.2f} {m['R']:>7.2f} {m['F1']:>7.2f}   (tp {m['tp']}, fp {m['fp']}, fn {m['fn']})"


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="JSON results path")
    ap.add_argument("--ner", default="dictionary", help="pipeline NER for the end-to-end run: dictionary | trained")
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--model", type=Path, default=MODEL_DIR, help="relation model folder")
    ap.add_argument("--limit", type=int, default=0, help="first N dev documents only (quick checks)")
    ap.add_argument("--skip-e2e", action="store_true", help="gold-entity evaluations only")
    args = ap.parse_args(list(argv) if argv is not None else None)
    datasets = args.datasets or default_datasets_dir()
    if datasets is None:
        print("No datasets folder: pass --datasets", file=sys.stderr)
        return 1
    model = RelationModel.load(args.model) if (args.model / "model.joblib").exists() else None
    if model is None:
        print(f"no relation model in {args.model}: pattern baseline only", file=sys.stderr)
    nlp = context_pipeline()
    cdr = list(read_pubtator(Path(datasets) / CORPORA["bc5cdr"]["dev"], "bc5cdr"))
    bio = list(read_pubtator(Path(datasets) / CORPORA["biored"]["dev"], "biored"))
    if args.limit:
        cdr, bio = cdr[:args.limit], bio[:args.limit]
    results: dict[str, Any] = {"model": str(args.model) if model else None,
                               "model_meta": {k: model.meta.get(k) for k in ("trained_on", "seed", "cv")} if model else None,
                               "dev_documents": {"bc5cdr": len(cdr), "biored": len(bio)}}
    t0 = time.perf_counter()
    results["cid_gold_entities"] = eval_cid_gold(model, cdr, nlp)
    results["biored_gold_entities"] = eval_biored(model, bio, nlp)
    results["seconds_gold"] = round(time.perf_counter() - t0, 1)
    if not args.skip_e2e:
        results[f"cid_end_to_end_{args.ner}"] = eval_cid_e2e(model, cdr, args.ner)

    print(f"{'':<46} {'P':>7} {'R':>7} {'F1':>7}")
    print(f"BC5CDR CID dev ({len(cdr)} abstracts), gold entities")
    for k, v in results["cid_gold_entities"].items():
        print(_row(k, v))
    key = f"cid_end_to_end_{args.ner}"
    if key in results:
        print(f"BC5CDR CID dev, end to end (ner={args.ner})")
        for k, v in results[key].items():
            if isinstance(v, dict) and "F1" in v:
                print(_row(k, v))
    print(f"BioRED dev ({len(bio)} abstracts), gold entities, document-level")
    b = results["biored_gold_entities"]
    if b["model"]:
        for k, v in b["model"].items():
            print(_row(f"model {k}", v))
    for k, v in b["pattern"].items():
        print(_row(f"pattern {k}", v))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
