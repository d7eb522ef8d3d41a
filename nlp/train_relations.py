"""Train the relation model shipped in ``data/models/medkg_rel`` (see :mod:`nlp.relation_model`).

Corpora (train splits only, read from ``../shared/datasets`` or ``--datasets``):

* BioRED train: every relation-bearing entity pair, 8 relation types;
* BC5CDR train: chemical-induced disease (CID) pairs per abstract.

A training document whose PMID is in any corpus's dev split (BC5CDR, BioRED, NCBI-disease) is
left out: 44 BC5CDR dev abstracts are also BioRED train abstracts, and dev numbers must stay
honest. Gold entities are placed as ``doc.ents`` and run through the pipeline's sentence
splitter and medspaCy ConText (with ``resources/context_rules.json``), so the training features
see what the pipeline sees.

Procedure (all seeded; the same data and seed give the same model):

1. mention pairs of each sentence, features, distant labels from the document-level annotation;
2. five folds over PMIDs: out-of-fold mention-pair probabilities and out-of-fold concept-pair
   priors (a document never sees counts from itself) feed the concept-pair models;
3. the CID second stage learns from the first stage's out-of-fold probabilities (competition
   between a document's candidates), with its own out-of-fold predictions on the same folds;
4. decision thresholds maximise F1 of out-of-fold predictions on the training documents;
5. final heads on all training documents; priors from all of them.

Usage::

    python -m nlp.train_relations [--datasets ../shared/datasets] [--out data/models/medkg_rel] [--seed 13]
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from nlp.linking import CORPORA, _split_ids, canonical_type, default_datasets_dir
from nlp.relation_model import (
    BIORED_LABELS,
    CLASSES,
    MODEL_DIR,
    NONE,
    DocView,
    Priors,
    STACK_FEATURES,
    RelationModel,
    VEnt,
    _is_chem_dis,
    _ordered_proba,
    candidate_pairs,
    cid_stack_features,
    concept_pair_table,
    coordinated_concepts,
    mention_pair_features,
    rows_to_matrix,
    view_from_doc,
)
from kg.schema import CHEMICAL, DISEASE

log = logging.getLogger("medkg.train_relations")

N_FOLDS = 5
DEFAULT_SEED = 13


# ------------------------------------------------------------------------------------------
# Corpora
# ------------------------------------------------------------------------------------------
@dataclass
class GoldMention:
    start: int
    end: int
    text: str
    type: str
    ids: tuple[str, ...]


@dataclass
class CorpusDoc:
    """One annotated abstract: text, gold mentions and document-level relations."""

    pmid: str
    corpus: str  # "bc5cdr" | "biored"
    title: str
    abstract: str
    mentions: list[GoldMention] = field(default_factory=list)
    cid: set[tuple[str, str]] | None = None  # (chemical, disease) pairs stated as induced
    rels: dict[tuple[str, str], str] | None = None  # BioRED: sorted concept pair -> label

    @property
    def text(self) -> str:
        return f"{self.title} {self.abstract}" if self.title else self.abstract

    def concepts(self) -> set[str]:
        return {c for m in self.mentions for c in m.ids}

    def concept_types(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for m in self.mentions:
            for c in m.ids:
                out.setdefault(c, m.type)
        return out


def read_pubtator(path: Path, corpus: str) -> Iterator[CorpusDoc]:
    """Documents of a BC5CDR or BioRED PubTator file, with concept ids as CURIEs
    (``MESH:D003042``, ``NCBIGene:3630``, ``dbSNP:rs...``; the linker's spelling)."""
    doc: CorpusDoc | None = None
    raw_rels: list[list[str]] = []

    def finish(d: CorpusDoc) -> CorpusDoc:
        raw_to: dict[str, str] = {}
        for line in d._raw:  # type: ignore[attr-defined]
            typ = canonical_type(line[4]) or line[4]
            raw = line[5].strip()
            if typ == "Variant":
                parts = [raw]
            else:
                parts = [p.strip() for p in raw.replace("|", ",").replace(";", ",").replace("+", ",").split(",")]
            for p in parts:
                curies = _split_ids(p, typ)
                if len(curies) == 1:
                    raw_to.setdefault(p, curies[0])
        if corpus == "bc5cdr":
            d.cid = set()
            for r in raw_rels:
                if r[1] == "CID":
                    c, s = raw_to.get(r[2], f"MESH:{r[2]}"), raw_to.get(r[3], f"MESH:{r[3]}")
                    d.cid.add((c, s))
        else:
            d.rels = {}
            types = d.concept_types()
            d.cid = set()
            for r in raw_rels:
                x, y = raw_to.get(r[2]), raw_to.get(r[3])
                if not x or not y or x == y:
                    continue
                d.rels[tuple(sorted((x, y)))] = r[1]
                tx, ty = types.get(x), types.get(y)
                if r[1] == "Positive_Correlation" and {tx, ty} == {CHEMICAL, DISEASE}:
                    d.cid.add((x, y) if tx == CHEMICAL else (y, x))
        del d._raw  # type: ignore[attr-defined]
        return d

    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                if doc is not None:
                    yield finish(doc)
                doc, raw_rels = None, []
                continue
            if "|t|" in line[:20]:
                pmid, title = line.split("|t|", 1)
                doc = CorpusDoc(pmid, corpus, title, "")
                doc._raw = []  # type: ignore[attr-defined]
                continue
            if "|a|" in line[:20] and doc is not None:
                doc.abstract = line.split("|a|", 1)[1]
                continue
            parts = line.split("\t")
            if doc is None:
                continue
            if len(parts) >= 6 and parts[1].isdigit() and parts[2].isdigit():
                typ = canonical_type(parts[4]) or parts[4]
                doc.mentions.append(GoldMention(int(parts[1]), int(parts[2]), parts[3], typ,
                                                tuple(_split_ids(parts[5], typ))))
                doc._raw.append(parts)  # type: ignore[attr-defined]
            elif len(parts) >= 4 and not parts[1].isdigit():
                raw_rels.append(parts)
        if doc is not None:
            yield finish(doc)


def dev_pmids(datasets: Path) -> set[str]:
    """PMIDs of every corpus's dev split (never trained on)."""
    out: set[str] = set()
    for spec in CORPORA.values():
        p = datasets / spec["dev"]
        if p.exists():
            with p.open(encoding="utf-8") as fh:
                out.update(line.split("|", 1)[0] for line in fh if "|t|" in line[:20])
    return out


def load_training_docs(datasets: Path) -> tuple[list[CorpusDoc], dict[str, Any]]:
    """BioRED train + BC5CDR train, minus any document whose PMID is in a dev split."""
    dev = dev_pmids(datasets)
    docs: list[CorpusDoc] = []
    info: dict[str, Any] = {"excluded_as_dev": {}}
    for corpus, rel in (("biored", CORPORA["biored"]["train"]), ("bc5cdr", CORPORA["bc5cdr"]["train"])):
        n_ex = 0
        for d in read_pubtator(datasets / rel, corpus):
            if d.pmid in dev:
                n_ex += 1
                continue
            docs.append(d)
        info["excluded_as_dev"][corpus] = n_ex
    # an abstract in both corpora: its CID annotation comes from BC5CDR only
    bc5 = {d.pmid for d in docs if d.corpus == "bc5cdr"}
    for d in docs:
        if d.corpus == "biored" and d.pmid in bc5:
            d.cid = None
    info["both_corpora"] = sum(1 for d in docs if d.corpus == "biored" and d.pmid in bc5)
    info["documents"] = dict(Counter(d.corpus for d in docs))
    return docs, info


# ------------------------------------------------------------------------------------------
# Gold documents through the pipeline's sentence splitter and ConText
# ------------------------------------------------------------------------------------------
def context_pipeline():
    """tokenizer -> sentencizer -> medkg_sentences -> medspaCy ConText (+ medkg rules), as in build_nlp."""
    from nlp.pipeline import add_context, sentence_pipeline

    return add_context(sentence_pipeline())


def gold_view(nlp, doc: CorpusDoc) -> DocView:
    """A :class:`DocView` of a corpus document with its gold mentions as entities."""
    from spacy.util import filter_spans

    sdoc = nlp.make_doc(doc.text)
    if doc.title:
        sdoc.user_data["title_end"] = len(doc.title) + 1
    sdoc = nlp.get_pipe("sentencizer")(sdoc)
    sdoc = nlp.get_pipe("medkg_sentences")(sdoc)
    spans = []
    ids: dict[tuple[int, int], list[str]] = defaultdict(list)
    for m in doc.mentions:
        sp = sdoc.char_span(m.start, m.end, label=m.type, alignment_mode="expand")
        if sp is None:
            continue
        spans.append(sp)
        for c in m.ids:
            if c not in ids[(sp.start, sp.end)]:
                ids[(sp.start, sp.end)].append(c)
    sdoc.ents = filter_spans(spans)
    sdoc = nlp.get_pipe("medspacy_context")(sdoc)
    for e in sdoc.ents:
        e._.concept_id = ids[(e.start, e.end)][0] if ids[(e.start, e.end)] else ""
    return view_from_doc(sdoc, ids_of=lambda e: tuple(ids[(e.start, e.end)]))


# ------------------------------------------------------------------------------------------
# Labels
# ------------------------------------------------------------------------------------------
def mention_labels(doc: CorpusDoc, view: DocView, pairs: list[tuple[int, int]]) -> tuple[list[str | None], list[int | None]]:
    """Distant labels of mention pairs: BioRED class (BioRED docs, else None) and CID 0/1
    (chemical-disease pairs, else None)."""
    biored: list[str | None] = []
    cid: list[int | None] = []
    for i, j in pairs:
        a, b = view.ents[i], view.ents[j]
        if doc.rels is not None:
            lab = NONE
            for x in a.ids:
                for y in b.ids:
                    r = doc.rels.get(tuple(sorted((x, y))))
                    if r:
                        lab = r
            biored.append(lab)
        else:
            biored.append(None)
        if _is_chem_dis(a, b) and doc.cid is not None:
            chem, dis = (a, b) if a.label == CHEMICAL else (b, a)
            cid.append(int(any((x, y) in doc.cid for x in chem.ids for y in dis.ids)))
        else:
            cid.append(None)
    return biored, cid


def fold_of(pmid: str, seed: int) -> int:
    """The cross-validation fold of a PMID (both corpora's copies of an abstract share it)."""
    return random.Random(f"{seed}:{pmid}").randrange(N_FOLDS)


# ------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------
def _lr(C: float, seed: int, multiclass: bool):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000, solver="lbfgs", random_state=seed,
                              class_weight=None if multiclass else None)


