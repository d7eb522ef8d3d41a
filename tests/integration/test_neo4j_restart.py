"""Fault test: the Neo4j server is stopped mid-ingest, and restarted.

Runs against a real server of its own (``scripts/neo4j.sh`` on a free port with a temporary
state dir), so the shared test server (``NEO4J_URI``, port 7688 under ``scripts/test.sh``) and a
developer's server on 7687 are never touched. On a subset of 9 abstracts in batches of 3:

1. ``medkg --graph bolt://... ingest`` with the server stopped (and left down) after 2 batches
   were written, as the 3rd write starts: the driver retries, gives up, and the command exits 1
   with a one-line error naming the URI. The graph keeps the 2 committed batches and the vector
   index holds exactly their sentences.
2. Server restarted; the same ingest resumes (the 6 stored documents are skipped), and this time
   the server is stopped from inside the write transaction, after the batch's statements ran and
   before its commit (the worst moment), and restarted in the background: the batch is run again
   on the restarted server and the run completes (exit 0).
3. The graph equals a clean ingest of the same subset into SQLite (``stats``: documents,
   sentences, mentions, evidence, concepts, edges per predicate); the vector index holds exactly
   the graph's sentence ids; a third run finds every document unchanged.

Two tests without a server check the store's side of the fix this test led to: a commit the
server did not confirm (the driver took a stray ``SUCCESS {}`` for the COMMIT reply, so a batch
the server never committed counted as written and had its sentences indexed) is run again.

The server test is marked ``neo4j`` and ``slow``: it runs when the Neo4j tests are enabled
(``NEO4J_URI`` set, as under ``scripts/test.sh``, or ``MEDKG_REQUIRE_NEO4J=1``) and Java can start
the bundled server; it is skipped otherwise, or fails under ``MEDKG_REQUIRE_NEO4J=1``.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app as cli_app
from tests.contract.test_neo4j_store import neo4j_unavailable

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "neo4j.sh"
N_DOCS = 9
BATCH = 3
RESERVED_PORTS = {7687, 7688}


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


class Server:
    """A private Neo4j server driven through scripts/neo4j.sh (start / stop)."""

    def __init__(self, state: Path, port: int, password: str):
        self.state = state
        self.port = port
        self.uri = f"bolt://127.0.0.1:{port}"
        self.env = {**os.environ, "NEO4J_PORT": str(port), "MEDKG_NEO4J_HOME": str(state),
                    # C1-only JIT: this server does little work, and starts in ~14 s instead of ~24 s
                    "NEO4J_PASSWORD": password, "MEDKG_NEO4J_JAVA_OPTS": "-Xms128m -Xmx512m -XX:TieredStopAtLevel=1",
                    "MEDKG_NEO4J_TIMEOUT": "150"}
        self.starts = 0
        self.stops = 0

    def _run(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SCRIPT), action], env=self.env, capture_output=True, text=True, timeout=240)

    def start(self) -> None:
        r = self._run("start")
        if r.returncode != 0:
            raise RuntimeError(f"scripts/neo4j.sh start failed: {r.stderr.strip()[-800:]}")
        assert r.stdout.strip() == self.uri
        self.starts += 1

    def stop(self) -> None:
        r = self._run("stop")
        if r.returncode != 0:
            raise RuntimeError(f"scripts/neo4j.sh stop failed: {r.stderr.strip()[-800:]}")
        self.stops += 1

    def running(self) -> bool:
        return self._run("status").returncode == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (os.environ.get("NEO4J_URI") or os.environ.get("MEDKG_REQUIRE_NEO4J") == "1"):
        pytest.skip("Neo4j tests are not enabled (set NEO4J_URI, or MEDKG_REQUIRE_NEO4J=1; "
                    "this test starts its own server with scripts/neo4j.sh)")
    if shutil.which("java") is None:
        neo4j_unavailable("java not found: the bundled Neo4j server needs Java 17")
    password = os.environ.get("NEO4J_PASSWORD") or "medkg-test-pw"
    srv = Server(tmp_path_factory.mktemp("neo4j-restart-state"), _free_port(), password)
    try:
        srv.start()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        srv.stop()
        neo4j_unavailable(f"could not start a private Neo4j server on port {srv.port}: {e}")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def subset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("restart-input")
    lines = (REPO / "data" / "sample" / "abstracts.jsonl").read_text().splitlines()[:N_DOCS]
    (out / "abstracts.jsonl").write_text("\n".join(lines) + "\n")
    return out


class StopServer:
    """Stops the server on the chosen call of a wrapped ``Neo4jGraphStore`` method, then leaves it
    down or restarts it in the background.

    ``inside_tx=False`` wraps :meth:`~kg.neo4j_store.Neo4jGraphStore.write` and stops before the
    call (between two batches); ``inside_tx=True`` wraps ``_write_batch``, the managed-transaction
    function, and stops after the batch's statements ran, before the driver commits."""

    def __init__(self, server: Server, on_call: int, *, inside_tx: bool, restart: bool):
        from kg.neo4j_store import Neo4jGraphStore

        self.server = server
        self.on_call = on_call
        self.inside_tx = inside_tx
        self.restart = restart
        self.calls = 0
        self.fired = False
        self.restarter: threading.Thread | None = None
        self.restart_error: BaseException | None = None
        self.name = "_write_batch" if inside_tx else "write"
        self.orig = getattr(Neo4jGraphStore, self.name)

    def install(self, monkeypatch) -> None:
        from kg.neo4j_store import Neo4jGraphStore

        if self.inside_tx:
            monkeypatch.setattr(Neo4jGraphStore, "_write_batch", staticmethod(self._in_tx))
        else:
            hook = self

            def write(store, batch):
                hook._maybe_stop()
                return hook.orig(store, batch)

            monkeypatch.setattr(Neo4jGraphStore, "write", write)

    def _in_tx(self, tx, batch):
        stats = self.orig(tx, batch)
        self._maybe_stop()
        return stats

    def _maybe_stop(self) -> None:
        self.calls += 1
        if self.calls == self.on_call and not self.fired:
            self.fired = True
            self.server.stop()
            if self.restart:
                self.restarter = threading.Thread(target=self._restart, daemon=True)
                self.restarter.start()

    def _restart(self) -> None:
        try:
            self.server.start()
        except BaseException as e:  # reported by the test
            self.restart_error = e


