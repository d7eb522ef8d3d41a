"""Sentence-level relations: the trained model when there is one, the trigger patterns otherwise.

:func:`extract_relations` is what the ``medkg_relations`` component calls. With a trained model
(``data/models/medkg_rel``, see :mod:`nlp.relation_model`) a classifier decides the predicate of
each entity pair of a sentence (``method="model"``); without one, the transparent baseline below
does (``method="pattern"``). Both share the assertion rules of :func:`relation_assertion`.

The baseline: for each pair of entities in a sentence (at most ``max_tokens_between`` tokens
apart) whose types a predicate allows, a trigger word between them
(``resources/relation_triggers.json``) names the predicate; the entity types decide the
direction (a Chemical CAUSES a Disease, whichever comes first in the sentence). When several
triggers match, the one nearest the second entity wins ("X, used to treat Y, caused Z": X-Z is
CAUSES). The triggers are also features of the trained model.

Assertion of a relation: *negated* (recorded as contradicting evidence) when a negation cue
stands between the entities before the trigger ("X did not cause Y") or ConText negated either
argument ("no evidence that X caused Y", "after X, no Y was seen"); *uncertain* when a hedge
stands between them or before them in the sentence ("X may cause Y", "these data suggest that
X causes Y") or ConText marks an argument uncertain. Historical / hypothetical / family flags
are inherited from the arguments.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from spacy.tokens import Doc

from kg.schema import PREDICATES

_RESOURCE = Path(__file__).parent / "resources" / "relation_triggers.json"
_NEVER = re.compile(r"(?!x)x")

# Which predicates a pair of entity types may carry (unordered pair -> predicates).
PAIR_PREDICATES: dict[frozenset, tuple[str, ...]] = {
    frozenset({"Chemical", "Disease"}): ("CAUSES", "TREATS", "ASSOCIATED_WITH"),
    frozenset({"Chemical"}): ("INTERACTS_WITH",),
    frozenset({"Chemical", "Gene"}): ("BINDS", "INHIBITS", "STIMULATES", "ASSOCIATED_WITH"),
    frozenset({"Gene", "Disease"}): ("CAUSES", "ASSOCIATED_WITH"),
    frozenset({"Variant", "Disease"}): ("CAUSES", "ASSOCIATED_WITH"),
    frozenset({"Gene"}): ("BINDS", "INHIBITS", "STIMULATES", "ASSOCIATED_WITH"),
}


@lru_cache(maxsize=1)
def _rules() -> dict[str, Any]:
    data = json.loads(_RESOURCE.read_text())

    def compile_group(group: dict[str, list[str]]) -> dict[str, re.Pattern]:
        return {p: re.compile(r"\b(?:" + "|".join(pats) + r")\b", re.I) for p, pats in group.items()}

    return {
        "between": compile_group(data["between"]),
        "before": compile_group(data["before"]),
        "negation": re.compile(data["negation"], re.I),
        "hedge": re.compile(data["hedge"], re.I),
        "max_tokens_between": int(data["max_tokens_between"]),
    }


def trigger_hits(between: str, window: str) -> list[tuple[str, str]]:
    """``(predicate, "between" | "before")`` for every trigger group matching the text between
    two entities, or the short window before the first one (nominal triggers)."""
    rules = _rules()
    out = [(p, "between") for p, rx in rules["between"].items() if rx.search(between)]
    out += [(p, "before") for p, rx in rules["before"].items() if rx.search(window)]
    return out


def _orient(predicate: str, ta: str, tb: str) -> bool | None:
    """True: a is the subject; False: b is; None: the types don't fit the predicate."""
    p = PREDICATES[predicate]
    if ta in p.subject_types and tb in p.object_types:
        return True  # for a same-type pair of a directed predicate, sentence order: agent first
    if tb in p.subject_types and ta in p.object_types:
        return False
    return None


def _closer_argument(view, a, b, trigger_start: int) -> bool:
    """True when an entity of a's type stands between a and the trigger: it, not a, is the
    argument ("L-arginine transport in cortisol-induced hypertension": cortisol, not arginine)."""
    for e in view.ents:
        if e.start >= a.end and e.end <= trigger_start and e.start < b.start and e.label == a.label:
            return True
    return False


def _nearest_trigger(between: str, preds) -> tuple[int, str, str] | None:
    """(end position in ``between``, predicate, trigger text) of the trigger nearest the second entity."""
    rules = _rules()
    best = None
    for pred in preds:
        rx = rules["between"].get(pred)
        if rx is None:
            continue
        for m in rx.finditer(between):
            if best is None or m.end() > best[0]:
                best = (m.end(), pred, m.group())
    return best


