"""Readers on real snippets (PubMed abstracts from the shared corpora, an ACI-Bench note)."""
import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp.extraction import Document
from nlp.readers import Rejected, detect_format, note_sections, read_documents

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def split(items):
    items = list(items)
    docs = [i for i in items if isinstance(i, Document)]
    rej = [i for i in items if isinstance(i, Rejected)]
    return docs, rej


def test_pubmed_xml_plain_and_gz_are_identical():
    plain, rej = split(read_documents([FIX / "pubmed_sample.xml"]))
    gz, rej_gz = split(read_documents([FIX / "pubmed_sample.xml.gz"]))
    assert not rej and not rej_gz
    assert len(plain) == 3 and [d.id for d in plain] == [d.id for d in gz]
    assert [(d.id, d.title, d.text) for d in plain] == [(d.id, d.title, d.text) for d in gz]
    first = plain[0]
    src = json.loads((Path(__file__).resolve().parents[2] / "data/sample/abstracts.jsonl").read_text().splitlines()[0])
    assert first.id == src["pmid"] and first.title == src["title"] and first.text == src["abstract"]
    assert first.metadata["journal"] == "Journal of Test Pharmacology"
    assert first.year == 1980 and plain[2].year == 1982  # <MedlineDate>1982 Jul-Aug</MedlineDate>
    assert plain[1].text.startswith("Background: ")  # labelled abstract section kept
    assert first.full_text == first.title + " " + first.text


def test_truncated_xml_keeps_records_before_the_error():
    docs, rej = split(read_documents([FIX / "pubmed_truncated.xml"]))
    assert len(docs) == 2
    assert len(rej) == 1 and "invalid XML" in rej[0].reason and rej[0].source.endswith("pubmed_truncated.xml")
    assert rej[0].record.startswith("line ")


def test_bioc():
    docs, rej = split(read_documents([FIX / "bioc_sample.xml"]))
    assert not rej and len(docs) == 2
    assert docs[0].title and docs[0].text and docs[0].metadata["pmid"] == docs[0].id


def test_pubtator_keeps_gold_annotations():
    docs, rej = split(read_documents([FIX / "bc5cdr_sample.pubtator"]))
    assert not rej and [d.id for d in docs] == ["227508", "354896"]
    d = docs[0]
    assert d.title == "Naloxone reverses the antihypertensive effect of clonidine."
    ann = d.metadata["annotations"][0]
    assert d.full_text[ann["start"]:ann["end"]] == ann["text"] == "Naloxone"
    assert ann["id"] == "D009270" and ann["type"] == "Chemical"
    assert {"type": "CID", "id1": "D008750", "id2": "D007022"} in d.metadata["relations"]


def test_jsonl_bad_lines_are_rejected_with_line_numbers():
    docs, rej = split(read_documents([FIX / "mixed.jsonl"]))
    assert len(docs) == 3
    assert docs[0].year == 1990
    reasons = {r.record: r.reason for r in rej}
    assert "invalid JSON" in reasons["line 2"]
    assert any("no \"id\"" in r for r in reasons.values())


def test_beir_corpus_reads_underscore_id():
    docs, rej = split(read_documents([FIX / "beir_corpus.jsonl"]))
    assert not rej and [d.id for d in docs] == ["MED-0", "MED-1", "MED-2"]


def test_note_keeps_sections():
    docs, rej = split(read_documents([FIX / "notes"]))
    assert not rej and len(docs) == 1
    note = docs[0]
    assert note.kind == "note" and note.id == "aci_D2N068"
    headers = [s["header"] for s in note.metadata["sections"]]
    assert headers[:2] == ["CHIEF COMPLAINT", "HISTORY OF PRESENT ILLNESS"]
    assert "REVIEW OF SYSTEMS" in headers and "PHYSICAL EXAMINATION" in headers
    for s in note.metadata["sections"]:
        assert note.text[s["start"]:].upper().startswith(s["header"])


@pytest.mark.parametrize("name,reason", [
    ("empty.txt", "empty file"),
    ("bad_encoding.txt", "not valid UTF-8"),
    ("not_xml.xml", "invalid XML"),
    ("does_not_exist.jsonl", "no such file"),
])
def test_bad_files_are_reported_with_path_and_reason(name, reason):
    docs, rej = split(read_documents([FIX / name]))
    assert not docs
    assert rej and reason in rej[-1].reason and name in rej[-1].source


def test_a_bad_file_does_not_stop_the_batch(tmp_path):
    items = list(read_documents([FIX / "empty.txt", FIX / "bioc_sample.xml", FIX / "bad_encoding.txt",
                                 FIX / "pubmed_sample.xml"]))
    docs, rej = split(items)
    assert len(docs) == 5 and len(rej) == 2


def test_truncated_gzip(tmp_path):
    data = (FIX / "pubmed_sample.xml.gz").read_bytes()
    bad = tmp_path / "cut.xml.gz"
    bad.write_bytes(data[: len(data) // 2])
    docs, rej = split(read_documents([bad]))
    assert rej and ("gzip" in rej[-1].reason or "XML" in rej[-1].reason)


def test_detect_format():
    assert detect_format(FIX / "pubmed_sample.xml") == "pubmed"
    assert detect_format(FIX / "pubmed_sample.xml.gz") == "pubmed"
    assert detect_format(FIX / "bioc_sample.xml") == "bioc"
    assert detect_format(FIX / "bc5cdr_sample.pubtator") == "pubtator"
    assert detect_format(FIX / "mixed.jsonl") == "jsonl"
    assert detect_format(FIX / "notes" / "aci_D2N068.txt") == "text"


def test_glob_and_directory(tmp_path):
    docs, _ = split(read_documents([str(FIX / "*.pubtator")]))
    assert len(docs) == 2
    _, rej = split(read_documents([str(tmp_path / "*.nothing")]))
    assert rej and "glob" in rej[0].reason


def test_sections_regex_on_plain_text():
    secs = note_sections("CHIEF COMPLAINT\n\nChest pain.\n\nAssessment:\nStable angina.\nPLAN: aspirin daily.")
    assert [s["header"] for s in secs] == ["CHIEF COMPLAINT", "ASSESSMENT", "PLAN"]


# --- fuzzing: no input may crash a reader; it yields documents or rejections -------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".xml", ".jsonl", ".pubtator", ".txt", ".xml.gz"]))
def test_fuzz_readers_never_crash(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    if suffix.endswith(".gz") and data[:1] == b"x":
        data = gzip.compress(data)
    path.write_bytes(data)
    for item in read_documents([path]):
        assert isinstance(item, (Document, Rejected))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=5000))
def test_fuzz_truncated_pubmed(tmp_path, cut):
    xml = (FIX / "pubmed_sample.xml").read_bytes()
    path = tmp_path / "t.xml"
    path.write_bytes(xml[: min(cut, len(xml) - 1)])
    docs, rej = split(read_documents([path]))
    assert rej  # truncation is always reported
    assert all(d.title for d in docs)
