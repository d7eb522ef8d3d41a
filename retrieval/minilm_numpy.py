"""BERT-family sentence-transformers models (all-MiniLM-L6-v2 and kin) encoded in NumPy.

Why: importing torch + sentence-transformers costs ~3 s before the first query is encoded, which
is most of a cold ``medkg ask``. This module runs the same forward pass with NumPy (float32,
OpenBLAS GEMMs) and the ``tokenizers`` Rust package, so a question is embedded without torch.

What it reproduces, read from the model directory exactly as sentence-transformers reads it:

* tokenization: ``tokenizer.json`` (the fast tokenizer ST itself uses), truncated to
  ``max_seq_length`` from ``sentence_bert_config.json`` (else the tokenizer's ``model_max_length``),
  capped by ``max_position_embeddings``; ``do_lower_case`` there prepends a Lowercase normalizer
  when the tokenizer lacks one, as ST does;
* the encoder: ``BertModel`` with absolute position embeddings, post-LayerNorm blocks, exact
  (erf) GELU, token type 0;
* the modules in ``modules.json``: Transformer, then Pooling (mean / CLS / max / mean-sqrt-len, as
  ``1_Pooling/config.json`` says), then optionally Normalize. Any other module (Dense, ...) or
  architecture makes :func:`unsupported_reason` say why, and callers fall back to torch.

Weights are read from ``model.safetensors`` through a read-only memory map (no copy of the 47 MB
word-embedding table: only the rows a query uses are paged in). Models that only ship
``pytorch_model.bin`` are not handled here (reading that needs torch anyway).

Outputs match sentence-transformers' fp32 CPU vectors to cosine >= 0.9999 (tests/unit/test_embedder.py).
"""
from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import struct
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

_ST_TRANSFORMER = ("sentence_transformers.models.Transformer",
                   "sentence_transformers.base.modules.transformer.Transformer",
                   "sentence_transformers.base.modules.Transformer")
_ST_POOLING = ("sentence_transformers.models.Pooling",
               "sentence_transformers.sentence_transformer.modules.Pooling",
               "sentence_transformers.sentence_transformer.modules.pooling.Pooling")
_ST_NORMALIZE = ("sentence_transformers.models.Normalize",
                 "sentence_transformers.sentence_transformer.modules.Normalize",
                 "sentence_transformers.sentence_transformer.modules.normalize.Normalize",
                 "sentence_transformers.base.modules.Normalize",
                 "sentence_transformers.base.modules.normalize.Normalize")
_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
_POOLING_MODES = ("pooling_mode_mean_tokens", "pooling_mode_cls_token", "pooling_mode_max_tokens",
                  "pooling_mode_mean_sqrt_len_tokens")
# sentence-transformers >= 6 writes ``"pooling_mode": "mean"`` (or a list) and ``embedding_dimension``
# instead of one boolean per mode and ``word_embedding_dimension``: the new names, by old key, in the
# order sentence-transformers 2-5 concatenate the modes.
_POOLING_NEW_NAMES = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                      "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                      "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}
_POOLING_OLD_KEYS = {v: k for k, v in _POOLING_NEW_NAMES.items()}
_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64}


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _modules(path: Path) -> list[dict] | None:
    mods = _read_json(path / "modules.json")
    return mods if isinstance(mods, list) else None


def pooling_config(path: str | Path) -> tuple[int | None, list[str]]:
    """(token embedding dimension, pooling modes as ``pooling_mode_*`` keys) of the model at ``path``,
    from its Pooling module's config in either layout (sentence-transformers 2-5 or 6+).
    Modes this module cannot run keep their ``pooling_mode_*`` key, so callers can name them."""
    path = Path(path)
    mods = _modules(path) or []
    sub = mods[1].get("path", "1_Pooling") if len(mods) > 1 else "1_Pooling"
    pool = _read_json(path / sub / "config.json") or {}
    dim = pool.get("embedding_dimension", pool.get("word_embedding_dimension"))
    if "pooling_mode" in pool:
        named = pool["pooling_mode"]
        named = [named] if isinstance(named, str) else list(named or [])
        modes = [_POOLING_OLD_KEYS.get(n, f"pooling_mode_{n}") for n in named]
    else:
        on = [k for k, v in pool.items() if k.startswith("pooling_mode_") and v is True]
        modes = [k for k in _POOLING_NEW_NAMES if k in on] + [k for k in on if k not in _POOLING_NEW_NAMES]
    return (int(dim) if dim is not None else None), modes


