"""``Medkg``: builds the store, NLP pipeline, embedder, index and query engine from
:class:`~retrieval.settings.Settings`, lazily, and runs ingest.

This is the one factory that picks classes from settings; everything else takes its
collaborators as arguments. The CLI is a thin layer over this class.

Ingest keeps the graph and the vector index in step: each batch is written to the graph
in one transaction, then its sentences are embedded and added to the index; the index is
saved after every few batches and at the end, and :meth:`Medkg.sync_index` repairs the
index from the graph (embedding missing sentences, dropping stale ids) at the start of
each ingest, so a run killed between the two writes loses nothing.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from kg.model import WriteStats
from nlp.errors import MedkgError
from nlp.extraction import Document, Extraction, sentence_uid
from nlp.readers import Rejected, read_documents
from retrieval.settings import Settings


@dataclass
class IngestReport:
    read: int = 0  # documents read from input
    ingested: int = 0  # documents written (new or changed)
    unchanged: int = 0  # skipped: same content already stored
    replaced: int = 0  # changed documents whose old version was replaced
    rejected: int = 0
    sentences: int = 0
    mentions: int = 0
    evidence: int = 0
    vectors_added: int = 0
    vectors_removed: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "nlp": 0.0, "graph": 0.0,
                                                                      "embed": 0.0, "index": 0.0})
    rejects: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        d["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
        return d


# Heavy, read-only resources shared by every Medkg object in the process (a service, the
# test suite): the concept dictionary, the spaCy pipelines and the embedding model.
_SHARED: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: tuple, build: Callable[[], Any]) -> Any:
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = build()
        return _SHARED[key]


class Medkg:
    """The application object: lazily-built components over one set of settings."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.load()
        self._store = None
        self._dictionary = None
        self._nlp = None
        self._embedder = None
        self._index = None
        self._engine = None

    # ------------------------------------------------------------------ components
    @property
    def store(self):
        if self._store is None:
            from kg.store import open_store

            s = self.settings
            self._store = open_store(s.graph_uri, user=s.neo4j_user, password=s.neo4j_password)
        return self._store

    @property
    def dictionary(self):
        if self._dictionary is None:
            from nlp.linking import ConceptDictionary

            ds = self.settings.datasets_dir
            ds = ds if ds and Path(ds).exists() else None
            cache = self.settings.cache_dir
            self._dictionary = _shared(("dictionary", str(cache), str(ds)),
                                       lambda: ConceptDictionary.load_or_build(cache, datasets_dir=ds))
        return self._dictionary

    @property
    def nlp(self):
        if self._nlp is None:
            self._nlp = self._pipeline(context=True)
        return self._nlp

    def _pipeline(self, context: bool):
        from nlp.pipeline import build_nlp

        s, dictionary = self.settings, self.dictionary
        return _shared(("nlp", id(dictionary), s.ner, s.link_threshold, context),
                       lambda: build_nlp(dictionary, ner=s.ner, context=context, link_threshold=s.link_threshold))

    @property
    def question_nlp(self):
        """The pipeline without ConText and relations: all a question needs (faster)."""
        return self._pipeline(context=False)

    @property
    def extractor(self):
        from nlp.pipeline import Extractor

        return Extractor(self.nlp)

    @property
    def embedder(self):
        if self._embedder is None:
            from retrieval.embedder import SentenceTransformerEmbedder

            model, device = self.settings.embedding_model, self.settings.device
            self._embedder = _shared(("embedder", model, device),
                                     lambda: SentenceTransformerEmbedder(model, device=device))
        return self._embedder

    @property
    def index(self):
        if self._index is None:
            from retrieval.index import FaissIndex

            self._index = FaissIndex.open(self.settings.index_path, self.embedder.model_id, self.embedder.dimension)
        return self._index

    def save_index(self) -> None:
        if self._index is not None:
            self._index.save(self.settings.index_path)

    def recognize(self, text: str) -> list[tuple[str, str, str, str]]:
        """Concepts in a short text (a question): ``(surface, concept_id, name, type)``."""
        doc = self.question_nlp(text)
        return [(e.text, e._.concept_id, e._.concept_name or e.text, e.label_) for e in doc.ents if e._.concept_id]

    @property
    def engine(self):
        if self._engine is None:
            from retrieval.query import QueryEngine

            index = self.index if self.settings.index_path.exists() else None
            self._engine = QueryEngine(self.store, index=index, embedder=self.embedder if index else None,
                                       recognizer=self.recognize, weights=self.settings.fusion_weights)
        return self._engine

    # ------------------------------------------------------------------ ingest
    def sync_index(self) -> tuple[int, int]:
        """Make the vector index hold exactly the graph's sentences. Returns (added, removed)."""
        graph_uids = np.asarray(self.store.sentence_uids(), dtype=np.int64)
        index_uids = self.index.ids()
        missing = np.setdiff1d(graph_uids, index_uids)
        stale = np.setdiff1d(index_uids, graph_uids)
        removed = self.index.remove(stale.tolist()) if len(stale) else 0
        added = 0
        for chunk in range(0, len(missing), 1024):
            uids = missing[chunk:chunk + 1024].tolist()
            ps = self.store.passages(uids)
            if ps:
                self.index.add([p.uid for p in ps], self.embedder.embed_documents([p.text for p in ps]))
                added += len(ps)
        if added or removed:
            self.save_index()
        return added, removed

    def ingest(self, paths: Iterable[str | Path], fmt: str | None = None,
               progress: Callable[[IngestReport], None] | None = None) -> IngestReport:
        """Read, extract, write to the graph and index. Bad records are reported, never fatal.

        Args:
            paths: files, directories or globs.
            fmt: force an input format (see :data:`nlp.readers.FORMATS`).
            progress: called after every batch with the running report.
        """
        s = self.settings
        report = IngestReport()
        t0 = time.perf_counter()
        self.sync_index()
        stream = read_documents(paths, fmt)
        batches_since_save = 0
        while True:
            t = time.perf_counter()
            batch = []
            for item in stream:
                if isinstance(item, Rejected):
                    self._reject(report, item)
                    continue
                report.read += 1
                batch.append(item)
                if len(batch) >= s.batch_size:
                    break
            report.stage_seconds["read"] += time.perf_counter() - t
            if not batch:
                break
            self._ingest_batch(batch, report)
            batches_since_save += 1
            if batches_since_save >= 10:
                t = time.perf_counter()
                self.save_index()
                report.stage_seconds["index"] += time.perf_counter() - t
                batches_since_save = 0
            report.seconds = time.perf_counter() - t0
            if progress:
                progress(report)
        t = time.perf_counter()
        self.save_index()
        report.stage_seconds["index"] += time.perf_counter() - t
        report.seconds = time.perf_counter() - t0
        return report

    def _reject(self, report: IngestReport, item: Rejected) -> None:
        report.rejected += 1
        report.rejects.append(item.to_dict())
        path = self.settings.rejects_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **item.to_dict()}) + "\n")

    def _ingest_batch(self, docs: list[Document], report: IngestReport) -> None:
        # Unchanged documents skip the NLP entirely.
        known = self.store.document_hashes([d.id for d in docs])
        todo = [d for d in docs if known.get(d.id) != d.content_hash]
        report.unchanged += len(docs) - len(todo)
        if not todo:
            return
        t = time.perf_counter()
        extractions = self._extract_all(todo, report)
        report.stage_seconds["nlp"] += time.perf_counter() - t
        t = time.perf_counter()
        ws: WriteStats = self.store.write(extractions)
        report.stage_seconds["graph"] += time.perf_counter() - t
        report.ingested += ws.documents
        report.unchanged += ws.unchanged
        report.replaced += ws.replaced
        report.sentences += ws.sentences
        report.mentions += ws.mentions
        report.evidence += ws.evidence
        t = time.perf_counter()
        if ws.removed_uids:
            report.vectors_removed += self.index.remove(ws.removed_uids)
        uids, texts = [], []
        for ex in extractions:
            for sent in ex.sentences:
                uids.append(sentence_uid(ex.document.id, sent.index))
                texts.append(sent.text)
        vecs = self.embedder.embed_documents(texts)
        report.stage_seconds["embed"] += time.perf_counter() - t
        t = time.perf_counter()
        self.index.add(uids, vecs)
        report.vectors_added += len(uids)
        report.stage_seconds["index"] += time.perf_counter() - t

    def _extract_all(self, docs: list[Document], report: IngestReport) -> list[Extraction]:
        """Extract a batch; if it fails, retry one by one so one bad document never kills the batch."""
        try:
            return list(self.extractor.extract_many(docs))
        except Exception:
            out = []
            for d in docs:
                try:
                    out.extend(self.extractor.extract_many([d]))
                except Exception as e:
                    self._reject(report, Rejected(d.source, d.id, f"NLP failed: {type(e).__name__}: {e}"))
            return out

    def remove(self, doc_ids: Iterable[str]) -> int:
        """Retract documents from graph and index. Returns the number of sentences removed."""
        uids = self.store.remove_documents(list(doc_ids))
        if uids and self.settings.index_path.exists():
            self.index.remove(uids)
            self.save_index()
        return len(uids)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def open_app(**overrides: Any) -> Medkg:
    """Convenience for library users: ``open_app(home="~/.medkg").engine.ask("...")``."""
    return Medkg(Settings.load(overrides))


__all__ = ["IngestReport", "Medkg", "MedkgError", "open_app"]
