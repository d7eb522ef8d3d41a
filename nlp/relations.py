"""Sentence-level relations: the transparent trigger-pattern baseline.

For each pair of entities in a sentence (at most ``max_tokens_between`` tokens apart) whose
types a predicate allows, a trigger word between them (``resources/relation_triggers.json``)
names the predicate; the entity types decide the direction (a Chemical CAUSES a Disease,
whichever comes first in the sentence). When several triggers match, the one nearest the
second entity wins ("X, used to treat Y, caused Z": X-Z is CAUSES).

A relation is *negated* (recorded as contradicting evidence) when a negation cue stands
between the entities before the trigger ("X did not cause Y") or both entities are negated
by ConText ("no evidence that X caused Y"); *uncertain* when a hedge stands between them
("X may cause Y") or ConText marks an entity uncertain. Historical / hypothetical / family
flags are inherited from the entities.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from spacy.tokens import Doc, Span

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


def _orient(predicate: str, a: Span, b: Span) -> tuple[Span, Span] | None:
    """(subject, object) for the predicate given the entity types, or None if types don't fit."""
    p = PREDICATES[predicate]
    if a.label_ in p.subject_types and b.label_ in p.object_types:
        return a, b  # for a same-type pair of a directed predicate, sentence order: agent first
    if b.label_ in p.subject_types and a.label_ in p.object_types:
        return b, a
    return None


def _closer_argument(doc: Doc, a: Span, b: Span, trigger_start: int) -> bool:
    """True when an entity of a's type stands between a and the trigger: it, not a, is the
    argument ("L-arginine transport in cortisol-induced hypertension": cortisol, not arginine)."""
    for e in doc.ents:
        if e.start >= a.end and e.end_char <= trigger_start and e.start < b.start and e.label_ == a.label_:
            return True
    return False


def _classify(doc: Doc, a: Span, b: Span, sent: Span) -> dict[str, Any] | None:
    rules = _rules()
    preds = PAIR_PREDICATES.get(frozenset({a.label_, b.label_}))
    if not preds:
        return None
    between = doc.text[a.end_char:b.start_char]
    best: tuple[int, str, str] | None = None  # (end position, predicate, trigger)
    for pred in preds:
        for m in rules["between"][pred].finditer(between):
            if best is None or m.end() > best[0]:
                best = (m.end(), pred, m.group())
    trigger_pos = best[0] if best else 0
    if best is None and len(between.split()) <= 6:
        window = doc.text[max(sent.start_char, a.start_char - 40):a.start_char]
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
    if end_pos and _closer_argument(doc, a, b, a.end_char + end_pos - len(trigger)):
        return None
    oriented = _orient(pred, a, b)
    if oriented is None:
        return None
    subj, obj = oriented
    n_between = max(0, b.start - a.end)
    cue_zone = between[:trigger_pos] if trigger_pos else between
    negated = bool(rules["negation"].search(cue_zone)) or (a._.is_negated and b._.is_negated)
    lead = doc.text[sent.start_char:a.start_char]  # "these data suggest that X causes Y"
    uncertain = (bool(rules["hedge"].search(between) or rules["hedge"].search(lead))
                 or a._.is_uncertain or b._.is_uncertain)
    return {
        "predicate": pred,
        "subject": subj,
        "object": obj,
        "trigger": trigger,
        "confidence": round(max(0.3, 0.9 - 0.02 * n_between), 3),
        "negated": negated,
        "uncertain": uncertain and not negated,
        "historical": bool(a._.is_historical or b._.is_historical),
        "hypothetical": bool(a._.is_hypothetical or b._.is_hypothetical),
        "family": bool(a._.is_family or b._.is_family),
    }


def extract_relations(doc: Doc) -> list[dict[str, Any]]:
    """Relations of a processed doc: dicts with ``subject``/``object`` entity Spans and flags."""
    rules = _rules()
    out = []
    for sent in doc.sents:
        ents = [e for e in sent.ents]
        for i, a in enumerate(ents):
            for b in ents[i + 1:]:
                if b.start - a.end > rules["max_tokens_between"]:
                    break
                if a._.concept_id and a._.concept_id == b._.concept_id:
                    continue
                rel = _classify(doc, a, b, sent)
                if rel is not None:
                    out.append(rel)
    return out
