"""The GraphStore contract suite against the embedded SQLite backend."""
import pytest

from kg.sqlite_store import SQLiteGraphStore
from tests.contract.graph_store_contract import GraphStoreContract, sample_batch


class TestSQLiteStore(GraphStoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        s = SQLiteGraphStore(tmp_path / "graph.db")
        yield s
        s.close()


def test_reopen_keeps_data(tmp_path):
    with SQLiteGraphStore(tmp_path / "g.db") as s:
        s.write(sample_batch())
        before = s.stats()
    with SQLiteGraphStore(tmp_path / "g.db") as s:
        assert s.stats() == before


def test_not_a_database_is_a_clear_error(tmp_path):
    from nlp.errors import GraphStoreError

    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GraphStoreError, match="bad.db"):
        SQLiteGraphStore(bad)
