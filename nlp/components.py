"""medkg's spaCy components (factories prefixed ``medkg_``).

* ``medkg_sentences``      sentence starts at line breaks and after the title (runs after the sentencizer)
* ``medkg_dictionary_ner`` dictionary-based NER baseline (longest match over the concept dictionary)
* ``medkg_trim_cues``      entities do not start on assertion cues ("Denies fever" -> "fever")
* ``medkg_abbreviations``  propagates entities through scispaCy's abbreviation pairs
* ``medkg_linker``         links every entity to a concept id (exact -> normalized -> abbreviation -> fuzzy)
* ``medkg_relations``      sentence-level relations (see :mod:`nlp.relations`)

Components that need the concept dictionary get it via :func:`attach_dictionary` after the
pipeline is built: it is a large in-memory object, shared, never serialised into the pipeline.
"""

import re
from typing import Iterable

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from nlp import extensions  # noqa: F401  (registers the attributes)
from nlp.matching import alias_table, longest_matches, subtokens
from nlp.relations import extract_relations



# ---------------------------------------------------------------------------- sentences
# Abbreviations whose period does not end a sentence before a number or a bracket ("Fig. 2",
# "No. 5", "vs. 12%"); titles, before anything ("Dr. Smith"). A lower-case next word never starts one.
NO_BREAK_BEFORE_NUMBER = frozenset("""
fig figs tab ref refs eq eqs no nos vol approx ca cf vs e.g i.e et al resp incl excl
jan feb mar apr jun jul aug sep sept oct nov dec
""".split())
TITLES = frozenset("dr mr mrs ms prof st sr jr".split())


@Language.component("medkg_sentences")
def medkg_sentences(doc: Doc) -> Doc:
    """Correct the sentencizer's starts, then force starts at line breaks and after the title.

    The sentencizer starts a sentence after every ``.``; tokenizers that split ``43.25`` into
    ``43 . 25`` (the trained NER's) or leave ``e.g.``/``Fig.`` as word + period would cut
    numbers and abbreviations in two. A start is withdrawn when the period is glued to the
    next token (no whitespace: a decimal or an inner period), when the word before the period
    is a known abbreviation, or when the next word starts in lower case. Then a sentence
    starts after every line break (note lines, section headers, list items) and at the start
    of the abstract (``doc.user_data["title_end"]``): titles often lack a period.
    """
    for i in range(1, len(doc)):
        tok = doc[i]
        if not tok.is_sent_start:
            continue
        prev = doc[i - 1]
        if prev.text == "." and (not prev.whitespace_ or _no_break(doc[i - 2] if i >= 2 else None, tok)):
            tok.is_sent_start = False
        elif prev.text.endswith(".") and len(prev) > 1 and _no_break(prev, tok):
            tok.is_sent_start = False
    title_end = doc.user_data.get("title_end")
    for i, tok in enumerate(doc[:-1]):
        nxt = doc[i + 1]
        if "\n" in tok.text or "\n" in tok.whitespace_ or (title_end is not None and nxt.idx == title_end):
            if not nxt.is_space:
                nxt.is_sent_start = True
            elif i + 2 < len(doc):
                doc[i + 2].is_sent_start = True
    return doc


def _no_break(word, nxt) -> bool:
    """No sentence start at ``nxt`` after ``word`` + period."""
    first = nxt.text[:1]
    if first.islower():
        return True
    if word is None:
        return False
    w = word.text.lower().rstrip(".")
    return w in TITLES or (w in NO_BREAK_BEFORE_NUMBER and (first.isdigit() or first in "(["))


# ---------------------------------------------------------------------------- assertion cues in spans
# Words that are assertion cues, not part of the concept: the trained NER sometimes starts an
# entity on them ("Denies fever", "Prior stroke", "Absence of murmurs"), which hides the cue
# from ConText. Connectives are dropped only right after a dropped cue ("history of").
LEADING_CUES = frozenset("""
no not denies denied deny denying without absence absent negative prior previous past history hx h/o
possible possibly probable probably suspected suspicious suspect likely unlikely presumed presumptive
questionable family r/o ruled rule resolved remote
""".split())
CUE_CONNECTIVES = frozenset("of for any out medical".split())


