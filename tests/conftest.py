"""Shared fixtures and test-run settings.

The suite never touches the network: models load from installed packages, the concept
dictionary is built from local vocabularies and ../shared/datasets, and an autouse fixture
makes any connection to a non-loopback address fail loudly.
"""
import json
import os
import socket
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.contract.graph_store_contract")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    return host in ("localhost", "::1") or str(host).startswith("127.")


def _guarded_connect(self, address):
    if not _is_local(address):
        raise OSError(f"network access attempted in tests: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_local(address):
        raise OSError(f"network access attempted in tests: {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """Runtime code must work offline: any non-loopback connection raises."""
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex


@pytest.fixture(scope="session")
def sample_subset(tmp_path_factory) -> Path:
    """A small real input set: 40 bundled abstracts (those about hypertension first) + one note."""
    out = tmp_path_factory.mktemp("input")
    rows = [json.loads(line) for line in (SAMPLE / "abstracts.jsonl").read_text().splitlines()]
    rows.sort(key=lambda r: ("hypertens" not in (r["title"] + r["abstract"]).lower(), int(r["pmid"])))
    with open(out / "abstracts.jsonl", "w") as f:
        for r in rows[:40]:
            f.write(json.dumps(r) + "\n")
    (out / "notes").mkdir()
    note = sorted((SAMPLE / "notes").glob("*.txt"))[0]
    (out / "notes" / note.name).write_text(note.read_text())
    return out


@pytest.fixture(scope="session")
def medkg_app(tmp_path_factory, sample_subset):
    """One Medkg over a temp home with the subset ingested (models load once per run)."""
    from retrieval.app import Medkg
    from retrieval.settings import Settings

    home = tmp_path_factory.mktemp("home")
    app = Medkg(Settings.load({"home": home}))
    report = app.ingest([sample_subset])
    assert report.rejected == 0 and report.ingested == 41
    yield app
    app.close()


@pytest.fixture(scope="session")
def dictionary(medkg_app):
    return medkg_app.dictionary


@pytest.fixture(scope="session")
def nlp(medkg_app):
    return medkg_app.nlp
