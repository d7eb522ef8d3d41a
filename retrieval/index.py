"""Vector index over sentence embeddings: :class:`FaissIndex` and the exact NumPy oracle.

Ids are the sentences' 63-bit uids (:func:`nlp.extraction.sentence_uid`), the same in the
graph. Vectors are L2-normalised, the metric is inner product (= cosine). A JSON sidecar
records the model id, dimension and layout; :meth:`FaissIndex.load` refuses an index built
with another model or dimension instead of returning nonsense neighbours.

Layout is chosen by size (``layout="auto"``): ``IDMap2,Flat`` (exact) below
``ivf_threshold`` vectors; above it an IVF index (``IVF{nlist},Flat``, nprobe tuned for
recall) is built by :meth:`FaissIndex.rebuild`. Deletion works for both.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from nlp.errors import IndexMismatchError, MedkgError

SIDECAR_VERSION = 1


def _check(vectors: np.ndarray, dim: int) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {vectors.shape}")
    return np.ascontiguousarray(vectors)


class ExactIndex:
    """Brute-force inner-product search in NumPy: the oracle FAISS results are checked against."""

    def __init__(self, dim: int):
        self.dim = dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        vectors = _check(vectors, self.dim)
        ids = np.asarray(ids, dtype=np.int64)
        keep = ~np.isin(self.ids, ids)
        self.ids = np.concatenate([self.ids[keep], ids])
        self.vectors = np.concatenate([self.vectors[keep], vectors])

    def remove(self, ids: Sequence[int]) -> int:
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        self.ids, self.vectors = self.ids[keep], self.vectors[keep]
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _check(queries, self.dim)
        scores = queries @ self.vectors.T
        k_eff = min(k, len(self.ids))
        out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(queries), k), -1, dtype=np.int64)
        if k_eff == 0:
            return out_s, out_i
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k_eff]
        out_s[:, :k_eff] = np.take_along_axis(scores, order, axis=1)
        out_i[:, :k_eff] = self.ids[order]
        return out_s, out_i


class FaissIndex:
    """A persisted FAISS index keyed by sentence uid.

    Args:
        dim: vector dimension.
        model_id: the embedding model the vectors come from (recorded in the sidecar).
        layout: ``"auto"``, ``"flat"`` or a FAISS factory string such as ``"IVF1024,Flat"``.
        ivf_threshold: with ``layout="auto"``, the size from which :meth:`rebuild` picks IVF.
        use_gpu: ``"auto"`` moves search to a GPU when faiss-gpu and CUDA are present.

    Thread-safe: searches and writes are serialised by a lock (FAISS CPU search itself is
    multi-threaded).
    """

    def __init__(self, dim: int, model_id: str, layout: str = "auto", ivf_threshold: int = 200_000,
                 use_gpu: str = "auto"):
        import faiss

        self.faiss = faiss
        self.dim = int(dim)
        self.model_id = model_id
        self.layout = layout
        self.ivf_threshold = ivf_threshold
        self.use_gpu = use_gpu
        self.factory = "IDMap2,Flat"
        self.nprobe = 1
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._gpu_index = None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    # ------------------------------------------------------------------ writes
    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add (or replace) vectors under the given ids."""
        vectors = _check(vectors, self.dim)
        ids_arr = np.asarray(ids, dtype=np.int64)
        if len(ids_arr) != len(vectors):
            raise ValueError(f"{len(ids_arr)} ids for {len(vectors)} vectors")
        if len(ids_arr) == 0:
            return
        with self._lock:
            self._index.remove_ids(ids_arr)  # replace semantics: re-adding an id never duplicates it
            self._index.add_with_ids(vectors, ids_arr)
            self._gpu_index = None

    def remove(self, ids: Sequence[int]) -> int:
        ids_arr = np.asarray(list(ids), dtype=np.int64)
        if len(ids_arr) == 0:
            return 0
        with self._lock:
            n = int(self._index.remove_ids(ids_arr))
            self._gpu_index = None
            return n

    def ids(self) -> np.ndarray:
        with self._lock:
            if self._index.ntotal == 0:
                return np.zeros(0, dtype=np.int64)
            return self.faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) — used to rebuild with another layout."""
        with self._lock:
            ids = self.ids()
            vecs = np.vstack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, self.dim), np.float32)
            return ids, vecs.astype(np.float32)

    def rebuild(self, layout: str | None = None) -> str:
        """Re-create the index with ``layout`` (or the size-based choice) and return its factory string."""
        layout = layout or self.layout
        with self._lock:
            ids, vecs = self.vectors()
            n = len(ids)
            if layout == "auto":
                layout = "flat" if n < self.ivf_threshold else f"IVF{int(4 * np.sqrt(n))},Flat"
            if layout == "flat":
                index = self.faiss.IndexIDMap2(self.faiss.IndexFlatIP(self.dim))
                factory, nprobe = "IDMap2,Flat", 1
            else:
                base = self.faiss.index_factory(self.dim, layout, self.faiss.METRIC_INNER_PRODUCT)
                if not base.is_trained:
                    # FAISS wants >= 39 training points per IVF cell; sample to bound time.
                    rng = np.random.default_rng(0)
                    sample = vecs[rng.choice(n, size=min(n, 256 * 1024), replace=False)] if n else vecs
                    base.train(sample)
                index = self.faiss.IndexIDMap2(base)
                factory, nprobe = f"IDMap2,{layout}", 32
                self.faiss.ParameterSpace().set_index_parameter(index, "nprobe", nprobe)
            if n:
                index.add_with_ids(vecs, ids)
            self._index, self.factory, self.nprobe, self._gpu_index = index, factory, nprobe, None
            return factory

    # ------------------------------------------------------------------ search
    def _searcher(self):
        if self.use_gpu == "never" or not hasattr(self.faiss, "StandardGpuResources"):
            return self._index
        if self._gpu_index is None:
            try:
                if self.faiss.get_num_gpus() < 1:
                    return self._index
                self._res = self.faiss.StandardGpuResources()
                self._gpu_index = self.faiss.index_cpu_to_gpu(self._res, 0, self._index)
            except Exception:  # no usable GPU: CPU search gives the same results
                self.use_gpu = "never"
                return self._index
        return self._gpu_index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; missing slots are score -inf and id -1."""
        queries = _check(queries, self.dim)
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        with self._lock:
            if self._index.ntotal == 0:
                return (np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64))
            scores, ids = self._searcher().search(queries, k)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    # ------------------------------------------------------------------ persistence
    def sidecar(self) -> dict:
        return {"version": SIDECAR_VERSION, "model_id": self.model_id, "dimension": self.dim,
                "factory": self.factory, "nprobe": self.nprobe, "count": len(self),
                "metric": "inner_product", "normalized": True}

    def save(self, path: str | Path) -> None:
        """Write ``path`` (the FAISS file) and ``path.json`` (sidecar) atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with self._lock:
            self.faiss.write_index(self._index, str(tmp))
            meta = json.dumps(self.sidecar(), indent=2)
        side_tmp = Path(str(path) + ".json.tmp")
        side_tmp.write_text(meta)
        os.replace(tmp, path)
        os.replace(side_tmp, Path(str(path) + ".json"))

    @classmethod
    def load(cls, path: str | Path, model_id: str, dim: int, use_gpu: str = "auto") -> "FaissIndex":
        """Load a saved index, refusing one built with another model or dimension.

        Raises:
            IndexMismatchError: the sidecar names another model or dimension.
            MedkgError: the files are missing or unreadable.
        """
        path = Path(path)
        side = Path(str(path) + ".json")
        try:
            meta = json.loads(side.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise MedkgError(f"Vector index sidecar {side} is missing or unreadable: {e}") from e
        if meta.get("model_id") != model_id or int(meta.get("dimension", -1)) != int(dim):
            raise IndexMismatchError(
                f"Vector index {path} was built with model {meta.get('model_id')!r} (dimension "
                f"{meta.get('dimension')}), but the configured model is {model_id!r} (dimension {dim}). "
                "Use the same embedding model, or re-index with `medkg reindex`."
            )
        self = cls(dim, model_id, use_gpu=use_gpu)
        try:
            index = self.faiss.read_index(str(path))
        except RuntimeError as e:
            raise MedkgError(f"Vector index {path} is unreadable: {e}") from e
        if index.d != dim:
            raise IndexMismatchError(f"Vector index {path} has dimension {index.d}, sidecar says {dim}")
        self._index = index
        self.factory = meta.get("factory", "IDMap2,Flat")
        self.nprobe = int(meta.get("nprobe", 1))
        if self.nprobe > 1:
            self.faiss.ParameterSpace().set_index_parameter(self._index, "nprobe", self.nprobe)
        return self

    @classmethod
    def open(cls, path: str | Path, model_id: str, dim: int, use_gpu: str = "auto") -> "FaissIndex":
        """Load ``path`` if it exists, else a new empty index."""
        if Path(path).exists():
            return cls.load(path, model_id, dim, use_gpu=use_gpu)
        return cls(dim, model_id, use_gpu=use_gpu)
