"""Vector index over sentence embeddings: :class:`FaissIndex` and the exact NumPy oracle.

Ids are the sentences' 63-bit uids (:func:`nlp.extraction.sentence_uid`), the same in the
graph. Vectors are L2-normalised, the metric is inner product (= cosine). A JSON sidecar
records the model id, dimension and layout; :meth:`FaissIndex.load` refuses an index built
with another model or dimension instead of returning nonsense neighbours.

Layout is chosen by size (``layout="auto"``, the default):

* below ``ivf_threshold`` vectors (200k): ``IDMap2,Flat``, exact search;
* from ``ivf_threshold`` on: ``IVF{nlist},SQfp16`` with ``nlist ~ 4 sqrt(n)`` (fp16 codes halve
  the memory of float32 at no measurable recall cost; ``encoding`` can be ``Flat``, ``SQ8`` or
  ``PQ{m}``). The switch happens by itself inside :meth:`FaissIndex.add` when the index crosses
  the threshold, the coarse quantizer is re-trained when the index has grown 4x since it was
  trained, and an index that shrinks below half the threshold goes back to exact search.
  After every (re)build ``nprobe`` is tuned: the smallest value whose recall@10 against exact
  search reaches ``target_recall`` (0.95) plus a 0.03 margin, for queries made as means of four
  indexed vectors (see :meth:`FaissIndex._tune`); the measured value is kept in the sidecar.

IVF indexes keep their own ids (``add_with_ids`` with a hash-table direct map), so add,
replace (re-adding an id), remove and reconstruct work on every IVF layout. HNSW layouts can be
asked for explicitly (``layout="HNSW32"``) but are never chosen by ``"auto"``: FAISS cannot
delete from an HNSW graph, so :meth:`FaissIndex.remove` (and re-adding a known id) rebuilds
the whole graph from the remaining vectors, which is slow on a large index.

GPU: with faiss-gpu and a CUDA device, searches run on a GPU copy of the index
(``faiss.index_cpu_to_gpu``, made lazily and dropped after every write); any failure there
falls back to the CPU index, which stays the one that is written and saved.
"""
from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from nlp.errors import IndexMismatchError, MedkgError

SIDECAR_VERSION = 2
DEFAULT_IVF_THRESHOLD = 200_000
DEFAULT_ENCODING = "SQfp16"
# nprobe / efSearch values tried, smallest first, when tuning for recall.
_NPROBES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)
_EFSEARCH = (16, 32, 64, 96, 128, 192, 256, 384, 512)


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