def _hgb(spec: tuple, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    n_iter, lr, leaves, min_leaf = spec
    return HistGradientBoostingClassifier(max_iter=n_iter, learning_rate=lr, max_leaf_nodes=leaves,
                                          min_samples_leaf=min_leaf, l2_regularization=1.0, early_stopping=False,
                                          random_state=seed)


def _best_threshold(scores: np.ndarray, gold: np.ndarray, n_gold: int | None = None) -> tuple[float, float]:
    """Threshold maximising F1 (``n_gold`` = positives including ones no candidate covers)."""
    order = np.argsort(-scores)
    s, g = scores[order], gold[order]
    tp = np.cumsum(g)
    k = np.arange(1, len(s) + 1)
    n_pos = n_gold if n_gold is not None else int(g.sum())
    f1 = 2 * tp / (k + n_pos)
    best = int(np.argmax(f1))
    thr = float(s[best]) if best + 1 >= len(s) else float((s[best] + s[best + 1]) / 2)
    return thr, float(f1[best])


@dataclass
class _DocData:
    doc: CorpusDoc
    view: DocView
    pairs: list[tuple[int, int]]
    feats: list[dict[str, float]]
    y_biored: list[str | None]
    y_cid: list[int | None]
    fold: int
    biored_p: np.ndarray | None = None
    cid_p: np.ndarray | None = None
    negated: list[bool] | None = None
    patterns: list[str | None] | None = None


def _priors_of(docs: list[_DocData]) -> Priors:
    p = Priors()
    for d in docs:
        p.add(d.doc.concepts(), d.doc.cid, d.doc.rels)
    return p


def prepare(docs: list[CorpusDoc], seed: int = DEFAULT_SEED, nlp=None) -> list[_DocData]:
    """Gold views, candidate mention pairs, features, labels and assertion of every document."""
    from nlp.relations import pattern_predicate, relation_assertion

    nlp = nlp or context_pipeline()
    data: list[_DocData] = []
    for d in docs:
        view = gold_view(nlp, d)
        for e in view.ents:
            e.ref = None  # spaCy spans are not needed past this point (and do not pickle)
        pairs = [(i, j) for i, j in candidate_pairs(view) if view.ents[i].ids and view.ents[j].ids]
        feats = mention_pair_features(view, pairs)
        yb, yc = mention_labels(d, view, pairs)
        neg = [relation_assertion(view, view.ents[i], view.ents[j], None)["negated"] for i, j in pairs]
        pats = [pattern_predicate(view, view.ents[i], view.ents[j]) for i, j in pairs]
        data.append(_DocData(d, view, pairs, feats, yb, yc, fold_of(d.pmid, seed), negated=neg, patterns=pats))
    return data


@dataclass
class Params:
    """Training hyper-parameters (defaults = the shipped model)."""

    seed: int = DEFAULT_SEED
    C_mention: float = 0.5
    min_feature_count: int = 2
    cid_doc_corpora: tuple[str, ...] = ("bc5cdr", "biored")  # documents the concept-pair CID head learns from
    use_priors: bool = True
    use_trees: bool = True  # MeSH disease hierarchy features
    # concept-pair trees: (iterations, learning rate, leaves, min samples per leaf), chosen by CV F1
    cid_hgb: tuple = (200, 0.06, 15, 20)
    biored_hgb: tuple = (150, 0.05, 7, 40)  # 9 classes, fewer positives per class: smaller trees
    cid_stack: bool = True  # second CID stage over the candidates' competition within a document
    cid_stack_hgb: tuple = (150, 0.05, 7, 40)


def train(datasets: Path, out: Path | None = MODEL_DIR, params: Params | None = None) -> RelationModel:
    """Train, choose thresholds by cross-validation, save to ``out`` (if given) and return the model."""
    params = params or Params()
    t0 = time.perf_counter()
    random.seed(params.seed)
    np.random.seed(params.seed)
    docs, info = load_training_docs(datasets)
    log.info("documents: %s (excluded as dev: %s)", info["documents"], info["excluded_as_dev"])
    data = prepare(docs, params.seed)
    log.info("views and features: %.1fs, %d mention pairs", time.perf_counter() - t0, sum(len(x.pairs) for x in data))
    model = fit(data, params, info)
    model.meta["train_seconds"] = round(time.perf_counter() - t0, 1)
    if out is not None:
        model.save(out)
        log.info("saved to %s", out)
    return model


def fit(data: list[_DocData], params: Params, info: dict[str, Any] | None = None) -> RelationModel:
    """Fit every head on prepared documents (out-of-fold stacking, thresholds by CV)."""
    mention = fit_mentions(data, params)
    return fit_concepts(data, params, mention, info)


@dataclass
class _MentionStage:
    """The mention-pair heads on all training documents, their thresholds and CV scores (the
    out-of-fold probabilities are left in each ``_DocData``)."""

    vec: Any
    biored_head: Any
    cid_head: Any
    thresholds: dict[str, float]
    cv: dict[str, Any]
    n_pairs: dict[str, int]
    seconds: float


def fit_mentions(data: list[_DocData], params: Params) -> _MentionStage:
    """Mention-pair heads: out-of-fold probabilities (stored in ``data``), thresholds, final heads."""
    from sklearn.feature_extraction import DictVectorizer

    seed, C_mention, min_feature_count = params.seed, params.C_mention, params.min_feature_count
    t0 = time.perf_counter()
    # ---- vectorizer (features seen at least min_feature_count times)
    counts: Counter = Counter()
    for x in data:
        for f in x.feats:
            counts.update(f.keys())
    keep = {k for k, v in counts.items() if v >= min_feature_count}
    vec = DictVectorizer(dtype=np.float32, sort=True)
    vec.fit([{k: 1.0 for k in keep}])

    def matrix(rows: list[dict[str, float]]):
        return vec.transform(rows)

    Xs = [matrix(x.feats) if x.feats else None for x in data]

    def gather(idx: list[int], head: str):
        import scipy.sparse as sp

        rows, ys, where = [], [], []
        for k in idx:
            x = data[k]
            ylist = x.y_biored if head == "biored" else x.y_cid
            sel = [r for r, y in enumerate(ylist) if y is not None]
            if not sel:
                continue
            rows.append(Xs[k][sel])
            ys.extend(ylist[r] for r in sel)
            where.append((k, sel))
        if not rows:
            return None, None, []
        return sp.vstack(rows).tocsr(), np.array(ys), where

    # ---- out-of-fold mention-pair probabilities
    for x in data:
        x.biored_p = np.zeros((len(x.pairs), len(CLASSES)))
        x.cid_p = np.full(len(x.pairs), np.nan)
    for fold in range(N_FOLDS):
        tr = [k for k, x in enumerate(data) if x.fold != fold]
        te = [k for k, x in enumerate(data) if x.fold == fold]
        Xb, yb, _ = gather(tr, "biored")
        hb = _lr(C_mention, seed, True).fit(Xb, yb)
        Xc, yc, _ = gather(tr, "cid")
        hc = _lr(C_mention, seed, False).fit(Xc, yc.astype(int))
        for k in te:
            x = data[k]
            if not x.pairs:
                continue
            x.biored_p = _ordered_proba(hb, Xs[k], CLASSES)
            cd = [r for r, (i, j) in enumerate(x.pairs) if _is_chem_dis(x.view.ents[i], x.view.ents[j])]
            if cd:
                x.cid_p[cd] = hc.predict_proba(Xs[k][cd])[:, 1]
        log.info("fold %d mention heads done (%.1fs)", fold, time.perf_counter() - t0)

    # ---- mention-level thresholds (distant labels, out of fold)
    thresholds: dict[str, float] = {}
    cv: dict[str, Any] = {}
    sc, gc = [], []
    sb, gb = [], []
    for x in data:
        for r, (yb_, yc_) in enumerate(zip(x.y_biored, x.y_cid)):
            if yc_ is not None and not np.isnan(x.cid_p[r]):
                sc.append(x.cid_p[r])
                gc.append(yc_)
            if yb_ is not None:
                sb.append(1 - x.biored_p[r, 0])
                gb.append(int(yb_ != NONE))
    thresholds["mention_cid"], cv["mention_cid_f1"] = _best_threshold(np.array(sc), np.array(gc))
    thresholds["mention_biored"], cv["mention_biored_any_f1"] = _best_threshold(np.array(sb), np.array(gb))
    # a sentence-level relation is evidence: never below 0.5 whatever F1 prefers
    thresholds["mention_cid"] = max(0.5, thresholds["mention_cid"])
    thresholds["mention_biored"] = max(0.5, thresholds["mention_biored"])

    Xb, yb, _ = gather(list(range(len(data))), "biored")
    Xc, yc, _ = gather(list(range(len(data))), "cid")
    biored_head = _lr(C_mention, seed, True).fit(Xb, yb)
    cid_head = _lr(C_mention, seed, False).fit(Xc, yc.astype(int))
    return _MentionStage(vec, biored_head, cid_head, thresholds, cv, {"biored": int(len(yb)), "cid": int(len(yc))},
                         time.perf_counter() - t0)


def fit_concepts(data: list[_DocData], params: Params, mention: _MentionStage,
                 info: dict[str, Any] | None = None) -> RelationModel:
    """Concept-pair heads on the out-of-fold mention probabilities of ``data``; thresholds by CV."""
    seed = params.seed
    t0 = time.perf_counter()
    thresholds = dict(mention.thresholds)
    cv = dict(mention.cv)
    # ---- concept-pair tables with out-of-fold priors
    total = _priors_of(data) if params.use_priors else Priors()
    fold_priors = [_priors_of([x for x in data if x.fold == f]) if params.use_priors else Priors()
                   for f in range(N_FOLDS)]
    from nlp.relation_model import mesh_disease_trees

    trees = mesh_disease_trees() if params.use_trees else None
    tables = []
    for x in data:
        pri = total.minus(fold_priors[x.fold])
        keys, rows = concept_pair_table(x.view, x.pairs, x.biored_p, x.cid_p, x.negated, x.patterns, pri, trees)
        tables.append((keys, rows))
    names = sorted({n for _k, rows in tables for r in rows for n in r})
    ctypes = [x.doc.concept_types() for x in data]

    def doc_rows(head: str):
        Xr, yr, grp, ks = [], [], [], []
        for k, (x, (keys, rows)) in enumerate(zip(data, tables)):
            if head == "cid" and (x.doc.cid is None or x.doc.corpus not in params.cid_doc_corpora):
                continue
            if head == "biored" and x.doc.rels is None:
                continue
            for (cx, cy), row in zip(keys, rows):
                tx, ty = ctypes[k].get(cx), ctypes[k].get(cy)
                if head == "cid":
                    if not (tx == CHEMICAL and ty == DISEASE):
                        continue
                    yr.append(int((cx, cy) in x.doc.cid))
                else:
                    yr.append(x.doc.rels.get(tuple(sorted((cx, cy))), NONE))
                Xr.append(row)
                grp.append(k)
                ks.append((cx, cy))
        return rows_to_matrix(Xr, names), np.array(yr), np.array(grp), ks

    Xcid, ycid, gcid, kcid = doc_rows("cid")
    Xbr, ybr, gbr, _ = doc_rows("biored")
    log.info("concept pairs: cid %d (%d positive), biored %d (%d related)", len(ycid), int(ycid.sum()),
             len(ybr), int((ybr != NONE).sum()))

    # ---- out-of-fold concept-pair predictions -> thresholds
    folds_cid = np.array([data[k].fold for k in gcid])
    folds_br = np.array([data[k].fold for k in gbr])
    oof_cid = np.zeros(len(ycid))
    oof_br = np.zeros((len(ybr), len(CLASSES)))
    for fold in range(N_FOLDS):
        m = folds_cid != fold
        h = _hgb(params.cid_hgb, seed).fit(Xcid[m], ycid[m])
        oof_cid[~m] = h.predict_proba(Xcid[~m])[:, 1]
        m = folds_br != fold
        h = _hgb(params.biored_hgb, seed).fit(Xbr[m], ybr[m])
        oof_br[~m] = _ordered_proba(h, Xbr[~m], CLASSES)
    # gold CID pairs whose concepts have no candidate (ids absent from mentions) still count
    n_gold_cid = sum(len(x.doc.cid) for x in data if x.doc.cid is not None and x.doc.corpus in params.cid_doc_corpora)
    thresholds["doc_cid"], cv["doc_cid_f1"] = _best_threshold(oof_cid, ycid, n_gold_cid)
    cid_stack_head = None
    if params.cid_stack:
        # second stage: the first stage's out-of-fold probabilities competing within each document
        thresholds["doc_cid_stage1"], cv["doc_cid_f1_stage1"] = thresholds["doc_cid"], cv["doc_cid_f1"]
        S = np.zeros((len(ycid), len(STACK_FEATURES)))
        for k in np.unique(gcid):
            r = np.flatnonzero(gcid == k)
            S[r] = cid_stack_features([kcid[i] for i in r], oof_cid[r], thresholds["doc_cid"], trees,
                                      coordinated_concepts(data[k].view))
        X2 = np.hstack([Xcid, S])
        oof2 = np.zeros(len(ycid))
        for fold in range(N_FOLDS):
            m = folds_cid != fold
            oof2[~m] = _hgb(params.cid_stack_hgb, seed).fit(X2[m], ycid[m]).predict_proba(X2[~m])[:, 1]
        cid_stack_head = _hgb(params.cid_stack_hgb, seed).fit(X2, ycid)
        oof_cid = oof2
        thresholds["doc_cid"], cv["doc_cid_f1"] = _best_threshold(oof_cid, ycid, n_gold_cid)
    thresholds["doc_cid_fallback"], cv["doc_cid_fallback_f1"] = _tune_fallback(oof_cid, ycid, gcid, n_gold_cid,
                                                                               thresholds["doc_cid"])
    thresholds["sentence_cid"], cv["doc_cid_union_f1"] = _tune_union(data, tables, ctypes, oof_cid,
                                                                     thresholds["doc_cid"], params.cid_doc_corpora)
    bc5 = np.array([data[k].doc.corpus == "bc5cdr" for k in gcid])
    if bc5.any():
        n_bc5 = sum(len(x.doc.cid) for x in data if x.doc.corpus == "bc5cdr")
        cv["doc_cid_f1_bc5cdr_docs"] = _f1_at(oof_cid[bc5], ycid[bc5], n_bc5, thresholds["doc_cid"])
    # BioRED: best non-None label; score = its probability
    lab_idx = oof_br[:, 1:].argmax(1) + 1
    score = oof_br[np.arange(len(ybr)), lab_idx]
    pred_lab = np.array(CLASSES)[lab_idx]
    n_gold_br = sum(len(x.doc.rels) for x in data if x.doc.rels is not None)
    thresholds["doc_biored"], cv["doc_biored_pair_type_f1"] = _best_threshold(score, (pred_lab == ybr).astype(int) * (ybr != NONE), n_gold_br)
    cv["note"] = "out-of-fold F1 on the training documents (5 folds by PMID), used to choose thresholds"
    log.info("thresholds %s; cv %s", thresholds, cv)

    # ---- final models
    cid_doc_head = _hgb(params.cid_hgb, seed).fit(Xcid, ycid)
    biored_doc_head = _hgb(params.biored_hgb, seed).fit(Xbr, ybr)
    import sklearn

    meta = {
        "name": "medkg_rel",
        "trained_on": info or {},
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(params).items()},
        "folds": N_FOLDS,
        "n_features": len(mention.vec.vocabulary_),
        "n_mention_pairs": mention.n_pairs,
        "n_concept_pairs": {"cid": int(len(ycid)), "biored": int(len(ybr))},
        "cv": cv,
        "versions": {"python": platform.python_version(), "sklearn": sklearn.__version__, "numpy": np.__version__},
        "fit_seconds": round(mention.seconds + time.perf_counter() - t0, 1),
    }
    return RelationModel(mention.vec, mention.biored_head, mention.cid_head, names, cid_doc_head, biored_doc_head, total,
                         thresholds, meta, trees, cid_stack_head)