def unsupported_reason(path: str | Path) -> str | None:
    """Why the model at ``path`` cannot run here (None: it can). Cheap: reads only small JSON files."""
    path = Path(path)
    mods = _modules(path)
    if not mods:
        return "no modules.json"
    types = [m.get("type", "") for m in mods]
    if types[0] not in _ST_TRANSFORMER or mods[0].get("path", "") not in ("", "."):
        return f"first module is {types[0]!r}, not a Transformer at the model root"
    if len(types) < 2 or types[1] not in _ST_POOLING:
        return "second module is not Pooling"
    if any(t not in _ST_NORMALIZE for t in types[2:]):
        return f"unsupported modules after pooling: {types[2:]}"
    cfg = _read_json(path / "config.json") or {}
    if cfg.get("model_type") != "bert":
        return f"model_type {cfg.get('model_type')!r} is not bert"
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        return f"position_embedding_type {cfg.get('position_embedding_type')!r}"
    if cfg.get("hidden_act") not in _ACTIVATIONS:
        return f"hidden_act {cfg.get('hidden_act')!r}"
    if cfg.get("is_decoder") or cfg.get("add_cross_attention"):
        return "decoder configuration"
    _, modes = pooling_config(path)
    extra = [k for k in modes if k not in _POOLING_MODES]
    if extra:
        return f"pooling modes {extra}"
    if not modes:
        return "no pooling mode set"
    if not (path / "tokenizer.json").exists():
        return "no tokenizer.json"
    if not (path / "model.safetensors").exists():
        return "no model.safetensors"
    return None