def relation_assertion(view, a, b, predicate: str | None) -> dict[str, Any]:
    """Assertion flags (and trigger) of a relation between entities ``a`` and ``b`` (``a`` first).

    Args:
        view: a :class:`nlp.relation_model.DocView`.
        a, b: its entities (:class:`nlp.relation_model.VEnt`) of one sentence.
        predicate: the predicate whose trigger is looked for first (any trigger otherwise).

    Returns:
        ``{"trigger", "negated", "uncertain", "historical", "hypothetical", "family"}``.
    """
    rules = _rules()
    between = view.text[a.end:b.start]
    found = _nearest_trigger(between, [predicate] if predicate else []) or _nearest_trigger(between, rules["between"])
    trigger_pos = found[0] if found else 0
    cue_zone = between[:trigger_pos] if trigger_pos else between
    sent = view.sents[a.sent]
    lead = view.text[sent.start:a.start]  # "these data suggest that X causes Y"
    negated = bool(rules["negation"].search(cue_zone)) or a.flags.get("negated", False) or b.flags.get("negated", False)
    uncertain = (bool(rules["hedge"].search(between) or rules["hedge"].search(lead))
                 or a.flags.get("uncertain", False) or b.flags.get("uncertain", False))
    return {
        "trigger": found[2] if found else "",
        "negated": bool(negated),
        "uncertain": bool(uncertain and not negated),
        "historical": bool(a.flags.get("historical") or b.flags.get("historical")),
        "hypothetical": bool(a.flags.get("hypothetical") or b.flags.get("hypothetical")),
        "family": bool(a.flags.get("family") or b.flags.get("family")),
    }


def _classify(view, a, b) -> dict[str, Any] | None:
    """The trigger-pattern decision for one pair (``a`` first in the sentence), or None."""
    rules = _rules()
    preds = PAIR_PREDICATES.get(frozenset({a.label, b.label}))
    if not preds:
        return None
    between = view.text[a.end:b.start]
    best = _nearest_trigger(between, preds)
    sent = view.sents[a.sent]
    if best is None and len(between.split()) <= 6:
        window = view.text[max(sent.start, a.start - 40):a.start]
        for pred in preds:
            m = None
            for m in rules["before"].get(pred, _NEVER).finditer(window):
                pass
            if m is not None:
                best = (0, pred, m.group())
                break
    if best is None:
        return None
    end_pos, pred, trigger = best
    if end_pos and _closer_argument(view, a, b, a.end + end_pos - len(trigger)):
        return None
    a_subject = _orient(pred, a.label, b.label)
    if a_subject is None:
        return None
    n_between = len(re.findall(r"\w+|[^\w\s]", between))
    flags = relation_assertion(view, a, b, pred)
    flags["trigger"] = trigger
    subj, obj = (a, b) if a_subject else (b, a)
    return {"predicate": pred, "subject": subj, "object": obj,
            "confidence": round(max(0.3, 0.9 - 0.02 * n_between), 3), **flags}


def pattern_predicate(view, a, b) -> str | None:
    """The baseline's predicate for a pair, ignoring polarity (a feature of the trained model)."""
    rel = _classify(view, a, b)
    return rel["predicate"] if rel else None


def pattern_relations(view) -> list[dict[str, Any]]:
    """The trigger-pattern baseline over a :class:`~nlp.relation_model.DocView`."""
    max_between = _rules()["max_tokens_between"]
    out = []
    for i, j in _pattern_pairs(view, max_between):
        rel = _classify(view, view.ents[i], view.ents[j])
        if rel is not None:
            rel["subject"], rel["object"] = rel["subject"].ref, rel["object"].ref
            rel["method"] = "pattern"
            out.append(rel)
    return out


def _pattern_pairs(view, max_between: int) -> list[tuple[int, int]]:
    from nlp.relation_model import sentence_partners

    out = []
    for i, later in sentence_partners(view):
        a = view.ents[i]
        for j in later:
            b = view.ents[j]
            if len(re.findall(r"\w+|[^\w\s]", view.text[a.end:b.start])) > max_between:
                break
            if a.ids and a.ids == b.ids:
                continue
            out.append((i, j))
    return out


def extract_relations(doc: Doc, model=None) -> list[dict[str, Any]]:
    """Relations of a processed doc: dicts with ``predicate``, ``subject``/``object`` entity
    Spans, ``trigger``, ``confidence``, the assertion flags and ``method`` ("model" | "pattern").

    Args:
        doc: a Doc with sentences, entities (with ``concept_id``) and ConText flags.
        model: a :class:`nlp.relation_model.RelationModel`; ``None`` uses the trigger patterns.
    """
    from nlp.relation_model import view_from_doc

    view = view_from_doc(doc)
    if model is not None:
        return model.sentence_relations(view)
    return pattern_relations(view)