def _f1_at(scores: np.ndarray, gold: np.ndarray, n_gold: int, thr: float) -> float:
    tp = int(((scores >= thr) & (gold == 1)).sum())
    npred = int((scores >= thr).sum())
    return 2 * tp / max(1, npred + n_gold)


def _tune_fallback(scores: np.ndarray, gold: np.ndarray, groups: np.ndarray, n_gold: int,
                   thr: float) -> tuple[float, float]:
    """A document where no candidate reaches ``thr`` still states some CID pair (nearly every
    BC5CDR abstract has one): the floor above which its best candidate is taken anyway,
    chosen by out-of-fold F1 (1.01 = never)."""
    pred = scores >= thr
    best_of: list[int] = []
    for k in np.unique(groups):
        r = np.flatnonzero(groups == k)
        if not pred[r].any():
            best_of.append(int(r[np.argmax(scores[r])]))
    best_of_a = np.array(best_of, dtype=int)
    best = (1.01, 0.0)
    for floor in (1.01, 0.2, 0.15, 0.1, 0.05, 0.0):
        p = pred.copy()
        if floor <= 1.0 and len(best_of_a):
            p[best_of_a[scores[best_of_a] >= floor]] = True
        tp = int((p & (gold == 1)).sum())
        f1 = 2 * tp / max(1, int(p.sum()) + n_gold)
        if f1 > best[1] + 1e-9:
            best = (floor, f1)
    return best


