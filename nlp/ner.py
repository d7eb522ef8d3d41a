"""Loading medkg's biomedical NER pipeline (or an installed scispaCy NER model).

``load_ner()`` returns ONE spaCy pipeline that sets ``doc.ents`` with labels among
:data:`LABELS`. The shipped model (``data/models/medkg_ner``, trained by ``nlp/train.py``)
holds two typed CNN models, merged the way scispaCy's ``en_ner_*`` models would be if
run together, plus three rule passes::

    tok2vec -> ner (Chemical, Disease) -> medkg_ents_to_spans -> ner_bio (Gene, Species,
    Variant, CellLine) -> medkg_merge_ents -> medkg_lexicon_backoff -> medkg_doc_consistency
    -> medkg_ner_abbreviations

* ``medkg_merge_ents`` gives the Chemical/Disease model priority: a Gene/Species/...
  span that overlaps a Chemical/Disease span is dropped (measured on the dev sets: the
  other order costs 3 F1 on NCBI-disease, where gene symbols sit inside disease names).
* ``medkg_lexicon_backoff`` adds drug/disease dictionary matches where no model found
  anything, using only terms that were mostly gold mentions in the *training* corpora.
* ``medkg_doc_consistency`` labels abbreviations defined after an entity ("nitroglycerin
  (NTG)") and other mentions of the same string in the document.
* ``medkg_ner_abbreviations`` gives every mention of a short form its long form's label, or
  none when the long form is no entity ("magnetic resonance imaging (MRI)").

The profile ``ncbi`` (``load_ner(profile="ncbi")``) also runs two components that are
disabled by default, ``ner_ncbi`` (the model fine-tuned on the Disease mentions of
NCBI-disease + BioRED train, own tok2vec) and ``ncbi_disease`` (its Disease spans replace
ner's), and leaves out the dictionary backoff and document consistency: NCBI-disease
annotates diseases differently from BC5CDR.

The factories are registered by importing this module; ``load_ner`` does that for you
(``spacy.load`` on the model dir works too once ``nlp.ner`` is imported).

Example::

    from nlp.ner import load_ner
    ner = load_ner()
    doc = ner("Cocaine-induced hypertension in rats.")
    [(e.text, e.label_) for e in doc.ents]   # [('Cocaine', 'Chemical'), ('hypertension', 'Disease')]
"""
import re
from pathlib import Path
from typing import Callable, Iterable, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from nlp.errors import ModelNotAvailable

LABELS = ("Chemical", "Disease", "Gene", "Species", "Variant", "CellLine")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "data" / "models" / "medkg_ner"

# scispaCy (and other) NER labels -> medkg labels. Labels not listed are dropped.
SCISPACY_LABEL_MAP: dict[str, str] = {
    # en_ner_bc5cdr_md
    "CHEMICAL": "Chemical",
    "DISEASE": "Disease",
    # en_ner_bionlp13cg_md
    "SIMPLE_CHEMICAL": "Chemical",
    "CANCER": "Disease",
    "GENE_OR_GENE_PRODUCT": "Gene",
    "ORGANISM": "Species",
    "CELL_LINE": "CellLine",
    # en_ner_jnlpba_md
    "PROTEIN": "Gene",
    "DNA": "Gene",
    "RNA": "Gene",
    # en_ner_craft_md
    "GGP": "Gene",
    "TAXON": "Species",
    "CHEBI": "Chemical",
    # medkg's own labels map to themselves
    **{label: label for label in LABELS},
}


@Language.factory("medkg_ents_to_spans", default_config={"key": "ner_stash"})
def make_ents_to_spans(nlp: Language, name: str, key: str) -> Callable[[Doc], Doc]:
    """Move ``doc.ents`` into ``doc.spans[key]`` and clear them, so a later NER starts clean."""
    return EntsToSpans(key)  # noqa: F821 - defined below, resolved at call time


class EntsToSpans:
    def __init__(self, key: str):
        self.key = key

    def __call__(self, doc: Doc) -> Doc:
        doc.spans[self.key] = list(doc.ents)
        # "missing", not "O": a spaCy NER never starts an entity on a token preset to "O".
        doc.set_ents([], default="missing")
        return doc


@Language.factory("medkg_merge_ents", default_config={"keys": ["ner_stash"], "ents_first": False})
def make_merge_ents(nlp: Language, name: str, keys: list[str], ents_first: bool) -> Callable[[Doc], Doc]:
    """Merge the span groups ``keys`` (highest priority first) with the current ``doc.ents``.

    ``ents_first`` gives the current ``doc.ents`` priority over the span groups instead.
    """
    return MergeEnts(keys, ents_first)