def auto_factory(n: int, encoding: str = DEFAULT_ENCODING) -> str:
    """The IVF layout ``layout="auto"`` picks for ``n`` vectors: ``IVF{~4 sqrt(n)},{encoding}``.

    nlist is capped so every cell gets >= 39 training points (FAISS's minimum per centroid).
    """
    nlist = int(min(65536, max(1, min(4 * math.sqrt(max(n, 1)), n // 39))))
    return f"IVF{nlist},{encoding}"


def _exact_topk(vecs: np.ndarray, queries: np.ndarray, k: int, chunk: int = 131072) -> np.ndarray:
    """Row positions of the exact top-k inner products, computed in chunks (bounded memory)."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for lo in range(0, len(vecs), chunk):
        s = queries @ vecs[lo:lo + chunk].T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        best_i = np.concatenate([best_i, part + lo], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_s, best_i = np.take_along_axis(best_s, keep, axis=1), np.take_along_axis(best_i, keep, axis=1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, axis=1)


class FaissIndex:
    """A persisted FAISS index keyed by sentence uid.

    Args:
        dim: vector dimension.
        model_id: the embedding model the vectors come from (recorded in the sidecar).
        layout: ``"auto"`` (size-based, see the module docstring), ``"flat"``, or a FAISS factory
            string: ``"IVF1024,Flat"``, ``"IVF4096,SQfp16"``, ``"IVF4096,PQ48"``, ``"HNSW32"``.
        ivf_threshold: with ``layout="auto"``, the size from which an IVF layout is used.
        use_gpu: ``"auto"`` searches on a GPU when faiss-gpu and CUDA are present; ``"never"``.
        encoding: the IVF code ``"auto"`` uses: ``"SQfp16"`` (default), ``"Flat"``, ``"SQ8"``, ``"PQ{m}"``.
        target_recall: recall@10 against exact search that ``nprobe`` is tuned for.

    Thread-safe: searches and writes are serialised by a lock (FAISS CPU search itself is
    multi-threaded).
    """

    def __init__(self, dim: int, model_id: str, layout: str = "auto", ivf_threshold: int = DEFAULT_IVF_THRESHOLD,
                 use_gpu: str = "auto", encoding: str = DEFAULT_ENCODING, target_recall: float = 0.95):
        import faiss

        self.faiss = faiss
        self.dim = int(dim)
        self.model_id = model_id
        self.layout = layout
        self.ivf_threshold = int(ivf_threshold)
        self.use_gpu = use_gpu
        self.encoding = encoding
        self.target_recall = float(target_recall)
        self.factory = "IDMap2,Flat"
        self.nprobe = 1  # nprobe (IVF) or efSearch (HNSW); 1 for exact search
        self.trained_size = 0  # vectors in the index when the IVF quantizer was trained
        self.recall_at_10: float | None = None  # measured at the last (re)build; None = exact
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._gpu_index = None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    # ------------------------------------------------------------------ layout helpers
    @property
    def kind(self) -> str:
        """``"flat"``, ``"ivf"`` or ``"hnsw"``: the structure of the current index."""
        if self.faiss.try_extract_index_ivf(self._index) is not None:
            return "ivf"
        inner = self.faiss.downcast_index(self._index.index) if hasattr(self._index, "id_map") else self._index
        return "hnsw" if "HNSW" in type(inner).__name__ else "flat"

    def _resolve(self, layout: str, n: int) -> str:
        layout = layout.strip()
        if layout.upper().startswith("IDMAP2,"):
            layout = layout.split(",", 1)[1]  # sidecars of version 1 wrote "IDMap2,<layout>"
        if layout == "auto":
            return "flat" if n < self.ivf_threshold else auto_factory(n, self.encoding)
        if layout.lower() in ("flat", "idmap,flat"):
            return "flat"
        return layout

    def _build(self, factory: str, ids: np.ndarray, vecs: np.ndarray):
        """A new index with ``factory`` holding (ids, vecs); returns (index, factory, param)."""
        faiss = self.faiss
        n = len(ids)
        if factory == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
            if n:
                index.add_with_ids(vecs, ids)
            return index, "IDMap2,Flat", 1
        try:
            base = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as e:
            raise ValueError(f"Unknown FAISS layout {factory!r}: {str(e).splitlines()[0]}") from e
        ivf = faiss.try_extract_index_ivf(base)
        if ivf is not None:
            if n < ivf.nlist:
                raise ValueError(f"Layout {factory!r} needs at least {ivf.nlist} vectors to train; the index has {n}. "
                                 "Use layout='auto' or fewer lists.")
            # FAISS wants >= 39 training points per list; 64 per list is plenty for IVF cells, and
            # 10 k-means iterations are enough for a coarse quantizer (nprobe is tuned afterwards).
            rng = np.random.default_rng(0)
            m = min(n, max(64 * ivf.nlist, 10_000))
            ivf.cp.niter = 10
            ivf.cp.max_points_per_centroid = max(64, -(-m // ivf.nlist))
            base.train(vecs[np.sort(rng.choice(n, size=m, replace=False))] if m < n else vecs)
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # ids of our own: remove/reconstruct by id
            for lo in range(0, n, 262144):
                base.add_with_ids(vecs[lo:lo + 262144], ids[lo:lo + 262144])
            return base, factory, 1
        if "HNSW" in type(faiss.downcast_index(base)).__name__:
            index = faiss.IndexIDMap2(base)
            if n:
                index.add_with_ids(vecs, ids)
            return index, f"IDMap2,{factory}", 16
        raise ValueError(f"Layout {factory!r} is not supported: use 'auto', 'flat', an IVF or an HNSW factory string")

    def _set_param(self, index, value: int) -> None:
        ivf = self.faiss.try_extract_index_ivf(index)
        if ivf is not None:
            ivf.nprobe = int(min(value, ivf.nlist))
            return
        if hasattr(index, "nprobe") and hasattr(index, "nlist"):  # a GPU IVF index
            index.nprobe = int(min(value, index.nlist))
            return
        inner = self.faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = int(value)

    def _tune(self, index, ids: np.ndarray, vecs: np.ndarray, sample: int = 256) -> tuple[int, float | None]:
        """Smallest nprobe / efSearch whose recall@10 against exact search reaches the target + 0.03.

        Queries are means of four random indexed vectors: like real questions they lie off the
        data (NFCorpus questions against MiniLM sentence vectors: top-1 cosine 0.58; such means
        0.64; indexed vectors themselves 0.83), so the recall they give is only a little optimistic
        (there, the nprobe chosen this way gave 0.96 recall@10 for the real questions).
        """
        kind = "ivf" if self.faiss.try_extract_index_ivf(index) is not None else "hnsw"
        n = len(ids)
        if n <= 10:
            return (1 if kind == "ivf" else _EFSEARCH[-1]), None
        rng = np.random.default_rng(1)
        mixed = sum(vecs[rng.integers(0, n, size=sample)] for _ in range(4))
        queries = np.ascontiguousarray(mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12),
                                       dtype=np.float32)
        truth = [set(ids[row].tolist()) for row in _exact_topk(vecs, queries, 10)]
        goal = min(0.99, self.target_recall + 0.03)
        if kind == "ivf":
            nlist = self.faiss.try_extract_index_ivf(index).nlist
            candidates = [p for p in _NPROBES if p < nlist] + [nlist]
        else:
            candidates = list(_EFSEARCH)
        recall = 0.0
        for value in candidates:
            self._set_param(index, value)
            _, got = index.search(queries, 10)
            recall = float(np.mean([len(t.intersection(g.tolist())) / 10 for t, g in zip(truth, got)]))
            if recall >= goal:
                return value, round(recall, 4)
        return candidates[-1], round(recall, 4)

    def _swap(self, index, factory: str, param: int, recall: float | None, trained: int) -> None:
        self._set_param(index, param)
        self._index, self.factory, self.nprobe = index, factory, param
        self.recall_at_10, self.trained_size, self._gpu_index = recall, trained, None

    def _maybe_relayout(self) -> None:
        """``layout="auto"``: switch to IVF past the threshold, re-train after 4x growth, back to exact when small."""
        if self.layout != "auto":
            return
        n, kind = len(self), self.kind
        if (kind == "flat" and n >= self.ivf_threshold) or (kind == "ivf" and n < self.ivf_threshold // 2) or (
                kind == "ivf" and n > 4 * max(self.trained_size, 1)):
            self.rebuild()

    # ------------------------------------------------------------------ writes
    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add (or replace) vectors under the given ids (the last one wins for an id given twice)."""
        vectors = _check(vectors, self.dim)
        ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids_arr) != len(vectors):
            raise ValueError(f"{len(ids_arr)} ids for {len(vectors)} vectors")
        if len(ids_arr) == 0:
            return
        _, last = np.unique(ids_arr[::-1], return_index=True)
        if len(last) != len(ids_arr):
            keep = np.sort(len(ids_arr) - 1 - last)
            ids_arr, vectors = ids_arr[keep], np.ascontiguousarray(vectors[keep])
        with self._lock:
            if self.kind == "hnsw":
                if np.isin(ids_arr, self.ids()).any():  # HNSW cannot delete: rebuild without the old copies
                    self._rebuild_without(ids_arr)
            else:
                self._index.remove_ids(ids_arr)  # replace semantics: re-adding an id never duplicates it
            self._index.add_with_ids(vectors, ids_arr)
            self._gpu_index = None
            self._maybe_relayout()

    def remove(self, ids: Sequence[int]) -> int:
        """Remove vectors by id; returns how many were there. Works for every layout (HNSW rebuilds)."""
        ids_arr = np.asarray(list(ids), dtype=np.int64)
        if len(ids_arr) == 0:
            return 0
        with self._lock:
            if self.kind == "hnsw":
                n = self._rebuild_without(ids_arr)
            else:
                n = int(self._index.remove_ids(ids_arr))
            self._gpu_index = None
            if n:
                self._maybe_relayout()
            return n

    def _rebuild_without(self, drop: np.ndarray) -> int:
        ids, vecs = self.vectors()
        keep = ~np.isin(ids, drop)
        removed = int((~keep).sum())
        if removed:
            index, factory, _ = self._build(self.factory.split(",", 1)[1], ids[keep], vecs[keep])
            self._swap(index, factory, self.nprobe, self.recall_at_10, self.trained_size)
        return removed

    def ids(self) -> np.ndarray:
        """All ids in the index (order unspecified)."""
        with self._lock:
            if self._index.ntotal == 0:
                return np.zeros(0, dtype=np.int64)
            ivf = self.faiss.try_extract_index_ivf(self._index)
            if ivf is None:
                return self.faiss.vector_to_array(self._index.id_map).astype(np.int64)
            inv = ivf.invlists
            parts = [self.faiss.rev_swig_ptr(inv.get_ids(i), inv.list_size(i)).copy()
                     for i in range(inv.nlist) if inv.list_size(i)]
            return np.concatenate(parts).astype(np.int64)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) — used to rebuild with another layout (decoded: lossy for SQ/PQ codes)."""
        with self._lock:
            ids = self.ids()
            n = len(ids)
            if n == 0:
                return ids, np.zeros((0, self.dim), np.float32)
            if self.faiss.try_extract_index_ivf(self._index) is not None:
                vecs = np.vstack([self._index.reconstruct_batch(ids[lo:lo + 262144])
                                  for lo in range(0, n, 262144)])
            else:
                vecs = self._index.index.reconstruct_n(0, n)
            return ids, np.ascontiguousarray(vecs, dtype=np.float32)

    def rebuild(self, layout: str | None = None) -> str:
        """Re-create the index with ``layout`` (or the size-based choice), tune it, return its factory string.

        Raises:
            ValueError: an unknown layout, or an IVF layout with more lists than vectors.
        """
        with self._lock:
            if layout:
                self.layout = layout  # an explicit layout sticks (and is saved); "auto" resumes size-based choice
            ids, vecs = self.vectors()
            factory = self._resolve(self.layout, len(ids))
            index, factory, param = self._build(factory, ids, vecs)
            recall = None
            if factory != "IDMap2,Flat":
                param, recall = self._tune(index, ids, vecs)
            self._swap(index, factory, param, recall, len(ids))
            return factory

    # ------------------------------------------------------------------ search
    def _searcher(self):
        if self.use_gpu == "never" or not hasattr(self.faiss, "StandardGpuResources"):
            return self._index
        if self._gpu_index is None:
            try:
                if self.faiss.get_num_gpus() < 1:
                    return self._index
                if not hasattr(self, "_res"):
                    self._res = self.faiss.StandardGpuResources()
                self._gpu_index = self.faiss.index_cpu_to_gpu(self._res, 0, self._index)
                self._set_param(self._gpu_index, self.nprobe)
            except Exception:  # no usable GPU, or a layout the GPU cannot hold: CPU search gives the same results
                self.use_gpu = "never"
                self._gpu_index = None
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
                "layout": self.layout, "ivf_threshold": self.ivf_threshold, "encoding": self.encoding,
                "trained_size": self.trained_size, "recall_at_10": self.recall_at_10,
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
    def load(cls, path: str | Path, model_id: str, dim: int, use_gpu: str = "auto", **options) -> "FaissIndex":
        """Load a saved index, refusing one built with another model or dimension.

        ``options`` (``layout``, ``ivf_threshold``, ``encoding``, ``target_recall``) override what
        the sidecar recorded.

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
        settings = {k: meta[k] for k in ("layout", "ivf_threshold", "encoding") if meta.get(k) is not None}
        settings.update(options)
        self = cls(dim, model_id, use_gpu=use_gpu, **settings)
        try:
            index = self.faiss.read_index(str(path))
        except RuntimeError as e:
            raise MedkgError(f"Vector index {path} is unreadable: {e}") from e
        if index.d != dim:
            raise IndexMismatchError(f"Vector index {path} has dimension {index.d}, sidecar says {dim}")
        self._index = index
        self.factory = meta.get("factory", "IDMap2,Flat")
        self.nprobe = int(meta.get("nprobe", 1))
        self.trained_size = int(meta.get("trained_size") or meta.get("count") or index.ntotal)
        self.recall_at_10 = meta.get("recall_at_10")
        if hasattr(index, "id_map") and self.faiss.try_extract_index_ivf(index) is not None:
            # Version-1 rebuilds wrapped IVF in IDMap2, whose remove_ids mislabels IVF results: re-create natively.
            ivf = self.faiss.extract_index_ivf(index)
            ivf.make_direct_map()
            vecs = np.vstack([ivf.reconstruct(i) for i in range(ivf.ntotal)]) if ivf.ntotal else np.zeros((0, dim), np.float32)
            ids = self.faiss.vector_to_array(index.id_map).astype(np.int64)
            new, factory, _ = self._build(self.factory.split(",", 1)[1], ids, vecs.astype(np.float32))
            self._index, self.factory = new, factory
        self._set_param(self._index, self.nprobe)
        return self

    @classmethod
    def open(cls, path: str | Path, model_id: str, dim: int, use_gpu: str = "auto", **options) -> "FaissIndex":
        """Load ``path`` if it exists, else a new empty index (``options`` as for the constructor)."""
        if Path(path).exists():
            return cls.load(path, model_id, dim, use_gpu=use_gpu, **options)
        return cls(dim, model_id, use_gpu=use_gpu, **options)
