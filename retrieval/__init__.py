"""medkg retrieval: embedder, vector index, and the query engine that answers with evidence.

Library entry points::

    from retrieval import Medkg, Settings, QueryEngine
    engine = Medkg(Settings.load({"home": ".medkg"})).engine
    answer = engine.ask("What drugs can cause hypertension?")
"""
from retrieval.app import IngestReport, Medkg, open_app
from retrieval.query import Answer, QueryEngine, QuestionConcept
from retrieval.settings import Settings

__all__ = ["Answer", "IngestReport", "Medkg", "QueryEngine", "QuestionConcept", "Settings", "open_app"]
