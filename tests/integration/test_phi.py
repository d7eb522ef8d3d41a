"""No planted identifier from a clinical note reaches the graph, the index files, the logs or the audit log."""
import json

from typer.testing import CliRunner

from cli import app as cli_app

NOTE = """CHIEF COMPLAINT
Chest pain.

HISTORY OF PRESENT ILLNESS
Margaret Okonkwo is a 67-year-old female (MRN 4417829) seen on 03/14/2023 by Dr. Alan Prescott.
She lives at 1432 Willow Creek Road, Springfield, IL 62704 and can be reached at (217) 555-0143
or margaret.okonkwo@example.com. Her daughter, Joan Okonkwo, was present.
She reports chest pain on exertion. She denies fever. History of hypertension, on lisinopril 20 mg daily.
Her SSN 123-45-6789 and account number ACC-77812 are on file; portal https://portal.example-hospital.org/p/4417829.

ASSESSMENT AND PLAN
Stable angina. Continue aspirin. Follow up on 04/02/2023.
"""
PLANTED = ["Margaret", "Okonkwo", "4417829", "03/14/2023", "Alan Prescott", "Prescott", "1432 Willow Creek",
           "62704", "555-0143", "margaret.okonkwo@example.com", "Joan", "123-45-6789", "ACC-77812",
           "portal.example-hospital.org", "04/02/2023"]


def test_planted_phi_never_stored_or_logged(tmp_path):
    src = tmp_path / "notes"
    src.mkdir()
    (src / "visit_0001.txt").write_text(NOTE)
    home = tmp_path / "home"
    runner = CliRunner()
    r = runner.invoke(cli_app, ["--home", str(home), "ingest", str(src)])
    assert r.exit_code == 0, r.output
    q = runner.invoke(cli_app, ["--home", str(home), "ask", "What treats angina?", "--json"])
    assert q.exit_code == 0
    s = runner.invoke(cli_app, ["--home", str(home), "search", "chest pain", "--json"])
    assert "chest pain" in s.stdout.lower()  # clinical content kept
    blobs = {p.name: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    assert "graph.db" in blobs and "audit.jsonl" in blobs and "graph.faiss.json" in blobs
    outputs = r.output + q.output + s.output
    for ident in PLANTED:
        for name, data in blobs.items():
            assert ident.encode() not in data, f"{ident!r} found in {name}"
        assert ident not in outputs
    audit = [json.loads(x) for x in (home / "audit.jsonl").read_text().splitlines()]
    assert [a["command"] for a in audit] == ["ingest", "ask"]
    assert "question" not in audit[1] and audit[1]["question_sha256"]  # notes-derived store: no question text


def test_note_file_name_with_phi_is_not_stored(tmp_path):
    src = tmp_path / "Okonkwo_Margaret_2023-03-14.txt"
    src.write_text(NOTE)
    home = tmp_path / "home"
    r = CliRunner().invoke(cli_app, ["--home", str(home), "ingest", str(src)])
    assert r.exit_code == 0, r.output
    data = (home / "graph.db").read_bytes() + (home / "graph.db-wal").read_bytes() if (home / "graph.db-wal").exists() \
        else (home / "graph.db").read_bytes()
    for ident in ("Okonkwo", "Margaret", "2023-03-14", str(tmp_path)):
        assert ident.encode() not in data