@Language.component("medkg_trim_cues")
def medkg_trim_cues(doc: Doc) -> Doc:
    """Move an entity's start past leading assertion-cue words (see :data:`LEADING_CUES`)."""
    changed = False
    ents = []
    for ent in doc.ents:
        start = ent.start
        if ent.end - start > 1 and ent[0].lower_ in LEADING_CUES:
            while start < ent.end - 1 and (doc[start].lower_ in LEADING_CUES
                                           or doc[start].lower_ in CUE_CONNECTIVES):
                start += 1
        if start != ent.start:
            changed = True
            ent = Span(doc, start, ent.end, label=ent.label, kb_id=ent.kb_id)
        ents.append(ent)
    if changed:
        doc.ents = ents
    return doc


def add_entities(existing: list[Span], candidates: list[Span]) -> list[Span]:
    """``existing`` plus the candidates that overlap none of them (among overlapping candidates
    ``filter_spans`` keeps the longest, then the earliest), sorted by position."""
    taken = set()
    for e in existing:
        taken.update(range(e.start, e.end))
    extra = [s for s in filter_spans(candidates) if not taken.intersection(range(s.start, s.end))]
    return sorted(existing + extra, key=lambda s: s.start)


# ---------------------------------------------------------------------------- dictionary NER
class DictionaryMatcher:
    """Greedy longest-match of dictionary aliases over a tokenizer-independent sub-token stream.

    Aliases and text are both split with ``\\w+|[^\\w\\s]`` and compared lower-cased, so the
    matcher does not depend on the pipeline's tokenizer; short abbreviation-like aliases
    (:func:`nlp.linking.is_case_sensitive`: ``ACE``, ``NO``, ``cAMP``) only match with the
    same case, so ``ace`` or ``no`` in running text do not.
    """

    def __init__(self, patterns: Iterable[tuple[str, str, str]]):
        self.table, self.max_len = alias_table(patterns)

    def __len__(self) -> int:
        return len(self.table)

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """``(start_char, end_char, label, concept_id)`` of non-overlapping longest matches."""
        toks = subtokens(text)
        lowered = [t[2].lower() for t in toks]
        matches = longest_matches(text, toks, lambda i, length: self.table.get(" ".join(lowered[i:i + length])),
                                  lambda i: self.max_len.get(lowered[i], 0))
        return [(start, end, entry[0], entry[1]) for start, end, entry in matches]


class DictionaryNER:
    """Sets ``doc.ents`` from dictionary matches; keeps entities already set by a trained NER
    (``mode="fill"``) or replaces them (``mode="replace"``)."""

    def __init__(self, nlp: Language, name: str, mode: str = "fill"):
        self.name = name
        self.mode = mode
        self.matcher: DictionaryMatcher | None = None

    def __call__(self, doc: Doc) -> Doc:
        if self.matcher is None:
            raise RuntimeError("medkg_dictionary_ner has no dictionary: call nlp.components.attach_dictionary()")
        spans = []
        for start, end, label, cid in self.matcher.find(doc.text):
            span = doc.char_span(start, end, label=label, alignment_mode="expand")
            if span is not None:
                span._.concept_id = cid
                spans.append(span)
        # trained entities first: on overlap they win
        doc.ents = add_entities(list(doc.ents) if self.mode == "fill" else [], spans)
        return doc


@Language.factory("medkg_dictionary_ner", default_config={"mode": "fill"})
def make_dictionary_ner(nlp: Language, name: str, mode: str) -> DictionaryNER:
    return DictionaryNER(nlp, name, mode)


