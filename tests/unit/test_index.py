"""FaissIndex must return what the exact NumPy oracle returns (seeded data)."""
import numpy as np
import pytest

from nlp.errors import IndexMismatchError
from retrieval.index import ExactIndex, FaissIndex


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(42)
    ids = rng.choice(2**62, size=500, replace=False).astype(np.int64)
    return ids, unit(rng, 500, 32), unit(rng, 20, 32)


def test_flat_matches_exact_oracle(data):
    ids, vecs, queries = data
    fi, ex = FaissIndex(32, "m"), ExactIndex(32)
    fi.add(ids, vecs)
    ex.add(ids, vecs)
    fs, fids = fi.search(queries, 10)
    es, eids = ex.search(queries, 10)
    assert (fids == eids).all()
    np.testing.assert_allclose(fs, es, rtol=1e-5, atol=1e-5)


def test_remove_and_readd_replace(data):
    ids, vecs, queries = data
    fi, ex = FaissIndex(32, "m"), ExactIndex(32)
    fi.add(ids, vecs)
    ex.add(ids, vecs)
    assert fi.remove(ids[:100]) == 100 and ex.remove(ids[:100]) == 100
    assert len(fi) == 400
    fi.add(ids[200:210], vecs[:10])  # same ids again: replaced, not duplicated
    ex.add(ids[200:210], vecs[:10])
    assert len(fi) == len(ex) == 400
    assert (fi.search(queries, 5)[1] == ex.search(queries, 5)[1]).all()
    assert set(fi.ids().tolist()) == set(ex.ids.tolist())


def test_save_load_and_mismatch(tmp_path, data):
    ids, vecs, queries = data
    fi = FaissIndex(32, "model-a")
    fi.add(ids, vecs)
    path = tmp_path / "g.faiss"
    fi.save(path)
    again = FaissIndex.load(path, "model-a", 32)
    assert len(again) == 500
    assert (again.search(queries, 3)[1] == fi.search(queries, 3)[1]).all()
    with pytest.raises(IndexMismatchError, match="model-a"):
        FaissIndex.load(path, "model-b", 32)
    with pytest.raises(IndexMismatchError, match="dimension"):
        FaissIndex.load(path, "model-a", 64)


def test_empty_and_short_results():
    fi = FaissIndex(8, "m")
    s, i = fi.search(np.ones(8, np.float32) / np.sqrt(8), 3)
    assert (i == -1).all() and np.isneginf(s).all()
    fi.add([5], np.ones((1, 8), np.float32) / np.sqrt(8))
    s, i = fi.search(np.ones(8, np.float32) / np.sqrt(8), 3)
    assert i[0].tolist() == [5, -1, -1]
    with pytest.raises(ValueError, match="shape"):
        fi.add([1], np.ones((1, 9), np.float32))


def test_ivf_rebuild_recall_against_exact():
    rng = np.random.default_rng(7)
    # clustered data, as sentence embeddings are
    centers = unit(rng, 50, 32)
    vecs = centers[rng.integers(0, 50, 20000)] + 0.15 * rng.standard_normal((20000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(20000, dtype=np.int64) * 3 + 1
    queries = vecs[rng.choice(20000, 100, replace=False)] + 0.05 * rng.standard_normal((100, 32)).astype(np.float32)
    fi, ex = FaissIndex(32, "m"), ExactIndex(32)
    fi.add(ids, vecs)
    ex.add(ids, vecs)
    factory = fi.rebuild("IVF256,Flat")
    assert factory.startswith("IDMap2,IVF")
    got, want = fi.search(queries, 10)[1], ex.search(queries, 10)[1]
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.95
    fi.remove(ids[:10])
    assert len(fi) == 19990
