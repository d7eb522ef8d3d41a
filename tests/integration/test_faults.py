"""Fault tests: kill -9 during ingest, then resume; concurrent ingests are refused.

After any crash the resumed run must equal a clean run: same documents, sentences,
mentions, evidence, edges, and the vector index holding exactly the graph's sentence ids.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app as cli_app
from retrieval.app import Medkg
from retrieval.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def graph_docs(home: Path) -> int:
    db = home / "graph.db"
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def ingest_cmd(home: Path, src: Path) -> list[str]:
    return [sys.executable, "-m", "cli", "--home", str(home), "-q", "ingest", str(src), "--batch-size", "4"]


def snapshot(home: Path):
    app = Medkg(Settings.load({"home": home}))
    try:
        st = app.store.stats()
        uids = sorted(app.store.sentence_uids())
        index_ids = sorted(app.index.ids().tolist()) if app.settings.index_path.exists() else []
        return st, uids, index_ids
    finally:
        app.close()


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_docs", [4, 20])
def test_kill_9_then_resume_equals_clean_run(tmp_path, sample_subset, medkg_app, kill_after_docs):
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(ingest_cmd(home, sample_subset), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while graph_docs(home) < kill_after_docs and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"ingest ended before the kill point: {proc.stderr.read().decode()[-500:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = graph_docs(home)
    assert 0 < killed_at < 41
    # resume
    done = subprocess.run(ingest_cmd(home, sample_subset), cwd=REPO, env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    st, uids, index_ids = snapshot(home)
    clean = medkg_app.store.stats()
    assert st == clean
    assert index_ids == uids  # no lost and no duplicated vectors
    assert len(uids) == clean.sentences


def test_concurrent_ingest_is_refused(tmp_path, sample_subset):
    home = tmp_path / "locked"
    holder = Medkg(Settings.load({"home": home}))
    with holder._ingest_lock():
        r = CliRunner().invoke(cli_app, ["--home", str(home), "ingest", str(sample_subset / "notes")])
        assert r.exit_code == 1
        assert "Another medkg ingest" in r.output and str(os.getpid()) in r.output
    holder.close()
