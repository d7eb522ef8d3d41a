"""Every CLI command through Typer's CliRunner, on a real ingested sample."""
import json

import pytest
from typer.testing import CliRunner

from cli import EXIT_REJECTED, app

runner = CliRunner()


def run(home, *args, input=None):
    return runner.invoke(app, ["--home", str(home), *args], input=input)


@pytest.fixture(scope="module")
def home(medkg_app):
    return medkg_app.settings.home


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("ingest", "ask", "search", "concept", "explain", "stats", "remove", "config", "extract", "export",
                "reindex"):
        assert cmd in result.output
        sub = runner.invoke(app, [cmd, "--help"])
        assert sub.exit_code == 0 and "Example:" in sub.output


def test_stats_json(home):
    r = run(home, "stats", "--json")
    assert r.exit_code == 0
    st = json.loads(r.output)
    assert st["documents"] == 41 and st["sentences"] > 300 and st["edges"] > 0 and st["evidence"] > 0


def test_ask_drugs_causing_hypertension_has_evidence(home):
    r = run(home, "ask", "What drugs can cause hypertension?", "--json")
    assert r.exit_code == 0, r.output
    ans = json.loads(r.output)
    assert ans["predicates"] == ["CAUSES"] and ans["answer_type"] == "Chemical"
    assert any(c["id"] == "MESH:D006973" for c in ans["concepts"])
    assert ans["facts"], "expected at least one fact"
    good = 0
    for f in ans["facts"]:
        assert f["predicate"] == "CAUSES" and f["object"]["id"] == "MESH:D006973"
        assert f["subject"]["type"] == "Chemical" and f["support"] >= 1
        subj_names = {f["subject"]["name"].lower(), *(s.lower() for s in f["subject"]["synonyms"])}
        obj_names = {f["object"]["name"].lower(), *(s.lower() for s in f["object"]["synonyms"])}
        for e in f["evidence"]:
            assert e["doc_id"] and e["sentence_id"].startswith(e["doc_id"] + "#")
            assert not e["negated"]
            text = e["text"].lower()
            if any(n in text for n in subj_names) and any(n in text for n in obj_names):
                good += 1
    assert good >= 1
    assert ans["passages"] and all(p["doc_id"] for p in ans["passages"])


def test_ask_renders_citations(home):
    r = run(home, "ask", "What drugs can cause hypertension?")
    assert r.exit_code == 0
    assert "-[CAUSES]->" in r.output and "[1] PMID/doc" in r.output


def test_ask_unknown_concept_says_so(home):
    r = run(home, "ask", "What drugs treat xyzzyplasia?", "--json")
    assert r.exit_code == 0
    ans = json.loads(r.output)
    assert ans["facts"] == [] and ans["message"]


