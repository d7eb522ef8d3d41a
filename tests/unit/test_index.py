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


def clustered(rng, n, d=32, centers=50, noise=0.15):
    """Clustered unit vectors, as sentence embeddings are."""
    c = unit(rng, centers, d)
    vecs = c[rng.integers(0, centers, n)] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)


def recall_at_10(fi, ex, queries):
    got, want = fi.search(queries, 10)[1], ex.search(queries, 10)[1]
    return float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)]))


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(7)
    vecs = clustered(rng, 12000)
    ids = np.arange(12000, dtype=np.int64) * 3 + 1
    queries = vecs[rng.choice(12000, 100, replace=False)] + 0.05 * rng.standard_normal((100, 32)).astype(np.float32)
    return ids, vecs, (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("layout", ["IVF128,Flat", "IVF64,SQfp16", "IVF64,SQ8"])
def test_ivf_rebuild_recall_against_exact(big, layout):
    ids, vecs, queries = big
    fi, ex = FaissIndex(32, "m"), ExactIndex(32)
    fi.add(ids, vecs)
    ex.add(ids, vecs)
    factory = fi.rebuild(layout)
    assert factory == layout and fi.kind == "ivf" and fi.nprobe >= 1
    assert fi.recall_at_10 is not None and fi.recall_at_10 >= 0.95
    assert recall_at_10(fi, ex, queries) >= 0.95
    # queries off the data, as questions are (between clusters): still >= 0.95 after tuning
    rng = np.random.default_rng(11)
    off = sum(vecs[rng.integers(0, len(vecs), 100)] for _ in range(3))
    off = (off / np.linalg.norm(off, axis=1, keepdims=True)).astype(np.float32)
    assert recall_at_10(fi, ex, off) >= 0.95


def test_ivf_remove_and_replace_keep_ids_right(big):
    """Deleting from IVF must not shift the ids of what remains (IDMap2 over IVF did)."""
    ids, vecs, queries = big
    fi, ex = FaissIndex(32, "m"), ExactIndex(32)
    fi.add(ids, vecs)
    ex.add(ids, vecs)
    fi.rebuild("IVF128,Flat")
    gone = ids[::3]
    assert fi.remove(gone) == len(gone) and ex.remove(gone) == len(gone)
    assert fi.remove(gone) == 0
    assert len(fi) == len(ex) == len(ids) - len(gone)
    assert set(fi.ids().tolist()) == set(ex.ids.tolist())
    # a kept vector finds itself under its own id
    keep = ids[1:30:3]
    _, top = fi.search(vecs[1:30:3], 1)
    assert top[:, 0].tolist() == keep.tolist()
    assert recall_at_10(fi, ex, queries) >= 0.95
    # re-adding known ids replaces their vectors, never duplicates them
    fi.add(ids[1:11], vecs[100:110])
    ex.add(ids[1:11], vecs[100:110])
    assert len(fi) == len(ex)
    assert recall_at_10(fi, ex, queries) >= 0.95
    back_ids, back = fi.vectors()
    assert len(back_ids) == len(fi)
    pos = {int(u): i for i, u in enumerate(back_ids)}
    np.testing.assert_allclose(back[pos[int(ids[1])]], vecs[100], atol=1e-6)


def test_auto_layout_switches_on_add_and_back_on_remove(tmp_path):
    rng = np.random.default_rng(3)
    both = clustered(rng, 9050)
    vecs, queries = both[:9000], both[9000:]
    ids = rng.choice(2**62, size=9000, replace=False).astype(np.int64)
    fi, ex = FaissIndex(32, "m", ivf_threshold=4000), ExactIndex(32)
    for lo in range(0, 3000, 1000):  # incremental adds, as ingest does
        fi.add(ids[lo:lo + 1000], vecs[lo:lo + 1000])
    assert fi.kind == "flat" and fi.factory == "IDMap2,Flat"
    fi.add(ids[3000:5000], vecs[3000:5000])  # crosses the threshold: becomes IVF by itself
    ex.add(ids[:5000], vecs[:5000])
    assert fi.kind == "ivf" and fi.factory.startswith("IVF") and fi.factory.endswith("SQfp16")
    assert fi.trained_size == 5000 and fi.recall_at_10 >= 0.95
    assert recall_at_10(fi, ex, queries) >= 0.95
    fi.add(ids[5000:9000], vecs[5000:9000])  # adds after training go to the trained lists
    ex.add(ids[5000:9000], vecs[5000:9000])
    assert fi.kind == "ivf" and len(fi) == 9000
    assert recall_at_10(fi, ex, queries) >= 0.95
    path = tmp_path / "g.faiss"
    fi.save(path)
    again = FaissIndex.load(path, "m", 32)
    assert again.factory == fi.factory and again.nprobe == fi.nprobe and again.ivf_threshold == 4000
    assert (again.search(queries, 10)[1] == fi.search(queries, 10)[1]).all()
    assert again.remove(ids[:7500]) == 7500  # below half the threshold: back to exact search
    ex.remove(ids[:7500])
    assert again.kind == "flat" and len(again) == 1500
    assert recall_at_10(again, ex, queries) >= 0.98  # exact again, over fp16-decoded vectors


def test_auto_factory_respects_training_minimum():
    from retrieval.index import auto_factory

    assert auto_factory(1_000_000) == "IVF4000,SQfp16"
    assert auto_factory(200_000, "Flat") == "IVF1788,Flat"
    nlist = int(auto_factory(5000).split(",")[0][3:])
    assert 5000 // nlist >= 39


def test_hnsw_layout_supports_remove_by_rebuilding(big):
    ids, vecs, queries = big
    ids, vecs = ids[:1500], vecs[:1500]
    fi, ex = FaissIndex(32, "m"), ExactIndex(32)
    fi.add(ids, vecs)
    ex.add(ids, vecs)
    assert fi.rebuild("HNSW16") == "IDMap2,HNSW16" and fi.kind == "hnsw"
    assert fi.remove(ids[:300]) == 300 and ex.remove(ids[:300]) == 300
    fi.add(ids[600:610], vecs[:10])
    ex.add(ids[600:610], vecs[:10])
    assert len(fi) == len(ex) == 1200
    assert set(fi.ids().tolist()) == set(ex.ids.tolist())
    assert recall_at_10(fi, ex, queries) >= 0.9


def test_bad_layouts_are_clear_errors(data):
    ids, vecs, _ = data
    fi = FaissIndex(32, "m")
    fi.add(ids, vecs)
    with pytest.raises(ValueError, match="at least 1024 vectors"):
        fi.rebuild("IVF1024,Flat")
    with pytest.raises(ValueError, match="layout"):
        fi.rebuild("NotAnIndex")
