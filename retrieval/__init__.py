"""medkg retrieval: embedder, vector index, and the query engine that answers with evidence.

Library entry points::

    from retrieval import Medkg, Settings, QueryEngine
    engine = Medkg(Settings.load({"home": ".medkg"})).engine
    answer = engine.ask("What drugs can cause hypertension?")

The names are imported on first use (PEP 562), so ``import retrieval.settings`` (what the CLI
needs to start) does not import the engine, NumPy or the stores.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Answer": "retrieval.query", "QueryEngine": "retrieval.query", "QuestionConcept": "retrieval.query",
    "IngestReport": "retrieval.app", "Medkg": "retrieval.app", "open_app": "retrieval.app",
    "Settings": "retrieval.settings",
}

if TYPE_CHECKING:  # pragma: no cover
    from retrieval.app import IngestReport, Medkg, open_app
    from retrieval.query import Answer, QueryEngine, QuestionConcept
    from retrieval.settings import Settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["Answer", "IngestReport", "Medkg", "QueryEngine", "QuestionConcept", "Settings", "open_app"]