def test_ask_reads_the_question_without_spacy(home):
    """A fresh ``medkg ask`` finds the question's concepts with the cached question lexicon:
    spaCy (and the NER model) stay unloaded. Title case reads like lower case."""
    import subprocess
    import sys
    from pathlib import Path

    from retrieval.embedder import _nvidia_present

    code = ("import json, sys\n"
            "from typer.testing import CliRunner\n"
            "import cli\n"
            "r = CliRunner().invoke(cli.app, ['--home', sys.argv[1], 'ask', sys.argv[2], '--json'])\n"
            "print(json.dumps({'exit': r.exit_code, 'output': r.output,\n"
            "                  'spacy': 'spacy' in sys.modules, 'torch': 'torch' in sys.modules}))\n")
    repo = Path(__file__).resolve().parents[2]
    for question in ("What drugs can cause hypertension?", "What Drugs Can Cause Hypertension?"):
        p = subprocess.run([sys.executable, "-c", code, str(home), question], capture_output=True, text=True,
                           cwd=repo, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        out = json.loads(p.stdout.strip().splitlines()[-1])
        assert out["exit"] == 0 and not out["spacy"]
        if not _nvidia_present():  # on CPU the query is embedded in NumPy: no torch either
            assert not out["torch"]
        ans = json.loads(out["output"])
        assert [c["id"] for c in ans["concepts"]] == ["MESH:D006973"]
        assert ans["predicates"] == ["CAUSES"] and ans["answer_type"] == "Chemical" and ans["facts"]


def test_reindex_after_a_model_change(home, tmp_path):
    import sqlite3

    copy = tmp_path / "copy"
    copy.mkdir()
    src = sqlite3.connect(home / "graph.db")
    dst = sqlite3.connect(copy / "graph.db")
    src.backup(dst)
    src.close(), dst.close()
    sidecar = json.loads((home / "graph.faiss.json").read_text())
    (copy / "graph.faiss").write_bytes((home / "graph.faiss").read_bytes())
    (copy / "graph.faiss.json").write_text(json.dumps({**sidecar, "model_id": "some-other-model"}))
    r = run(copy, "search", "hypertension")
    assert r.exit_code == 1 and "some-other-model" in r.output and "medkg reindex" in r.output
    r = run(copy, "reindex", "--json")
    assert r.exit_code == 0, r.output
    sentences = json.loads(run(home, "stats", "--json").output)["sentences"]
    assert json.loads(r.output)["vectors"] == sentences
    assert json.loads((copy / "graph.faiss.json").read_text())["model_id"] == sidecar["model_id"]
    hits = json.loads(run(copy, "search", "hypertension", "--method", "dense", "--json").output)
    assert hits and any("hypertens" in h["text"].lower() for h in hits)


def test_search_sentence_and_document_level(home):
    r = run(home, "search", "blood pressure increase after drug", "-k", "5", "--json")
    assert r.exit_code == 0
    hits = json.loads(r.output)
    assert len(hits) == 5 and all(h["text"] for h in hits)
    r = run(home, "search", "hypertension", "--level", "document", "-k", "5", "--json")
    docs = json.loads(r.output)
    assert len({h["doc_id"] for h in docs}) == len(docs) == 5
    for method in ("dense", "keyword"):
        r = run(home, "search", "hypertension", "--method", method, "--json")
        assert r.exit_code == 0 and json.loads(r.output)
    assert run(home, "search", "x", "--level", "para").exit_code == 2


def test_concept_and_explain(home):
    r = run(home, "concept", "hypertension", "--json")
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["concept"]["id"] == "MESH:D006973" and data["concept"]["mentions"] > 0
    r = run(home, "concept", "no-such-concept-anywhere")
    assert r.exit_code == 1
    r = run(home, "explain", "hypertension", "MESH:D006973", "--json")
    assert r.exit_code == 0


def test_reingest_changes_nothing(home, sample_subset):
    before = run(home, "stats", "--json").output
    r = run(home, "ingest", str(sample_subset), "--json")
    assert r.exit_code == 0
    rep = json.loads(r.output)
    assert rep["ingested"] == 0 and rep["unchanged"] == 41
    assert run(home, "stats", "--json").output == before


def test_bad_inputs_are_reported_and_the_rest_ingested(tmp_path, sample_subset):
    from pathlib import Path

    fix = Path(__file__).resolve().parents[1] / "fixtures"
    home = tmp_path / "h"
    r = run(home, "ingest", str(fix / "empty.txt"), str(fix / "bad_encoding.txt"), str(fix / "not_xml.xml"),
            str(fix / "bioc_sample.xml"))
    assert r.exit_code == EXIT_REJECTED
    err = r.stderr if hasattr(r, "stderr") else r.output
    assert "empty.txt" in err and "empty file" in err
    assert "bad_encoding.txt" in err and "UTF-8" in err
    assert "not_xml.xml" in err and "invalid XML" in err
    st = json.loads(run(home, "stats", "--json").output)
    assert st["documents"] == 2
    rejects = (home / "rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 3 and all(json.loads(x)["reason"] for x in rejects)


def test_negated_statement_is_not_support(tmp_path):
    home = tmp_path / "neg"
    src = tmp_path / "neg.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"id": "n1", "title": "Aspirin and blood pressure.",
         "text": "There was no evidence that aspirin caused hypertension in these patients."},
        {"id": "n2", "title": "Cocaine and blood pressure.", "text": "Cocaine caused hypertension in two patients."},
    ]) + "\n")
    assert run(home, "ingest", str(src)).exit_code == 0
    ans = json.loads(run(home, "ask", "What drugs can cause hypertension?", "--json").output)
    subjects = {f["subject"]["id"] for f in ans["facts"]}
    assert "MESH:D003042" in subjects and "MESH:D001241" not in subjects
    ans = json.loads(run(home, "ask", "What drugs can cause hypertension?", "--include-negated", "--json").output)
    asp = [f for f in ans["facts"] if f["subject"]["id"] == "MESH:D001241"]
    assert asp and asp[0]["support"] == 0 and asp[0]["contradicting"] == 1 and asp[0]["evidence"][0]["negated"]
    # retraction: removing the cocaine paper removes its edge
    assert run(home, "remove", "n2").exit_code == 0
    ans = json.loads(run(home, "ask", "What drugs can cause hypertension?", "--json").output)
    assert "MESH:D003042" not in {f["subject"]["id"] for f in ans["facts"]}


