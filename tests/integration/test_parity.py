"""Parity: the same ingest into Neo4j and into the embedded store gives the same facts.

``medkg --graph bolt://... ingest`` then ``ask`` must return the same facts (same ids, same
support counts, same evidence documents) as the SQLite store on the same input.
"""
import json

import pytest
from typer.testing import CliRunner

from cli import app as cli_app
from tests.contract.test_neo4j_store import connect_test_store

pytestmark = pytest.mark.neo4j

QUESTIONS = ["What drugs can cause hypertension?", "What drugs treat hypertension?", "side effects of cocaine"]


def _facts(output: str):
    ans = json.loads(output)
    return [(f["subject"]["id"], f["predicate"], f["object"]["id"], f["support"], f["contradicting"],
             f["documents"], sorted(e["doc_id"] for e in f["evidence"])) for f in ans["facts"]]


def test_neo4j_ingest_and_ask_match_sqlite(tmp_path, sample_subset, medkg_app, monkeypatch):
    store = connect_test_store()
    store.clear()
    store.close()
    import os

    uri = os.environ["NEO4J_URI"]
    runner = CliRunner()
    home = tmp_path / "neo4j-home"
    r = runner.invoke(cli_app, ["--home", str(home), "--graph", uri, "ingest", str(sample_subset), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ingested"] == 41
    neo = json.loads(runner.invoke(cli_app, ["--home", str(home), "--graph", uri, "stats", "--json"]).stdout)
    lite = medkg_app.store.stats().to_dict()
    assert neo == lite
    sqlite_home = medkg_app.settings.home
    for q in QUESTIONS:
        a = runner.invoke(cli_app, ["--home", str(home), "--graph", uri, "ask", q, "--json"])
        b = runner.invoke(cli_app, ["--home", str(sqlite_home), "ask", q, "--json"])
        assert a.exit_code == b.exit_code == 0
        assert _facts(a.stdout) == _facts(b.stdout)
    # idempotent on Neo4j too
    r = runner.invoke(cli_app, ["--home", str(home), "--graph", uri, "ingest", str(sample_subset), "--json"])
    assert json.loads(r.stdout)["unchanged"] == 41
    again = json.loads(runner.invoke(cli_app, ["--home", str(home), "--graph", uri, "stats", "--json"]).stdout)
    assert again == neo
