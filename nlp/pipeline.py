"""Build the medkg spaCy pipeline and turn documents into :class:`~nlp.extraction.Extraction`.

Pipeline (``build_nlp``)::

    tokenizer -> sentencizer -> medkg_sentences -> NER (trained model and/or medkg_dictionary_ner) -> medkg_trim_cues
      -> abbreviation_detector (scispaCy) -> medkg_abbreviations -> medkg_linker
      -> medspacy_context (negated / uncertain / historical / hypothetical / family) -> medkg_relations

``ner`` chooses the entity recogniser:

* ``"dictionary"`` - longest-match over the concept dictionary (the transparent baseline);
* ``"trained"``    - medkg's shipped model in ``data/models`` (see :mod:`nlp.ner`), with the
  dictionary filling in types the model does not know (HPO phenotypes in notes...);
* any other value  - a spaCy/scispaCy model name or path (``"en_ner_bc5cdr_md"``), loaded
  with :func:`nlp.ner.load_ner`, plus the dictionary fill-in.
"""
from __future__ import annotations

import bisect
import json
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from nlp import components  # noqa: F401  (registers the medkg_ factories)
from nlp.components import attach_dictionary
from nlp.extraction import Document, Extraction, Mention, Relation, Sentence

RESOURCES = Path(__file__).parent / "resources"

CONTEXT_ATTRS = {
    "negated": "is_negated",
    "uncertain": "is_uncertain",
    "historical": "is_historical",
    "hypothetical": "is_hypothetical",
    "family": "is_family",
}


def sentence_pipeline() -> Language:
    """tokenizer -> sentencizer -> medkg_sentences: how every medkg pipeline splits sentences, alone
    (no NER); ``build_nlp`` starts from it, benchmarks and trainers use it to split text as ingest does."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("medkg_sentences")
    return nlp


def add_context(nlp: Language) -> Language:
    """Append medspaCy ConText with medkg's extra rules (``resources/context_rules.json``)."""
    import medspacy.context  # noqa: F401  (registers "medspacy_context")
    from medspacy.context import ConTextRule

    ctx = nlp.add_pipe("medspacy_context")
    extra = json.loads((RESOURCES / "context_rules.json").read_text())["rules"]
    ctx.add([ConTextRule(r["literal"], r["category"], direction=r["direction"]) for r in extra])
    return nlp


def build_nlp(dictionary, ner: str = "dictionary", *, context: bool = True, link_threshold: float = 0.85) -> Language:
    """Assemble the pipeline.

    Args:
        dictionary: a :class:`nlp.linking.ConceptDictionary` (shared by NER baseline and linker).
        ner: ``"dictionary"``, ``"trained"`` or a spaCy model name/path (see module docstring).
        context: add medspaCy ConText for assertion flags.
        link_threshold: minimum fuzzy-match score for linking; below it an entity keeps a text id.

    Raises:
        ModelNotAvailable: the requested NER model is not installed.
    """
    if ner == "dictionary":
        nlp = sentence_pipeline()
        nlp.add_pipe("medkg_dictionary_ner", config={"mode": "replace"})
    else:
        from nlp.ner import load_ner

        nlp = load_ner(None if ner == "trained" else ner)
        first = nlp.pipe_names[0] if nlp.pipe_names else None
        nlp.add_pipe("sentencizer", before=first) if first else nlp.add_pipe("sentencizer")
        nlp.add_pipe("medkg_sentences", after="sentencizer")
        nlp.add_pipe("medkg_dictionary_ner", config={"mode": "fill"})
    import scispacy.abbreviation  # noqa: F401  (registers "abbreviation_detector")

    # scispaCy's abbreviation detector warns on every doc without "(...)" pairs: noise, not news.
    warnings.filterwarnings("ignore", message=r".*\[W036\]")

    nlp.add_pipe("medkg_trim_cues")
    nlp.add_pipe("abbreviation_detector")
    nlp.add_pipe("medkg_abbreviations")
    nlp.add_pipe("medkg_linker", config={"threshold": link_threshold})
    if context:
        add_context(nlp)
    nlp.add_pipe("medkg_relations")
    attach_dictionary(nlp, dictionary)
    return nlp