def load_safetensors(file: str | Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file as read-only NumPy views over one memory map (no copies).

    BF16 tensors are returned widened to float32 (a copy). Raises ValueError on a malformed file.
    """
    file = Path(file)
    with open(file, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100_000_000:
            raise ValueError(f"{file}: implausible safetensors header size {n}")
        header = json.loads(f.read(n))
    mm = np.memmap(file, dtype=np.uint8, mode="r")
    base = 8 + n
    out: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"{file}: tensor {name} has unsupported dtype {meta['dtype']}")
        lo, hi = meta["data_offsets"]
        arr = np.asarray(mm[base + lo: base + hi]).view(dtype).reshape(meta["shape"])
        if meta["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out


# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution of the activations.
_P = np.float32(0.3275911)
_A = [np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)]


def _erf(x: np.ndarray) -> np.ndarray:
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + _P * a)
    poly = ((((_A[4] * t + _A[3]) * t + _A[2]) * t + _A[1]) * t + _A[0]) * t
    np.multiply(a, a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    return s * (1.0 - poly * a)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1 / math.sqrt(2.0))))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    c = np.float32(math.sqrt(2.0 / math.pi))
    return 0.5 * x * (1.0 + np.tanh(c * (x + np.float32(0.044715) * x * x * x)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    xc *= 1.0 / np.sqrt(var + np.float32(eps))
    xc *= w
    xc += b
    return xc


_blas_lock = threading.Lock()
_blas_state = {"fns": None, "active": 0, "saved": 0}
SINGLE_THREAD_TOKENS = 1024
"""Batches of at most this many tokens run on one BLAS thread (see :func:`_blas_single_thread`)."""


def _openblas_threads_fns():
    """(get, set) of the OpenBLAS bundled with NumPy's wheel (ctypes, no threadpoolctl: its
    library scan costs ~0.5 s), or None (another BLAS, other platform)."""
    import ctypes

    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "libopenblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("64_", ""):
            get = getattr(lib, f"openblas_get_num_threads{suffix}", None)
            put = getattr(lib, f"openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                return get, put
    return None


@contextlib.contextmanager
def _blas_single_thread():
    """One BLAS thread while a short input (a query) is encoded.

    Why: the GEMMs of a 20-token query are too small to split, and a second OpenBLAS thread
    that the OS has not scheduled makes the first wait: on a loaded 2-core machine a query took
    ~400 ms wall (23 ms CPU) with 2 threads and ~90 ms (16 ms CPU) with one. Reference-counted,
    so concurrent callers restore the thread count only when the last one leaves.
    """
    with _blas_lock:
        if _blas_state["fns"] is None:
            _blas_state["fns"] = _openblas_threads_fns() or False
        fns = _blas_state["fns"]
        if fns:
            if _blas_state["active"] == 0:
                _blas_state["saved"] = fns[0]()
                fns[1](1)
            _blas_state["active"] += 1
    try:
        yield
    finally:
        if fns:
            with _blas_lock:
                _blas_state["active"] -= 1
                if _blas_state["active"] == 0 and _blas_state["saved"] > 1:
                    fns[1](_blas_state["saved"])


class NumpyBertEncoder:
    """A sentence-transformers BERT model (Transformer -> Pooling [-> Normalize]) in NumPy.

    Args:
        path: the local model directory.
        max_seq_length: override the truncation length (default: as sentence-transformers reads it).

    Raises:
        ValueError: the model is not supported (see :func:`unsupported_reason`).
    """

    def __init__(self, path: str | Path, max_seq_length: int | None = None):
        self.path = Path(path)
        why = unsupported_reason(self.path)
        if why:
            raise ValueError(f"{self.path}: not runnable without torch ({why})")
        mods = _modules(self.path)
        cfg = _read_json(self.path / "config.json")
        sbert = _read_json(self.path / "sentence_bert_config.json") or {}
        tok_cfg = _read_json(self.path / "tokenizer_config.json") or {}
        self.normalize = any(m.get("type") in _ST_NORMALIZE for m in mods[2:])
        self.pool_modes = pooling_config(self.path)[1]  # in the order ST concatenates them
        self.hidden = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.layers_n = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.act = {"gelu": _gelu, "gelu_new": _gelu_tanh, "gelu_pytorch_tanh": _gelu_tanh,
                    "relu": lambda x: np.maximum(x, 0, out=x)}[cfg["hidden_act"]]
        max_pos = int(cfg.get("max_position_embeddings", 512))
        msl = max_seq_length or sbert.get("max_seq_length")
        if not msl:
            msl = tok_cfg.get("model_max_length")
            msl = msl if isinstance(msl, int) and msl < 1_000_000 else max_pos
        self.max_seq_length = int(min(int(msl), max_pos))
        self.dimension = self.hidden * len(self.pool_modes)
        self._do_lower_case = bool(sbert.get("do_lower_case"))
        self._tokenizer = None
        self._weights = None

    # ------------------------------------------------------------------ loading
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from tokenizers import Tokenizer, normalizers

            tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tok.no_padding()
            tok.enable_truncation(max_length=self.max_seq_length)
            if self._do_lower_case and not _has_lowercase(tok.normalizer):
                seq = [normalizers.Lowercase()] + ([tok.normalizer] if tok.normalizer is not None else [])
                tok.normalizer = normalizers.Sequence(seq)
            self._tokenizer = tok
        return self._tokenizer

    def load(self) -> "NumpyBertEncoder":
        """Read tokenizer and weights (idempotent); returns self."""
        if self._weights is not None:
            return self
        _ = self.tokenizer
        raw = load_safetensors(self.path / "model.safetensors")
        prefix = "bert." if any(k.startswith("bert.embeddings.") for k in raw) else ""

        def g(name: str) -> np.ndarray:
            try:
                return raw[prefix + name]
            except KeyError:
                raise ValueError(f"{self.path}: weight {prefix + name} missing from model.safetensors") from None

        def f32(name: str) -> np.ndarray:
            a = g(name)
            return a if a.dtype == np.float32 else a.astype(np.float32)

        w = {"word": f32("embeddings.word_embeddings.weight"),
             "pos": f32("embeddings.position_embeddings.weight"),
             "type0": np.ascontiguousarray(f32("embeddings.token_type_embeddings.weight")[0]),
             "ln_w": f32("embeddings.LayerNorm.weight"), "ln_b": f32("embeddings.LayerNorm.bias"),
             "layers": []}
        for i in range(self.layers_n):
            p = f"encoder.layer.{i}."
            a = p + "attention.self."
            # q, k and v in one (3H, H) GEMM; weights stored (out, in) as in nn.Linear, used transposed
            qkv_w = np.concatenate([f32(a + n + ".weight") for n in ("query", "key", "value")])
            qkv_b = np.concatenate([f32(a + n + ".bias") for n in ("query", "key", "value")])
            w["layers"].append({
                "qkv_wT": np.ascontiguousarray(qkv_w.T), "qkv_b": qkv_b,
                "o_wT": np.ascontiguousarray(f32(p + "attention.output.dense.weight").T),
                "o_b": f32(p + "attention.output.dense.bias"),
                "ln1_w": f32(p + "attention.output.LayerNorm.weight"), "ln1_b": f32(p + "attention.output.LayerNorm.bias"),
                "i_wT": np.ascontiguousarray(f32(p + "intermediate.dense.weight").T),
                "i_b": f32(p + "intermediate.dense.bias"),
                "out_wT": np.ascontiguousarray(f32(p + "output.dense.weight").T),
                "out_b": f32(p + "output.dense.bias"),
                "ln2_w": f32(p + "output.LayerNorm.weight"), "ln2_b": f32(p + "output.LayerNorm.bias"),
            })
        self._weights = w
        return self

    # ------------------------------------------------------------------ encoding
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch([str(t) for t in texts])]

    def encode(self, texts: Sequence[str], batch_size: int = 32, max_tokens: int = 8192) -> np.ndarray:
        """(n, dimension) float32 sentence embeddings (L2-normalised when the model has Normalize).

        Texts are sorted by token length and cut into batches of at most ``batch_size`` texts and
        ``max_tokens`` padded tokens, so padding costs little.
        """
        self.load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not len(texts):
            return out
        ids = self.tokenize(texts)
        if sum(len(x) for x in ids) <= SINGLE_THREAD_TOKENS:
            with _blas_single_thread():
                self._encode_ids(ids, out, batch_size, max_tokens)
        else:
            self._encode_ids(ids, out, batch_size, max_tokens)
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, np.float32(1e-12))
        return out

    def _encode_ids(self, ids: list[list[int]], out: np.ndarray, batch_size: int, max_tokens: int) -> None:
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        start = 0
        while start < len(order):
            end = start + 1
            while (end < len(order) and end - start < batch_size
                   and len(ids[order[end]]) * (end + 1 - start) <= max_tokens):
                end += 1
            chunk = order[start:end]
            out[chunk] = self._forward([ids[i] for i in chunk])
            start = end

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        w = self._weights
        bsz, seq = len(batch), max(len(x) for x in batch)
        H, nh = self.hidden, self.heads
        dh = H // nh
        ids = np.zeros((bsz, seq), dtype=np.int64)
        mask = np.zeros((bsz, seq), dtype=np.float32)
        for r, x in enumerate(batch):
            ids[r, :len(x)] = x
            mask[r, :len(x)] = 1.0
        x = w["word"][ids]  # gather: only these rows of the memory map are read
        x += w["pos"][:seq]
        x += w["type0"]
        x = _layer_norm(x.reshape(bsz * seq, H), w["ln_w"], w["ln_b"], self.eps)
        # additive key mask, as transformers does (dtype minimum on padded keys)
        add_mask = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(dh))
        padded = bool((mask == 0).any())
        for L in w["layers"]:
            qkv = x @ L["qkv_wT"]
            qkv += L["qkv_b"]
            qkv = qkv.reshape(bsz, seq, 3, nh, dh).transpose(2, 0, 3, 1, 4)  # (3, B, nh, S, dh)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            if padded:
                scores += add_mask
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(bsz * seq, H)
            h = ctx @ L["o_wT"]
            h += L["o_b"]
            h += x
            x = _layer_norm(h, L["ln1_w"], L["ln1_b"], self.eps)
            inter = x @ L["i_wT"]
            inter += L["i_b"]
            inter = self.act(inter)
            h = inter @ L["out_wT"]
            h += L["out_b"]
            h += x
            x = _layer_norm(h, L["ln2_w"], L["ln2_b"], self.eps)
        tokens = x.reshape(bsz, seq, H)
        parts = []
        m = mask[:, :, None]
        for mode in self.pool_modes:
            if mode == "pooling_mode_cls_token":
                parts.append(tokens[:, 0])
            elif mode == "pooling_mode_max_tokens":
                parts.append(np.where(m > 0, tokens, np.float32(-1e9)).max(1))
            else:
                summed = (tokens * m).sum(1)
                n = np.maximum(m.sum(1), np.float32(1e-9))
                parts.append(summed / (np.sqrt(n) if mode == "pooling_mode_mean_sqrt_len_tokens" else n))
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _has_lowercase(normalizer) -> bool:
    if normalizer is None:
        return False
    name = type(normalizer).__name__
    if name == "Lowercase":
        return True
    if name == "BertNormalizer":
        return bool(getattr(normalizer, "lowercase", False))
    if name == "Sequence":
        try:
            return any(_has_lowercase(n) for n in normalizer)
        except TypeError:
            return False
    return False