# ---------------------------------------------------------------------------- abbreviations
@Language.component("medkg_abbreviations")
def medkg_abbreviations(doc: Doc) -> Doc:
    """Use scispaCy's abbreviation pairs: every occurrence of a short form whose long form is
    an entity becomes an entity of the same type (and is later linked through the long form)."""
    abrvs = getattr(doc._, "abbreviations", None) or []
    if not abrvs:
        return doc
    ents = list(doc.ents)
    by_span = {(e.start, e.end): e for e in ents}
    new = []
    for short in abrvs:
        long_form = short._.long_form
        label = None
        for e in ents:
            if e.start >= long_form.start and e.end <= long_form.end and (e.end - e.start) >= (long_form.end - long_form.start) * 0.5:
                label = e.label_
                break
        if label is None:
            continue
        for occ in _occurrences(doc, short.text):
            if (occ.start, occ.end) not in by_span:
                new.append(Span(doc, occ.start, occ.end, label=label))
    if new:
        doc.ents = add_entities(ents, new)
    return doc


def _occurrences(doc: Doc, text: str) -> list[Span]:
    out = []
    for m in re.finditer(r"(?<!\w)" + re.escape(text) + r"(?!\w)", doc.text):
        span = doc.char_span(m.start(), m.end())
        if span is not None:
            out.append(span)
    return out


def _long_forms(doc: Doc) -> dict[str, str]:
    return {a.text: a._.long_form.text for a in (getattr(doc._, "abbreviations", None) or [])}


# ---------------------------------------------------------------------------- linking
class Linker:
    """Links each entity to a concept: ``span._.concept_id / concept_name / vocab / link_score``."""

    MEMO_SIZE = 200_000  # linking is deterministic: the same (text, label, long form) links the same way

    def __init__(self, nlp: Language, name: str, threshold: float):
        self.name = name
        self.threshold = threshold
        self.dictionary = None
        self._memo: dict = {}

    def _link(self, text: str, label: str, long_form: str | None):
        key = (text, label, long_form)
        res = self._memo.get(key)
        if res is None:
            res = self.dictionary.link(text, label, long_form=long_form, threshold=self.threshold)
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = res
        return res

    def __call__(self, doc: Doc) -> Doc:
        if self.dictionary is None:
            raise RuntimeError("medkg_linker has no dictionary: call nlp.components.attach_dictionary()")
        long_forms = _long_forms(doc)
        for ent in doc.ents:
            res = self._link(ent.text, ent.label_, long_forms.get(ent.text))
            ent._.concept_id = res.concept_id
            ent._.concept_name = res.name
            ent._.vocab = res.vocab
            ent._.link_score = float(res.score)
            ent._.link_method = res.method
        return doc


@Language.factory("medkg_linker", default_config={"threshold": 0.85})
def make_linker(nlp: Language, name: str, threshold: float) -> Linker:
    return Linker(nlp, name, threshold)


def attach_dictionary(nlp: Language, dictionary) -> None:
    """Give the dictionary-backed components their (shared) concept dictionary."""
    for name, pipe in nlp.pipeline:
        if isinstance(pipe, DictionaryNER):
            # building the matcher takes a few seconds: once per dictionary object
            matcher = getattr(dictionary, "_medkg_matcher", None)
            if matcher is None:
                matcher = DictionaryMatcher(dictionary.ner_patterns())
                dictionary._medkg_matcher = matcher
            pipe.matcher = matcher
        elif isinstance(pipe, Linker):
            pipe.dictionary = dictionary
            pipe._memo = {}


# ---------------------------------------------------------------------------- relations
class RelationExtractor:
    """``doc._.relations``: the trained relation model (``data/models/medkg_rel``, loaded on the
    first doc) when there is one, the trigger patterns otherwise (see :mod:`nlp.relations`).

    ``model``: ``"auto"`` (the shipped model if present), ``"patterns"`` (never the model), or
    a model folder.
    """

    def __init__(self, nlp: Language, name: str, model: str = "auto"):
        self.name = name
        self.model_path = model
        self._model = None
        self._loaded = False

    @property
    def model(self):
        if not self._loaded:
            from nlp.relation_model import load_model

            self._model = None if self.model_path == "patterns" else load_model(
                None if self.model_path == "auto" else self.model_path)
            self._loaded = True
        return self._model

    def __call__(self, doc: Doc) -> Doc:
        doc._.relations = extract_relations(doc, self.model)
        return doc


@Language.factory("medkg_relations", default_config={"model": "auto"})
def medkg_relations(nlp: Language, name: str, model: str) -> RelationExtractor:
    return RelationExtractor(nlp, name, model)
