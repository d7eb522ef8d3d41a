"""The MiniLM PHI tagger backend (nlp/deid_transformer.py): encoding, decoding, training round trip."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import deid_model, deid_transformer as dt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(dt.base_model_dir()))


@pytest.mark.parametrize("word,shape", [
    ("mcclure", "lower"), ("McClure", "mixed"), ("Moberly", "title"), ("WADE", "upper"), ("K", "title"),
    ("0182", "digit"), ("Mal0ne", "mixed"), ("--", "punct"), ("Zoë", "title"),
])
def test_word_shape(word, shape):
    assert dt.SHAPES[dt.word_shape(word)] == shape


def test_encode_labels_word_pieces_bio(tokenizer):
    text = "Seen by Oluwaseun Bakare at Tyson Foods today."
    spans = [(8, 24, "NAME"), (28, 39, "ADDRESS")]
    all_tags = dt.tags(deid_model.LABELS)
    (w,) = dt.encode(tokenizer, text, spans, {t: i for i, t in enumerate(all_tags)})
    got = [(text[o[0]:o[1]], all_tags[lab]) for o, lab in zip(w["offsets"], w["labels"]) if o is not None]
    first_name = [t for p, t in got if p in "Oluwaseun"]
    assert first_name[0] == "B-NAME" and all(t == "I-NAME" for t in first_name[1:])
    assert dict(got)["Tyson"] == "B-ADDRESS" and dict(got)["Foods"] == "I-ADDRESS"
    assert dict(got)["Seen"] == "O" and dict(got)["today"] == "O"
    # shapes follow the whole word, not the word piece: "##wa" of a Title word is Title
    assert {dt.SHAPES[s] for o, s in zip(w["offsets"], w["shapes"]) if o and 8 <= o[0] < 17} == {"title"}
    assert w["labels"][0] == -100 and w["labels"][-1] == -100  # [CLS], [SEP]


def test_long_text_is_read_in_overlapping_windows(tokenizer):
    text = " ".join(f"word{i}" for i in range(600))
    windows = dt.encode(tokenizer, text)
    assert len(windows) > 2 and all(len(w["ids"]) <= dt.MAX_LEN for w in windows)
    covered = {o for w in windows for o in w["offsets"] if o}
    assert max(e for _, e in covered) == len(text)
    assert windows[0]["first"] and windows[-1]["last"] and not windows[1]["first"]


def test_decode_joins_bio_and_widens_to_words():
    text = "Pt Kowalczyk seen, call Tamsin Crowe."
    pieces = [((0, 2), "O"), ((3, 6), "B-NAME"), ((6, 9), "I-NAME"), ((9, 12), "I-NAME"), ((12, 13), "O"),
              ((24, 28), "B-NAME"),  # "Tams": the rest of the word joins the span
              ((31, 36), "I-NAME"), ((36, 37), "O")]
    assert dt.decode(text, pieces) == [(3, 12, "NAME"), (24, 36, "NAME")]
    # an I- tag after O starts a new span; a type change starts a new span
    assert dt.decode("ab cd ef", [((0, 2), "I-ID"), ((3, 5), "O"), ((6, 8), "B-NAME")]) == [(0, 2, "ID"), (6, 8, "NAME")]


@pytest.mark.slow
def test_train_save_load_and_tag(tmp_path):
    """A few steps of fine-tuning save a small artifact with its provenance; it loads through
    deid_model.load (backend in meta.json) and tags spans inside the text."""
    cases = [json.loads(line) for line in (FIXTURES / "phi_cases_holdout2.jsonl").read_text().splitlines()][:24]
    data = deid_model.training_texts(cases, augment=0, seed=1)
    dt.train(data, tmp_path / "m", deid_model.LABELS, epochs=1, batch_size=8, threads=1)
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["backend"] == "transformer" and meta["labels"] == list(deid_model.LABELS)
    assert len(meta["medkg_training"]["base_sha256"]) == 64
    size = (tmp_path / "m" / dt.WEIGHTS).stat().st_size
    assert size < 30e6  # the frozen embeddings are not stored
    tagger = deid_model.load(tmp_path / "m")
    assert isinstance(tagger, dt.TransformerTagger)
    text = cases[0]["text"]
    for s, e, typ in deid_model.model_spans(text, tagger, frozenset(deid_model.LABELS)):
        assert 0 <= s < e <= len(text) and typ in deid_model.LABELS


def test_tagger_trained_on_other_base_weights_is_refused(tmp_path, monkeypatch):
    (tmp_path / "meta.json").write_text(json.dumps({"backend": "transformer", "labels": ["NAME"],
                                                    "medkg_training": {"base_sha256": "0" * 64}}))
    with pytest.raises(RuntimeError, match="another MiniLM"):
        dt.TransformerTagger(tmp_path)