class Extractor:
    """Runs the pipeline over :class:`Document` objects and returns :class:`Extraction` objects.

    Args:
        nlp: a pipeline from :func:`build_nlp`.
    """

    def __init__(self, nlp: Language):
        self.nlp = nlp

    def _make_doc(self, document: Document) -> Doc:
        doc = self.nlp.make_doc(document.full_text)
        if document.title:
            doc.user_data["title_end"] = len(document.title) + 1
        return doc

    def extract(self, document: Document) -> Extraction:
        return next(self.extract_many([document]))

    def extract_many(self, documents: Iterable[Document], batch_size: int = 16) -> Iterator[Extraction]:
        """Extractions in input order (streaming)."""
        buffer: list[Document] = []
        for d in documents:
            buffer.append(d)
            if len(buffer) >= batch_size:
                yield from self._run(buffer, batch_size)
                buffer = []
        if buffer:
            yield from self._run(buffer, batch_size)

    def _run(self, docs: list[Document], batch_size: int) -> Iterator[Extraction]:
        spacy_docs = self.nlp.pipe((self._make_doc(d) for d in docs), batch_size=batch_size)
        for document, sdoc in zip(docs, spacy_docs):
            yield to_extraction(document, sdoc)


def _section_lookup(document: Document):
    sections = document.metadata.get("sections") or []
    starts = [s["start"] for s in sections]

    def section_at(offset: int) -> str:
        i = bisect.bisect_right(starts, offset) - 1
        return sections[i]["header"] if i >= 0 else ""

    return section_at


def to_extraction(document: Document, doc: Doc) -> Extraction:
    """Convert a processed spaCy Doc into the plain :class:`Extraction` structure."""
    section_at = _section_lookup(document)
    sentences: list[Sentence] = []
    ent_index: dict[tuple[int, int], tuple[int, int]] = {}  # (start_char, end_char) -> (sentence, mention)
    sent_bounds: list[tuple[int, int]] = []
    for sent in doc.sents:
        raw = sent.text
        stripped = raw.strip()
        if not stripped:
            continue
        start = sent.start_char + (len(raw) - len(raw.lstrip()))
        sentences.append(Sentence(index=len(sentences), start=start, end=start + len(stripped), text=stripped,
                                  section=section_at(start)))
        sent_bounds.append((sent.start, sent.end))
    sent_starts = [b[0] for b in sent_bounds]
    for ent in doc.ents:
        if not ent.text.strip() or not sentences:
            continue
        si = max(0, bisect.bisect_right(sent_starts, ent.start) - 1)
        s = sentences[si]
        m = Mention(start=ent.start_char, end=ent.end_char, text=ent.text, label=ent.label_,
                    concept_id=ent._.concept_id or "", concept_name=ent._.concept_name, vocab=ent._.vocab,
                    score=round(float(ent._.link_score), 4),
                    **{flag: bool(getattr(ent._, attr)) for flag, attr in CONTEXT_ATTRS.items()})
        if not m.concept_id:
            continue  # never happens with medkg_linker; a foreign pipeline without a linker is skipped
        ent_index[(ent.start_char, ent.end_char)] = (si, len(s.mentions))
        s.mentions.append(m)
    relations: list[Relation] = []
    for r in doc._.relations or []:
        subj = ent_index.get((r["subject"].start_char, r["subject"].end_char))
        obj = ent_index.get((r["object"].start_char, r["object"].end_char))
        if subj is None or obj is None or subj[0] != obj[0]:
            continue
        relations.append(Relation(predicate=r["predicate"], sentence=subj[0], subject=subj[1], object=obj[1],
                                  trigger=r["trigger"], confidence=r["confidence"], negated=r["negated"],
                                  uncertain=r["uncertain"], historical=r["historical"],
                                  hypothetical=r["hypothetical"], family=r["family"], method=r.get("method", "pattern")))
    return Extraction(document=document, sentences=sentences, relations=relations)


def describe(nlp: Language) -> dict[str, Any]:
    """What the pipeline is made of (for ``medkg config`` / model meta)."""
    return {"pipeline": nlp.pipe_names, "lang": nlp.lang, "meta": {k: nlp.meta.get(k) for k in ("name", "version")}}
