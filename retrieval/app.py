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

import contextlib
import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from kg.model import WriteStats
from nlp.errors import MedkgError
from nlp.extraction import Document, Extraction, sentence_uid
from retrieval.settings import Settings

# OpenMP threads (torch, FAISS) that wait for work by spinning make a single query embedding
# cost ~0.5 s of CPU instead of ~12 ms when the machine has more runnable threads than cores
# (measured on a shared 2-core box: bench/query_latency.py): let them sleep instead, unless the
# user chose a policy. Only effective before torch / FAISS start their OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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

    def add_write(self, ws: WriteStats) -> None:
        self.ingested += ws.documents
        for name in ("unchanged", "replaced", "sentences", "mentions", "evidence"):
            setattr(self, name, getattr(self, name) + getattr(ws, name))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        d["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
        return d


# Heavy, read-only resources shared by every Medkg object in the process (a service, the
# test suite): the concept dictionary, the spaCy pipelines and the embedding model.
_SHARED: dict[tuple, Any] = {}
# Re-entrant: a build may need another shared resource (the question lexicon builds from the
# dictionary); with a plain Lock that nested _shared() call deadlocked the first `ask`.
_SHARED_LOCK = threading.RLock()


def _shared(key: tuple, build: Callable[[], Any]) -> Any:
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = build()
        return _SHARED[key]


def _rejected():
    from nlp.readers import Rejected

    return Rejected


def note_id(name: str) -> str:
    """The stored id of a de-identified note: a hash of its file name."""
    return "note-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# The pipeline a forked NLP worker uses: set in the parent just before forking, inherited.
_WORKER_NLP = None


def _extract_chunk(docs: list[Document]) -> list:
    """Worker: extractions (or an error string per failed document), in order."""
    from nlp.pipeline import Extractor

    extractor = Extractor(_WORKER_NLP)
    try:
        return list(extractor.extract_many(docs))
    except Exception:
        out: list = []
        for d in docs:
            try:
                out.extend(extractor.extract_many([d]))
            except Exception as e:  # report, don't die
                out.append(f"{type(e).__name__}: {e}")
        return out


class _Done:
    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


class _Chunks:
    def __init__(self, parts):
        self.parts = parts

    def get(self):
        return [r for p in self.parts for r in p.get()]


class _NlpPool:
    """NLP in forked worker processes (workers >= 2) or in-process (1)."""

    def __init__(self, nlp, workers: int):
        global _WORKER_NLP
        self.workers = max(1, int(workers))
        self.pool = None
        _WORKER_NLP = nlp
        if self.workers > 1:
            import multiprocessing as mp

            self.pool = mp.get_context("fork").Pool(self.workers)

    def submit(self, docs: list[Document]):
        if not docs:
            return _Done([])
        if self.pool is None:
            return _Done(_extract_chunk(docs))
        size = max(1, -(-len(docs) // self.workers))
        return _Chunks([self.pool.apply_async(_extract_chunk, (docs[i:i + size],))
                        for i in range(0, len(docs), size)])

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


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
        self._recognizer = None
        self._marked: set[str] = set()

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
            precision = self.settings.embedding_precision
            self._embedder = _shared(("embedder", model, device, precision),
                                     lambda: SentenceTransformerEmbedder(model, device=device, precision=precision))
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

    @property
    def question_lexicon(self):
        """The dictionary NER's aliases as a cached lookup table (:class:`nlp.question.QuestionLexicon`):
        built from the concept dictionary on first use, then opened in ~1 ms."""
        from nlp.question import QuestionLexicon

        ds = self.settings.datasets_dir
        ds = ds if ds and Path(ds).exists() else None
        cache = self.settings.cache_dir
        return _shared(("question_lexicon", str(cache), str(ds)),
                       lambda: QuestionLexicon.open_or_build(cache, ds, lambda: self.dictionary))

    def recognize(self, text: str) -> list[tuple[str, str, str, str]]:
        """Concepts in a short text (a question): ``(surface, concept_id, name, type)``.

        ``question_concepts = "lexicon"`` (default): lookups in :attr:`question_lexicon`, fuzzy
        linking through the dictionary only when nothing matches (:class:`nlp.question.QuestionRecognizer`);
        ``"pipeline"``: the ingest pipeline's NER and linker (loads spaCy and the NER model).
        """
        if self.settings.question_concepts == "pipeline":
            doc = self.question_nlp(text)
            return [(e.text, e._.concept_id, e._.concept_name or e.text, e.label_) for e in doc.ents if e._.concept_id]
        if self._recognizer is None:
            from nlp.question import QuestionRecognizer

            self._recognizer = QuestionRecognizer(self.question_lexicon, lambda: self.dictionary,
                                                  threshold=self.settings.link_threshold)
        return self._recognizer(text)

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
        added = self._embed_into(self.index, missing.tolist())
        if added or removed:
            self.save_index()
        return added, removed

    def _embed_into(self, index, uids: list[int], progress: Callable[[int, int], None] | None = None,
                    chunk: int = 1024) -> int:
        """Embed the graph sentences ``uids`` and add them to ``index``, ``chunk`` at a time.
        Returns how many were added (uids the graph no longer has are skipped)."""
        added = 0
        for lo in range(0, len(uids), chunk):
            ps = self.store.passages(uids[lo:lo + chunk])
            if ps:
                index.add([p.uid for p in ps], self.embedder.embed_documents([p.text for p in ps]))
                added += len(ps)
            if progress:
                progress(min(lo + chunk, len(uids)), len(uids))
        return added

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuild the vector index from the graph's sentences with the configured embedding model
        (after changing ``embedding_model``, or for an index that is damaged or out of step).

        The new index is written next to the old one and replaces it only when complete, so an
        interrupted run leaves the old index in place. Returns the number of vectors indexed.

        Args:
            progress: called with (sentences embedded, total) after every chunk.
        """
        from retrieval.index import FaissIndex

        emb = self.embedder
        with self._ingest_lock():
            index = FaissIndex(emb.dimension, emb.model_id)
            self._embed_into(index, self.store.sentence_uids(), progress)
            index.save(self.settings.index_path)  # atomic: the FAISS file and its sidecar
            self._index, self._engine = index, None
        return len(index)

    def ingest(self, paths: Iterable[str | Path], fmt: str | None = None,
               progress: Callable[[IngestReport], None] | None = None, workers: int | None = None) -> IngestReport:
        """Read, extract, write to the graph and index. Bad records are reported, never fatal.

        Args:
            paths: files, directories or globs.
            fmt: force an input format (see :data:`nlp.readers.FORMATS`).
            progress: called after every batch with the running report.
            workers: NLP worker processes (default: settings.workers). With 2+, the NLP of batch
                *i+1* runs in the workers while the main process embeds and writes batch *i*.

        Raises:
            MedkgError: another ingest holds this home's lock.
        """
        s = self.settings
        report = IngestReport()
        t0 = time.perf_counter()
        with self._ingest_lock():
            self.nlp  # build before forking workers: they inherit it (copy-on-write)
            if s.question_concepts == "lexicon":
                self.question_lexicon  # built once per dictionary version: the first ask is then fast too
            pool = _NlpPool(self.nlp, workers or s.workers)
            try:
                self.sync_index()
                from nlp.readers import read_documents  # the readers are only needed to ingest

                stream = read_documents(paths, fmt)
                pending = None
                while True:
                    t = time.perf_counter()
                    batch = self._read_batch(stream, report)
                    report.stage_seconds["read"] += time.perf_counter() - t
                    job = self._start_batch(batch, report, pool) if batch else None
                    if pending is not None:
                        self._finish_batch(*pending, report)
                        if progress:
                            report.seconds = time.perf_counter() - t0
                            progress(report)
                    pending = job
                    if not batch:
                        break
            finally:
                pool.close()
                t = time.perf_counter()
                self.save_index()
                report.stage_seconds["index"] += time.perf_counter() - t
                report.seconds = time.perf_counter() - t0
                self.audit("ingest", {k: v for k, v in report.to_dict().items() if k != "rejects"})
        return report

    def _read_batch(self, stream, report: IngestReport) -> list[Document]:
        batch: list[Document] = []
        for item in stream:
            if isinstance(item, _rejected()):
                self._reject(report, item)
                continue
            report.read += 1
            if item.kind == "note":
                self._mark("has_notes")
                if self.settings.deidentify:
                    item = self._deidentify(item)
            batch.append(item)
            if len(batch) >= self.settings.batch_size:
                break
        return batch

    def _deidentify(self, doc: Document) -> Document:
        """De-identify a note's text, and replace its id and source: file names and folders often
        carry names, dates or record numbers that no rule can tell from an opaque id. The id becomes
        ``note-<sha256(file name)[:16]>`` (stable, so re-ingest and ``medkg remove`` still work)."""
        import dataclasses

        from nlp.deid import deidentify_document

        clean = deidentify_document(doc, model=self.settings.deid_tagger)
        return dataclasses.replace(clean, id=note_id(doc.id), source="(de-identified note)")

    def _start_batch(self, docs: list[Document], report: IngestReport, pool: "_NlpPool"):
        """Skip unchanged documents (no NLP for them) and start the NLP of the rest."""
        known = self.store.document_hashes([d.id for d in docs])
        todo = [d for d in docs if known.get(d.id) != d.content_hash]
        report.unchanged += len(docs) - len(todo)
        t = time.perf_counter()
        job = pool.submit(todo)  # in-process (1 worker) this is the NLP itself; else it only starts it
        report.stage_seconds["nlp"] += time.perf_counter() - t
        return (todo, job, time.perf_counter())

    def _finish_batch(self, todo: list[Document], job, started: float, report: IngestReport) -> None:
        t = time.perf_counter()
        extractions: list[Extraction] = []
        for doc, result in zip(todo, job.get()):
            if isinstance(result, Extraction):
                extractions.append(result)
            else:  # one bad document never kills the batch
                self._reject(report, _rejected()(doc.source, doc.id, f"NLP failed: {result}"))
        report.stage_seconds["nlp"] += time.perf_counter() - t
        if not extractions:
            return
        t = time.perf_counter()
        ws: WriteStats = self.store.write(extractions)
        report.stage_seconds["graph"] += time.perf_counter() - t
        report.add_write(ws)
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
        self._batches_since_save += 1
        if self._batches_since_save >= 10:
            self.save_index()
            self._batches_since_save = 0
        report.stage_seconds["index"] += time.perf_counter() - t

    def _reject(self, report: IngestReport, item) -> None:
        report.rejected += 1
        report.rejects.append(item.to_dict())
        path = self.settings.rejects_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": _now(), **item.to_dict()}) + "\n")

    # ------------------------------------------------------------------ home state, lock, audit
    def _state(self) -> dict:
        try:
            return json.loads((self.settings.home / "state.json").read_text())
        except (OSError, ValueError):
            return {}

    def _mark(self, flag: str) -> None:
        if flag in self._marked:
            return
        self._marked.add(flag)
        state = self._state()
        if not state.get(flag):
            state[flag] = True
            self.settings.home.mkdir(parents=True, exist_ok=True)
            tmp = self.settings.home / "state.json.tmp"
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.settings.home / "state.json")

    @contextlib.contextmanager
    def _ingest_lock(self):
        """One writer per home: a second concurrent ingest is refused with a clear message."""
        import fcntl

        self.settings.home.mkdir(parents=True, exist_ok=True)
        path = self.settings.home / "ingest.lock"
        fh = open(path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise MedkgError(f"Another medkg ingest is writing to {self.settings.home} (pid {holder}); "
                             "wait for it to finish or use another --home") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._batches_since_save = 0
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def audit(self, command: str, counts: dict[str, Any], question: str | None = None) -> None:
        """Append one JSON line to ``<home>/audit.jsonl``: time, user, command, counts — never PHI.

        The question text is logged only for stores without clinical notes, or with
        ``audit_questions`` enabled; otherwise only its hash.
        """
        if not self.settings.audit:
            return
        import getpass

        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry (containers)
            user = str(os.getuid())
        entry: dict[str, Any] = {"time": _now(), "user": user, "command": command,
                                 "graph": self.settings.graph_uri.split("@")[-1], "counts": counts}
        if question is not None:
            entry["question_sha256"] = hashlib.sha256(question.encode()).hexdigest()[:16]
            if self.settings.audit_questions or not self._state().get("has_notes"):
                entry["question"] = question
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with open(self.settings.audit_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

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