class MergeEnts:
    """Union of several NER outputs; on overlap the earlier source wins, then the longer span."""

    def __init__(self, keys: Sequence[str], ents_first: bool = False):
        self.keys = list(keys)
        self.ents_first = ents_first

    def __call__(self, doc: Doc) -> Doc:
        chosen: list[Span] = []
        taken = [False] * len(doc)
        sources: list[Iterable[Span]] = [doc.spans.get(k, []) for k in self.keys]
        if self.ents_first:
            sources.insert(0, list(doc.ents))
        else:
            sources.append(list(doc.ents))
        for spans in sources:
            for span in filter_spans(list(spans)):
                if any(taken[span.start:span.end]):
                    continue
                chosen.append(span)
                for i in range(span.start, span.end):
                    taken[i] = True
        for k in self.keys:
            if k in doc.spans:
                del doc.spans[k]
        doc.ents = sorted(chosen, key=lambda s: s.start)
        return doc


@Language.factory("medkg_replace_label", default_config={"key": "ner_stash", "labels": ["Disease"]})
def make_replace_label(nlp: Language, name: str, key: str, labels: list[str]) -> Callable[[Doc], Doc]:
    """Replace the ``labels`` spans of ``doc.spans[key]`` by the current ``doc.ents`` of those labels.

    Used by corpus-specialised profiles: e.g. the NCBI-disease component's Disease spans
    replace the general model's, which keeps its other labels (Chemical).
    """
    return ReplaceLabel(key, labels)


class ReplaceLabel:
    def __init__(self, key: str, labels: Sequence[str]):
        self.key = key
        self.labels = set(labels)

    def __call__(self, doc: Doc) -> Doc:
        new = [e for e in doc.ents if e.label_ in self.labels]
        taken = [False] * len(doc)
        for e in new:
            for i in range(e.start, e.end):
                taken[i] = True
        kept = [s for s in doc.spans.get(self.key, []) if s.label_ not in self.labels
                and not any(taken[s.start:s.end])]
        doc.spans[self.key] = sorted(kept + new, key=lambda s: s.start)
        doc.set_ents([], default="missing")
        return doc


@Language.factory("medkg_label_map", default_config={"mapping": SCISPACY_LABEL_MAP})
def make_label_map(nlp: Language, name: str, mapping: dict[str, str]) -> Callable[[Doc], Doc]:
    """Rename entity labels with ``mapping``; entities with unmapped labels are dropped."""
    return LabelMap(mapping)