def test_user_errors_exit_1_with_one_line(tmp_path):
    r = runner.invoke(app, ["--home", str(tmp_path), "--graph", "mongodb://x", "stats"])
    assert r.exit_code == 1
    assert "Unknown graph backend" in r.output and r.output.count("\n") == 1
    r = runner.invoke(app, ["--home", str(tmp_path), "--device", "tpu", "stats"])
    assert r.exit_code == 1 and "Unknown device" in r.output


def test_config_masks_password(tmp_path, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-pass")
    r = runner.invoke(app, ["--home", str(tmp_path), "config", "--json"])
    assert r.exit_code == 0 and "s3cret-pass" not in r.output
    assert json.loads(r.output)["neo4j_password"] == "****"


def test_extract_pubtator_and_jsonl(home, tmp_path):
    from pathlib import Path

    fix = Path(__file__).resolve().parents[1] / "fixtures" / "bc5cdr_sample.pubtator"
    out = tmp_path / "pred.pubtator"
    r = run(home, "extract", str(fix), "--format", "pubtator", "-o", str(out))
    assert r.exit_code == 0, r.output
    blocks = out.read_text().strip().split("\n\n")
    assert len(blocks) == 2
    lines = blocks[0].splitlines()
    pmid, _, title = lines[0].split("|", 2)
    abstract = lines[1].split("|", 2)[2]
    full = title + " " + abstract
    mentions = [ln.split("\t") for ln in lines[2:] if ln.split("\t")[1].isdigit()]
    assert mentions
    for m in mentions:
        assert full[int(m[1]):int(m[2])] == m[3]
        assert m[4] in ("Chemical", "Disease", "Gene", "Species", "Variant", "CellLine")
    ids = {m[5] for m in mentions}
    assert "D009270" in ids  # naloxone, BC5CDR-style MeSH id
    assert any(m[4] == "Chemical" for m in mentions) and any(m[4] == "Disease" for m in mentions)
    rels = [ln.split("\t") for ln in lines[2:] if not ln.split("\t")[1].isdigit()]
    assert all(len(x) == 4 for x in rels)
    r = run(home, "extract", str(fix), "--format", "jsonl")
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in recs] == ["227508", "354896"]
    m0 = recs[0]["mentions"][0]
    assert {"negated", "uncertain", "historical", "hypothetical", "family", "concept_id"} <= set(m0)


def test_export_csv_for_neo4j_admin(home, tmp_path, medkg_app):
    import csv

    out = tmp_path / "csv"
    r = run(home, "export", str(out))
    assert r.exit_code == 0, r.output
    st = medkg_app.store.stats()

    def rows(name):
        with open(out / name, newline="", encoding="utf-8") as f:
            return list(csv.reader(f))

    docs, sents, concepts, ev = rows("documents.csv"), rows("sentences.csv"), rows("concepts.csv"), rows("evidence.csv")
    assert docs[0][0] == "id:ID(Document)" and docs[0][-1] == ":LABEL"
    assert (len(docs) - 1, len(sents) - 1, len(concepts) - 1, len(ev) - 1) == (
        st.documents, st.sentences, st.concepts, st.evidence)
    ids = {"Document": {r[0] for r in docs[1:]}, "Sentence": {r[0] for r in sents[1:]},
           "Concept": {r[0] for r in concepts[1:]}, "Evidence": {r[0] for r in ev[1:]}}
    for name, n in (("has_sentence.csv", st.sentences), ("mentions.csv", st.mentions),
                    ("has_evidence.csv", st.evidence), ("edges.csv", st.edges)):
        table = rows(name)
        start_label = table[0][0].split("(")[1].rstrip(")")
        end_label = table[0][1].split("(")[1].rstrip(")")
        assert len(table) - 1 == n
        assert all(r[0] in ids[start_label] and r[1] in ids[end_label] for r in table[1:])
    script = (out / "import.sh").read_text()
    assert "neo4j-admin database import full" in script and "--nodes=concepts.csv" in script


def test_neo4j_uri_alone_does_not_switch_backend(tmp_path, monkeypatch):
    from retrieval.settings import Settings

    monkeypatch.setenv("NEO4J_URI", "bolt://example.invalid:7687")
    monkeypatch.delenv("MEDKG_GRAPH", raising=False)
    s = Settings.load({"home": tmp_path})
    assert s.graph_uri == str(tmp_path / "graph.db") and not s.is_neo4j
    s = Settings.load({"home": tmp_path, "graph": "neo4j"})
    assert s.graph_uri == "bolt://example.invalid:7687" and s.is_neo4j
