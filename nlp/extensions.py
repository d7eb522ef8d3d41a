"""The one place medkg registers spaCy extension attributes.

Span (entity) attributes: ``concept_id``, ``concept_name``, ``vocab``, ``link_score``,
``link_method``; assertion flags come from medspaCy ConText (``is_negated``,
``is_uncertain``, ``is_historical``, ``is_hypothetical``, ``is_family``) and are registered
here too so a pipeline without ConText still has them (all False).
Doc attributes: ``relations`` (list of dicts from the relation component).
"""
from __future__ import annotations

from spacy.tokens import Doc, Span

SPAN_ATTRS = {
    "concept_id": "",
    "concept_name": "",
    "vocab": "",
    "link_score": 0.0,
    "link_method": "",
}
CONTEXT_FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")


def register_extensions() -> None:
    """Idempotent: safe to call from every component factory."""
    for name, default in SPAN_ATTRS.items():
        if not Span.has_extension(name):
            Span.set_extension(name, default=default)
    for name in CONTEXT_FLAGS:
        if not Span.has_extension(name):
            Span.set_extension(name, default=False)
    if not Doc.has_extension("relations"):
        Doc.set_extension("relations", default=None)
    if not Doc.has_extension("medkg_meta"):
        Doc.set_extension("medkg_meta", default=None)


register_extensions()