def _tune_union(data, tables, ctypes, oof_cid, doc_thr, corpora) -> tuple[float, float]:
    """Threshold on sentence-level CID probability (non-negated mention pairs) whose union with the
    concept-pair decisions maximises document-level F1; 1.01 = no union."""
    by_doc: dict[int, set] = defaultdict(set)
    k = 0
    # rebuild the (doc, key) order used for oof_cid
    for di, (x, (keys, _rows)) in enumerate(zip(data, tables)):
        if x.doc.cid is None or x.doc.corpus not in corpora:
            continue
        for key in keys:
            if ctypes[di].get(key[0]) == CHEMICAL and ctypes[di].get(key[1]) == DISEASE:
                if oof_cid[k] >= doc_thr:
                    by_doc[di].add(key)
                k += 1
    best = (1.01, -1.0)
    for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.01):
        tp = fp = fn = 0
        for di, x in enumerate(data):
            if x.doc.cid is None or x.doc.corpus not in corpora:
                continue
            pred = set(by_doc.get(di, set()))
            if t <= 1.0:
                for r, (i, j) in enumerate(x.pairs):
                    p = x.cid_p[r]
                    if np.isnan(p) or p < t or x.negated[r]:
                        continue
                    a, b = x.view.ents[i], x.view.ents[j]
                    chem, dis = (a, b) if a.label == CHEMICAL else (b, a)
                    pred.update((c, d) for c in chem.ids for d in dis.ids)
            gold = x.doc.cid
            tp += len(pred & gold)
            fp += len(pred - gold)
            fn += len(gold - pred)
        f1 = 2 * tp / max(1, 2 * tp + fp + fn)
        if f1 > best[1] + 1e-9:
            best = (t, f1)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train medkg's relation model (data/models/medkg_rel).")
    ap.add_argument("--datasets", type=Path, default=None, help="folder with bc5cdr/, biored/, ncbi_disease/")
    ap.add_argument("--out", type=Path, default=MODEL_DIR, help="output folder (default data/models/medkg_rel)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    ap.add_argument("-C", "--C-mention", type=float, default=0.5, help="inverse L2 strength of the mention heads")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    datasets = args.datasets or default_datasets_dir()
    if datasets is None or not Path(datasets).is_dir():
        print("No datasets folder: pass --datasets ../shared/datasets", file=sys.stderr)
        return 1
    from threadpoolctl import threadpool_limits

    # one thread: the trees' OpenMP pool thrashes on a shared (2-core) machine
    with threadpool_limits(limits=args.threads):
        model = train(Path(datasets), args.out, Params(seed=args.seed, C_mention=args.C_mention))
    print(json.dumps({"out": str(args.out), "thresholds": model.thresholds, "cv": model.meta["cv"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