class LexiconBackoff:
    """Adds dictionary matches the statistical models missed (recall backoff).

    Holds lowercase token sequences -> label (drug names -> Chemical; disease/phenotype
    names -> Disease), filtered at training time to the terms whose matches in the
    *training* corpora are mostly gold mentions (see ``nlp.train.build_backoff_terms``).
    A match is added only where it overlaps no entity; longest match first.
    Lookup is a plain dict over token tuples, so loading takes a fraction of a second.
    """

    FILE = "terms.txt.gz"

    def __init__(self) -> None:
        self.terms: dict[str, str] = {}  # tab-joined lowercase tokens -> label
        self.max_len: dict[str, int] = {}  # first token -> longest term length

    def set_terms(self, terms: Iterable[tuple[Sequence[str], str]]) -> None:
        self.terms = {"\t".join(words): label for words, label in terms if words}
        self._index()

    def _index(self) -> None:
        max_len: dict[str, int] = {}
        for key in self.terms:
            n = key.count("\t") + 1
            first = key.split("\t", 1)[0] if n > 1 else key
            if max_len.get(first, 0) < n:
                max_len[first] = n
        self.max_len = max_len

    def __call__(self, doc: Doc) -> Doc:
        if not self.terms:
            return doc
        lower = [t.lower_ for t in doc]
        taken = [False] * len(doc)
        ents = list(doc.ents)
        for e in ents:
            for i in range(e.start, e.end):
                taken[i] = True
        i, n = 0, len(doc)
        added = False
        while i < n:
            longest = self.max_len.get(lower[i], 0)
            for k in range(min(longest, n - i), 0, -1):
                label = self.terms.get("\t".join(lower[i:i + k]))
                if label is not None:
                    if not any(taken[i:i + k]):
                        ents.append(Span(doc, i, i + k, label=label))
                        for j in range(i, i + k):
                            taken[j] = True
                        added = True
                        i += k - 1
                    break
            i += 1
        if added:
            doc.ents = sorted(ents, key=lambda s: s.start)
        return doc

    # File layout (gzip text): a JSON header line {"blocks": [[label, n], ...], "max_len": {...}},
    # then for each block n lines of tab-joined terms. Loading is a few C-level calls.
    def to_disk(self, path, exclude=tuple()) -> None:
        import gzip
        import json

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        labels = sorted(set(self.terms.values()))
        blocks = [sorted(k for k, v in self.terms.items() if v == label) for label in labels]
        header = {"blocks": [[label, len(b)] for label, b in zip(labels, blocks)],
                  "max_len": self.max_len}
        with gzip.open(path / self.FILE, "wt", encoding="utf-8") as fh:
            fh.write(json.dumps(header, sort_keys=True) + "\n")
            for block in blocks:
                fh.write("".join(k + "\n" for k in block))

    def from_disk(self, path, exclude=tuple()) -> "LexiconBackoff":
        import gzip
        import json

        with gzip.open(Path(path) / self.FILE, "rt", encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            lines = fh.read().split("\n")
        terms: dict[str, str] = {}
        pos = 0
        for label, n in header["blocks"]:
            terms.update(dict.fromkeys(lines[pos:pos + n], label))
            pos += n
        self.terms, self.max_len = terms, header["max_len"]
        return self


@Language.factory("medkg_lexicon_backoff")
def make_lexicon_backoff(nlp: Language, name: str) -> Callable[[Doc], Doc]:
    """Dictionary matches (filtered on training data) where the NER models found nothing."""
    return LexiconBackoff()


class DocConsistency:
    """Document-level consistency for NER output (recall, at little cost in precision).

    A CNN with a few tokens of context cannot see that "NTG" was defined thirty words
    earlier as "nitroglycerin (NTG)". Two passes fix most of that:

    1. Abbreviations: an entity followed by ``( SF )`` where SF is short and its letters
       occur in order in the entity text (Schwartz & Hearst's condition) makes SF an
       entity of the same label.
    2. Propagation: every other exact (case-sensitive) occurrence of an entity's text
       that overlaps no entity gets the same label, unless the text has two labels in the
       document or is shorter than ``min_chars``.
    """

    def __init__(self, abbreviations: bool = True, propagate: bool = True, min_chars: int = 2):
        self.abbreviations = abbreviations
        self.propagate = propagate
        self.min_chars = min_chars

    def __call__(self, doc: Doc) -> Doc:
        ents = list(doc.ents)
        if not ents:
            return doc
        owner = [-1] * len(doc)  # index into ents, per token
        for k, e in enumerate(ents):
            for i in range(e.start, e.end):
                owner[i] = k

        def free(start: int, end: int) -> bool:
            return all(owner[i] == -1 for i in range(start, end))

        def add(start: int, end: int, label: str) -> None:
            ents.append(Span(doc, start, end, label=label))
            for i in range(start, end):
                owner[i] = len(ents) - 1

        if self.abbreviations:
            for e in list(ents):
                sf = _short_form_after(doc, e)
                if sf is None:
                    continue
                s, t = sf
                if free(s, t):
                    add(s, t, e.label_)
                elif owner[s] == owner[t - 1] and (ents[owner[s]].start, ents[owner[s]].end) == (s, t):
                    ents[owner[s]] = Span(doc, s, t, label=e.label_)
        if self.propagate:
            labels: dict[tuple[str, ...], set[str]] = {}
            for e in ents:
                if len(e.text) >= self.min_chars and any(c.isalpha() for c in e.text):
                    labels.setdefault(tuple(t.text for t in e), set()).add(e.label_)
            by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
            for words, labs in labels.items():
                if len(labs) == 1:
                    by_first.setdefault(words[0], []).append((words, next(iter(labs))))
            for cands in by_first.values():
                cands.sort(key=lambda c: -len(c[0]))  # longest match first
            i = 0
            while i < len(doc):
                for words, label in by_first.get(doc[i].text, ()):
                    j = i + len(words)
                    if j <= len(doc) and tuple(t.text for t in doc[i:j]) == words and free(i, j):
                        add(i, j, label)
                        i = j - 1
                        break
                i += 1
        doc.ents = sorted(ents, key=lambda s: s.start)
        return doc


def _short_form_after(doc: Doc, ent: Span) -> tuple[int, int] | None:
    """Token range of an abbreviation defined right after ``ent``: ``ent ( SF )``."""
    i = ent.end
    if i >= len(doc) or doc[i].text != "(":
        return None
    for j in range(i + 2, min(i + 6, len(doc))):
        if doc[j].text == ")":
            break
    else:
        return None
    sf = doc[i + 1:j]
    text = sf.text
    if not 2 <= len(text) <= 12 or not text[0].isalnum() or " " in text.strip():
        return None
    if sf.text == ent.text or not any(c.isupper() or c.isdigit() for c in text):
        return None
    long_form = ent.text.lower()
    if text[0].lower() != long_form[0]:
        return None
    pos = 0  # every letter/digit of SF occurs in order in the long form
    for c in text.lower():
        if c.isalnum():
            pos = long_form.find(c, pos)
            if pos < 0:
                return None
            pos += 1
    return i + 1, j


@Language.factory(
    "medkg_doc_consistency",
    default_config={"abbreviations": True, "propagate": True, "min_chars": 2},
)
def make_doc_consistency(nlp: Language, name: str, abbreviations: bool, propagate: bool,
                         min_chars: int) -> Callable[[Doc], Doc]:
    """Label abbreviations defined after an entity and repeat mentions of entity strings."""
    return DocConsistency(abbreviations, propagate, min_chars)


class Abbreviations:
    """Abbreviation resolution: every mention of a short form gets its long form's label.

    Definitions ``long form ( SF )`` are found with Schwartz & Hearst's algorithm (2003; the
    one scispaCy's AbbreviationDetector uses): SF is 2-10 characters with a capital letter,
    and its letters occur in order in the words before the parenthesis, the first one
    starting a word. The entity that ends right before "(" decides:

    * it exists: all occurrences of SF in the document become entities of its label
      (added where free, relabelled where an entity covers exactly SF);
    * none: entities covering exactly an occurrence of SF with a label in ``remove_labels``
      are removed ("magnetic resonance imaging (MRI)" makes "MRI" no entity).

    A short form defined twice with different outcomes is left alone. Measured on the dev
    sets (shipped model): BC5CDR F1 +1.6, NCBI-disease +0.8, BioRED +0.5.
    """

    def __init__(self, remove_labels: Sequence[str] = ("Chemical", "Disease"), max_sf_tokens: int = 3):
        self.remove_labels = set(remove_labels)
        self.max_sf_tokens = max_sf_tokens

    def __call__(self, doc: Doc) -> Doc:
        defs = find_abbreviations(doc, self.max_sf_tokens)
        if not defs:
            return doc
        ents = list(doc.ents)
        ending_at = {e.end: e for e in ents}
        rules: dict[tuple[str, ...], str | None] = {}
        conflicts = set()
        for _, paren, sf_start, sf_end in defs:
            sf = tuple(t.text for t in doc[sf_start:sf_end])
            e = ending_at.get(paren)
            label = e.label_ if e is not None else None
            if sf in rules and rules[sf] != label:
                conflicts.add(sf)
            rules[sf] = label
        by_first: dict[str, list[tuple[tuple[str, ...], str | None]]] = {}
        for sf, label in rules.items():
            if sf not in conflicts:
                by_first.setdefault(sf[0], []).append((sf, label))
        if not by_first:
            return doc
        owner = [-1] * len(doc)
        for k, e in enumerate(ents):
            for i in range(e.start, e.end):
                owner[i] = k
        drop: set[int] = set()
        new: list[Span] = []
        n = len(doc)
        for i in range(n):
            for sf, label in by_first.get(doc[i].text, ()):
                j = i + len(sf)
                if j > n or tuple(t.text for t in doc[i:j]) != sf:
                    continue
                owners = set(owner[i:j])
                if owners == {-1}:
                    if label is not None:
                        new.append(Span(doc, i, j, label=label))
                elif len(owners) == 1:
                    k = owners.pop()
                    e = ents[k]
                    if (e.start, e.end) == (i, j):
                        if label is None:
                            if e.label_ in self.remove_labels:
                                drop.add(k)
                        elif e.label_ != label:
                            drop.add(k)
                            new.append(Span(doc, i, j, label=label))
                break
        if new or drop:
            doc.ents = sorted([e for k, e in enumerate(ents) if k not in drop] + new,
                              key=lambda s: s.start)
        return doc


def find_abbreviations(doc: Doc, max_sf_tokens: int = 3) -> list[tuple[int, int, int, int]]:
    """Abbreviation definitions ``LF ( SF )`` in ``doc`` (Schwartz & Hearst).

    Returns:
        ``[(lf_start, paren, sf_start, sf_end), ...]`` as token indices; the long form is
        ``doc[lf_start:paren]`` and the short form ``doc[sf_start:sf_end]``.
    """
    out = []
    n = len(doc)
    for i in range(1, n):
        if doc[i].text != "(":
            continue
        j = None
        for k in range(i + 2, min(i + 2 + max_sf_tokens, n)):
            if doc[k].text == ")":
                j = k
                break
            if doc[k].text in "(;,":
                break
        if j is None:
            continue
        sf = doc[i + 1:j].text
        if not 2 <= len(sf) <= 10 or not sf[0].isalnum() or len(sf.split()) > 2:
            continue
        if not any(c.isupper() for c in sf):
            continue
        # Long-form window: min(|SF| + 5, 2 * |SF|) words, not across a sentence or bracket.
        n_chars = sum(c.isalnum() for c in sf)
        max_words = min(n_chars + 5, 2 * n_chars)
        start, words = i, 0
        while start > 0 and words < max_words:
            prev = doc[start - 1]
            if prev.text in (".", ";", ")", "(", "]", "["):
                break
            start -= 1
            if any(c.isalnum() for c in prev.text):
                words += 1
        lf_start = _long_form_start(sf, doc, start, i)
        if lf_start is not None:
            out.append((lf_start, i, i + 1, j))
    return out


def _long_form_start(sf: str, doc: Doc, start: int, end: int) -> int | None:
    """Token where the shortest long form of ``sf`` in ``doc[start:end]`` begins, if any."""
    if start >= end:
        return None
    base = doc[start].idx
    lf = doc[start:end].text.lower()
    s = sf.lower()
    si, li = len(s) - 1, len(lf) - 1
    while si >= 0:
        c = s[si]
        if not c.isalnum():
            si -= 1
            continue
        # The first SF character must start a word of the long form.
        while li >= 0 and (lf[li] != c or (si == 0 and li > 0 and lf[li - 1].isalnum())):
            li -= 1
        if li < 0:
            return None
        li -= 1
        si -= 1
    char = base + li + 1
    for t in doc[start:end]:
        if t.idx == char:
            return t.i
        if t.idx > char:
            break
    return None


@Language.factory(
    "medkg_ner_abbreviations",
    default_config={"remove_labels": ["Chemical", "Disease"], "max_sf_tokens": 3},
)
def make_abbreviations(nlp: Language, name: str, remove_labels: list[str],
                       max_sf_tokens: int) -> Callable[[Doc], Doc]:
    """Give every mention of an abbreviation the label of its long form (Schwartz & Hearst)."""
    return Abbreviations(remove_labels, max_sf_tokens)


class ObjectAbbreviations:
    """Short forms defined for the *object* of a disease phrase are no disease mentions.

    In "Canavan disease is caused by the deficiency of aspartoacylase (ASPA)" the model's
    Disease entity "deficiency of aspartoacylase" ends right before the definition, so
    ``medkg_ner_abbreviations`` labels every "ASPA" Disease; but the short form abbreviates
    only the enzyme after "of" (Schwartz & Hearst's long form starts after the preposition),
    and NCBI-disease annotates gene/enzyme symbols as no disease. When the entity ending at
    the definition's "(" starts before the long form and a word of ``preps`` lies between,
    every entity of ``labels`` whose text is exactly that short form is removed.
    On NCBI-disease predictions: removes PAH, ASPA (dev) and PAH, ASPA, FALDH, AGA, AVP,
    Hex A, C2, GALT (train), none of them gold mentions.
    """

    def __init__(self, labels: Sequence[str] = ("Disease",), preps: Sequence[str] = ("of", "in", "to"),
                 max_sf_tokens: int = 3):
        self.labels = set(labels)
        self.preps = set(preps)
        self.max_sf_tokens = max_sf_tokens

    def __call__(self, doc: Doc) -> Doc:
        ents = list(doc.ents)
        if not ents:
            return doc
        ending_at = {e.end: e for e in ents}
        objects: set[str] = set()
        for lf_start, paren, sf_start, sf_end in find_abbreviations(doc, self.max_sf_tokens):
            e = ending_at.get(paren)
            if e is None or e.label_ not in self.labels or e.start >= lf_start:
                continue
            if any(t.lower_ in self.preps for t in doc[e.start:lf_start]):
                objects.add(doc[sf_start:sf_end].text)
        if not objects:
            return doc
        kept = [e for e in ents if not (e.label_ in self.labels and e.text in objects)]
        if len(kept) != len(ents):
            doc.ents = kept
        return doc


@Language.factory(
    "medkg_object_abbreviations",
    default_config={"labels": ["Disease"], "preps": ["of", "in", "to"], "max_sf_tokens": 3})
def make_object_abbreviations(nlp: Language, name: str, labels: list[str], preps: list[str],
                              max_sf_tokens: int) -> Callable[[Doc], Doc]:
    """Drop Disease mentions of short forms defined for "deficiency of <enzyme> (SF)"."""
    return ObjectAbbreviations(labels, preps, max_sf_tokens)


class CompositeMentions:
    """NCBI-disease composite mentions: "classical and Duarte galactosemia" is ONE mention.

    The NCBI-disease guideline annotates a coordination of modifiers sharing one disease
    head as a single mention ("breast and ovarian cancer", "C6 or C7 deficiency",
    "brain, breast, and prostate cancer"); models trained on it still often tag only the
    last conjunct ("Duarte galactosemia"). For a Disease entity of >= 2 tokens preceded by
    "and"/"or" (optionally ", and"), this extends it left over the conjunct(s) when each is
    ONE free token (no entity) found in ``modifiers`` - lowercase words that occur inside
    NCBI-disease *train* gold mentions more often before the head than as the head
    (built by ``nlp.train.build_composite_modifiers``) - and comma lists of such tokens.
    It does nothing when the word before the conjuncts is a modifier too (a multi-word
    conjunct it cannot delimit). Only the ``ncbi`` profile runs it (disabled by default).
    """

    FILE = "modifiers.txt"
    CONJ = frozenset({"and", "or", "and/or"})
    STOP = frozenset({
        "the", "a", "an", "of", "in", "with", "to", "for", "by", "on", "at", "from", "as",
        "other", "both", "either", "neither", "patients", "patient", "mice", "mouse",
        "families", "family", "cases", "case", "individuals", "carriers", "human", "humans",
        "their", "its", "his", "her", "these", "those", "this", "that", "which", "who", "is",
        "are", "was", "were", "be", "been", "not", "no", "all", "some", "any", "many", "most",
        "more", "less", "between", "than", "also", "such", "including", "like", "into",
        "without", "within", "after", "before", "during", "whereas", "while", "but", "then",
        "type", "types", "gene", "genes", "normal"})
    TOKEN = re.compile(r"^(?:[A-Za-z][a-z]+|[A-Z]{1,4}\d{0,2}|[IVX]+|\d{1,2}[A-Za-z]?|[a-z]+-[a-z]+)$")

    def __init__(self, modifiers: Iterable[str] = (), labels: Sequence[str] = ("Disease",),
                 min_len: int = 2):
        self.modifiers = set(modifiers)
        self.labels = set(labels)
        self.min_len = min_len

    def __call__(self, doc: Doc) -> Doc:
        if not self.modifiers:
            return doc
        ents = list(doc.ents)
        owner = [-1] * len(doc)
        for k, e in enumerate(ents):
            for i in range(e.start, e.end):
                owner[i] = k

        def mod(t) -> bool:
            return (owner[t.i] == -1 and t.lower_ not in self.STOP and t.lower_ in self.modifiers
                    and bool(self.TOKEN.match(t.text)))

        changed = False
        for k, e in enumerate(ents):
            if e.label_ not in self.labels or len(e) < self.min_len:
                continue
            i = e.start
            if i < 2 or doc[i - 1].lower_ not in self.CONJ or owner[i - 1] != -1:
                continue
            j = i - 1
            if doc[j - 1].text == "," and owner[j - 1] == -1:
                j -= 1
            if j < 1 or not mod(doc[j - 1]):
                continue
            s = j - 1
            while s >= 2 and doc[s - 1].text == "," and owner[s - 1] == -1 and mod(doc[s - 2]):
                s -= 2
            if s > 0 and mod(doc[s - 1]):
                continue
            ents[k] = Span(doc, s, e.end, label=e.label_)
            for t in range(s, e.end):
                owner[t] = k
            changed = True
        if changed:
            doc.ents = sorted(ents, key=lambda x: x.start)
        return doc

    def to_disk(self, path, exclude=tuple()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / self.FILE).write_text("".join(w + "\n" for w in sorted(self.modifiers)),
                                      encoding="utf-8")

    def from_disk(self, path, exclude=tuple()) -> "CompositeMentions":
        text = (Path(path) / self.FILE).read_text(encoding="utf-8")
        self.modifiers = {w for w in text.split("\n") if w}
        return self


@Language.factory(
    "medkg_composite_mentions", default_config={"labels": ["Disease"], "min_len": 2})
def make_composite_mentions(nlp: Language, name: str, labels: list[str],
                            min_len: int) -> Callable[[Doc], Doc]:
    """Extend Disease spans over coordinated modifiers ("classical and Duarte galactosemia")."""
    return CompositeMentions((), labels, min_len)


class LabelMap:
    def __init__(self, mapping: dict[str, str]):
        self.mapping = dict(mapping)

    def __call__(self, doc: Doc) -> Doc:
        ents = []
        for e in doc.ents:
            label = self.mapping.get(e.label_)
            if label is not None:
                ents.append(Span(doc, e.start, e.end, label=label, kb_id=e.kb_id_))
        doc.ents = ents
        return doc


def load_ner(model_dir: str | Path | None = None, profile: str | None = None) -> Language:
    """Load the NER pipeline: medkg's shipped model, a model directory, or a scispaCy package.

    Args:
        model_dir: ``None`` for the shipped model (``data/models/medkg_ner``); a path to a
            spaCy pipeline directory; or an installed package name such as
            ``"en_ner_bc5cdr_md"``. Models that are not medkg's get a ``medkg_label_map``
            component appended (CHEMICAL -> Chemical, DISEASE -> Disease, ...).
        profile: ``None`` for the default pipeline, or the name of a corpus-specialised
            profile the model declares in ``meta["medkg"]["profiles"]`` (the shipped model
            has ``"ncbi"``: Disease from a component fine-tuned on NCBI-disease, whose
            annotation conventions differ from BC5CDR's). Profiles switch disabled
            components on and others off; the weights are the ones in the model dir.

    Returns:
        A ``spacy.Language`` whose ``doc.ents`` carry labels among :data:`LABELS`.

    Raises:
        ModelNotAvailable: the directory or package does not exist (medkg never downloads).
        ConfigError: ``profile`` is not one the model declares.
    """
    import spacy

    target = DEFAULT_MODEL_DIR if model_dir is None else model_dir
    is_path = isinstance(target, Path) or Path(str(target)).exists() or "/" in str(target)
    if is_path and not Path(target).exists():
        raise ModelNotAvailable(
            f"NER model directory not found: {target}. Rebuild it with `python -m nlp.train` "
            f"or pass the path of a spaCy pipeline."
        )
    try:
        nlp = spacy.load(target)
    except OSError as e:
        raise ModelNotAvailable(
            f"NER model {str(target)!r} is not installed: {e}. medkg never downloads models; "
            f"install the package from a local wheel or use the shipped model (model_dir=None)."
        ) from e
    if profile is not None:
        apply_profile(nlp, profile)
    if not _is_medkg_model(nlp):
        nlp.add_pipe("medkg_label_map", last=True)
    return nlp


def ner_profiles(nlp: Language) -> dict[str, dict]:
    """The corpus-specialised profiles a medkg model declares (name -> enable/disable lists)."""
    return dict((nlp.meta.get("medkg") or {}).get("profiles") or {})


def apply_profile(nlp: Language, profile: str) -> Language:
    """Switch ``nlp`` to one of its declared profiles (see :func:`load_ner`), in place.

    Raises:
        ConfigError: the model declares no such profile.
    """
    from nlp.errors import ConfigError

    profiles = ner_profiles(nlp)
    if profile not in profiles:
        raise ConfigError(
            f"Unknown NER profile {profile!r}. Available: {', '.join(sorted(profiles)) or 'none'}"
        )
    for name in profiles[profile].get("enable", []):
        nlp.enable_pipe(name)
    for name in profiles[profile].get("disable", []):
        nlp.disable_pipe(name)
    return nlp


def _is_medkg_model(nlp: Language) -> bool:
    return "medkg" in nlp.meta or set(nlp.pipe_labels.get("ner", [])) <= set(LABELS)