def _retry_window(monkeypatch, seconds: float) -> None:
    """Make every store the CLI connects use this managed-transaction retry window."""
    from kg.neo4j_store import Neo4jGraphStore

    orig = Neo4jGraphStore.connect.__func__

    def connect(cls, *args, **kwargs):
        kwargs["max_transaction_retry_time"] = seconds
        return orig(cls, *args, **kwargs)

    monkeypatch.setattr(Neo4jGraphStore, "connect", classmethod(connect))


def _ingest(home: Path, uri: str | None, src: Path):
    graph = ["--graph", uri] if uri else []
    return CliRunner().invoke(cli_app, ["--home", str(home), *graph, "-q", "ingest", str(src),
                                        "--batch-size", str(BATCH), "--workers", "1", "--json"])


def _stats(home: Path, uri: str | None) -> dict:
    graph = ["--graph", uri] if uri else []
    r = CliRunner().invoke(cli_app, ["--home", str(home), *graph, "stats", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _graph_and_index_ids(home: Path, uri: str):
    from retrieval.app import Medkg
    from retrieval.settings import Settings

    app = Medkg(Settings.load({"home": home, "graph": uri}))
    try:
        return sorted(app.store.sentence_uids()), sorted(app.index.ids().tolist())
    finally:
        app.close()


# --------------------------------------------------------------------------- no server needed
class _Session:
    """A session whose commits are confirmed (a bookmark) only from the n-th on."""

    def __init__(self, owner):
        self.owner = owner
        self.bookmarks = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute_write(self, work, *args):
        self.owner.calls += 1
        result = work(None, *args)
        if self.owner.calls >= self.owner.confirm_from:
            self.bookmarks = ("FB:bookmark",)
        return result

    def last_bookmarks(self):
        import neo4j

        return neo4j.Bookmarks.from_raw_values(self.bookmarks)


class _Driver:
    def __init__(self, confirm_from: int):
        self.confirm_from = confirm_from
        self.calls = 0

    def session(self, **kwargs):
        return _Session(self)


def test_unconfirmed_commit_is_run_again():
    from kg.neo4j_store import Neo4jGraphStore

    driver = _Driver(confirm_from=3)
    store = Neo4jGraphStore(driver, uri="bolt://example:7687", retry_seconds=30)
    assert store._write_tx(lambda tx, x: x * 2, "write 1 document", 21) == 42
    assert driver.calls == 3


def test_never_confirmed_commit_is_a_clean_error():
    from kg.neo4j_store import Neo4jGraphStore
    from nlp.errors import BackendUnavailable

    store = Neo4jGraphStore(_Driver(confirm_from=10**9), uri="bolt://example:7687", retry_seconds=0.6)
    with pytest.raises(BackendUnavailable) as err:
        store._write_tx(lambda tx: None, "write 3 documents")
    message = str(err.value)
    assert "bolt://example:7687" in message and "did not confirm the commit" in message and "\n" not in message


# --------------------------------------------------------------------------- real server
@pytest.mark.neo4j
@pytest.mark.slow
def test_server_stopped_mid_ingest_then_resume_equals_clean_run(server, subset, tmp_path, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", server.env["NEO4J_PASSWORD"])
    monkeypatch.delenv("NEO4J_DATABASE", raising=False)
    home = tmp_path / "home"

    # 1. stopped (and left down) as the 3rd write starts: a clean error, exit 1
    hook = StopServer(server, on_call=3, inside_tx=False, restart=False)
    with monkeypatch.context() as m:
        hook.install(m)
        _retry_window(m, 3.0)
        r = _ingest(home, server.uri, subset)
    assert hook.fired and not server.running(), (r.exit_code, r.output, r.exception, hook.calls)
    assert r.exit_code == 1, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, r.output
    assert server.uri in errors[0] and "unavailable" in errors[0]
    assert "Traceback" not in r.output

    # 2. restart; resume, with the server stopped inside the write transaction (before its
    # commit) and restarted in the background: the batch is run again on the new server
    server.start()
    committed = _stats(home, server.uri)
    assert committed["documents"] == 2 * BATCH
    ids, index_ids = _graph_and_index_ids(home, server.uri)
    assert index_ids == ids  # the failed run saved the index of what it had committed
    hook = StopServer(server, on_call=1, inside_tx=True, restart=True)
    with monkeypatch.context() as m:
        hook.install(m)
        _retry_window(m, 150.0)
        r = _ingest(home, server.uri, subset)
    if hook.restarter is not None:
        hook.restarter.join(timeout=240)
    assert hook.restart_error is None, hook.restart_error
    assert hook.fired and hook.calls >= 2  # the interrupted batch ran again after the restart
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["unchanged"] == 2 * BATCH and report["ingested"] == N_DOCS - 2 * BATCH
    assert report["rejected"] == 0

    # 3. the graph equals a clean run; the index holds exactly the graph's sentences
    clean_home = tmp_path / "clean"
    r = _ingest(clean_home, None, subset)
    assert r.exit_code == 0, r.output
    clean = _stats(clean_home, None)
    assert clean["documents"] == N_DOCS
    resumed = _stats(home, server.uri)
    assert resumed == clean
    ids, index_ids = _graph_and_index_ids(home, server.uri)
    assert len(ids) == clean["sentences"]
    assert index_ids == ids  # no lost and no duplicated vectors

    # a further run changes nothing
    r = _ingest(home, server.uri, subset)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["unchanged"] == N_DOCS
    assert _stats(home, server.uri) == clean
