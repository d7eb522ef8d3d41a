"""Concepts in a short question, without the spaCy pipeline: lookups in a cached lexicon.

A question is a dozen words: running the ingest pipeline on it (spaCy, the trained NER, the
abbreviation detector, the linker) costs ~3 s of imports and model loading in a fresh process
for ~4 ms of work. :class:`QuestionRecognizer` does the dictionary NER's job by lookup instead:

* :class:`QuestionLexicon`: the dictionary NER's precise aliases (:meth:`ConceptDictionary.
  ner_patterns`, the table :class:`nlp.components.DictionaryMatcher` builds: lower-cased
  sub-token keys, one concept each, short abbreviation-like aliases case-sensitive) with the
  concept's preferred name, in one SQLite file in the cache directory. It is built once per
  version of the dictionary's sources (a few seconds) and then opened in ~1 ms: all n-grams of
  a question are looked up in one query, so a cold ``medkg ask`` loads neither spaCy nor the
  200 MB dictionary.
* Matching is :meth:`DictionaryMatcher.find`'s: greedy longest match left to right over
  ``\\w+|[^\\w\\s]`` sub-tokens compared lower-cased (so "What Drugs Cause Hypertension?" and
  "what drugs cause hypertension?" give the same concepts), case-sensitive aliases ("ACE",
  "NO") only with the same case, never inside a word.
* When no alias matches, the question's content words and word pairs are linked through the
  :class:`ConceptDictionary` (loaded then), keeping fuzzy matches only: misspellings
  ("hypertenson"); exact matches outside the lexicon are the aliases the NER patterns leave
  out as imprecise ("of" -> SPI1, "breast" -> the body part).
"""
from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence

from nlp.matching import alias_table, longest_matches, subtokens

LEXICON_VERSION = 1
MAX_ALIAS_TOKENS = 12  # longer aliases are not looked for in questions
# Words never linked by the fuzzy fallback (question words and the words of intents).
_FUZZY_STOP = frozenset("""
what which who whom whose how why when where does do did can could may might should would will is are was were
be been the a an of in on at to for with by from and or about between tell show list give find any some there
drug drugs medication medications medicine medicines treat treats treated treating treatment treatments therapy
therapies cause causes caused causing induce induced interact interacts interaction interactions associated
associate association related relation relationship linked link effect effects side adverse reaction reactions
disease diseases condition conditions disorder disorders gene genes protein proteins risk risks patient patients
used use using people common known
""".split())


def _dist_versions(names: Sequence[str]) -> str:
    """Installed versions of ``names`` from the ``*.dist-info`` folder names on ``sys.path``
    (one directory listing each, instead of importlib.metadata's ~20 ms a package)."""
    wanted = {n.replace("-", "_").lower(): n for n in names}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for d in listing:
            if d.endswith(".dist-info"):
                name, _, ver = d[:-len(".dist-info")].partition("-")
                key = name.replace("-", "_").lower()
                if key in wanted and key not in found:
                    found[key] = ver
    return ";".join(f"{n}={found.get(k, 'absent')}" for k, n in sorted(wanted.items()))


def lexicon_key(datasets_dir: Path | None) -> str:
    """A key over what the concept dictionary is built from (see ``nlp.linking._cache_key``),
    from file sizes and modification times instead of checksums: computing it costs ~1 ms."""
    from nlp import linking  # noqa: PLC0415  (constants only; the module is imported lazily below)

    h = hashlib.sha256(f"lexicon={LEXICON_VERSION};format={linking.FORMAT_VERSION}".encode())
    h.update(_dist_versions(linking._VOCAB_PACKAGES).encode())
    files: list[Path] = []
    if datasets_dir is not None:
        files += [Path(datasets_dir) / c[s] for c in linking.CORPORA.values() for s in linking.SPLITS]
    files += sorted(linking.RESOURCES.glob("vocab_*"))
    files.append(linking.DEFAULT_GENE_VOCAB)
    for p in files:
        try:
            st = p.stat()
            h.update(f";{p}={st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(f";{p}=absent".encode())
    return h.hexdigest()[:16]


class QuestionLexicon:
    """Alias table in SQLite: ``key`` (lower-cased sub-tokens joined by spaces) -> label,
    concept id, case-sensitive surface (or NULL) and preferred name.

    Args:
        path: the SQLite file (see :meth:`open_or_build`).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        db = self._db()
        row = db.execute("SELECT value FROM meta WHERE key = 'max_tokens'").fetchone()
        self.max_tokens = min(MAX_ALIAS_TOKENS, int(row[0])) if row else MAX_ALIAS_TOKENS

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    @staticmethod
    def build(patterns: Iterable[tuple[str, str, str]], path: str | Path,
              name_of: Callable[[str], str | None] = lambda cid: None) -> "QuestionLexicon":
        """Write the lexicon of ``patterns`` ((alias, label, concept id), as
        :meth:`ConceptDictionary.ner_patterns` yields them) to ``path`` (atomically).

        The first pattern of a key wins, except that a case-insensitive alias replaces a
        case-sensitive one (as in :class:`nlp.components.DictionaryMatcher`).
        """
        table, max_len = alias_table(patterns)
        longest = max(max_len.values(), default=1)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp)
        try:
            db.executescript("""
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE lexicon (key TEXT PRIMARY KEY, label TEXT NOT NULL, concept_id TEXT NOT NULL,
                                      case_sensitive TEXT, name TEXT NOT NULL) WITHOUT ROWID;""")
            db.executemany("INSERT INTO lexicon VALUES (?,?,?,?,?)",
                           ((k, lab, cid, cs, name_of(cid) or cs or k) for k, (lab, cid, cs) in sorted(table.items())))
            db.executemany("INSERT INTO meta VALUES (?,?)", [("max_tokens", str(longest)),
                                                             ("version", str(LEXICON_VERSION))])
            db.commit()
        finally:
            db.close()
        os.replace(tmp, path)
        return QuestionLexicon(path)

    @classmethod
    def open_or_build(cls, cache_dir: Path, datasets_dir: Path | None,
                      dictionary: Callable[[], object]) -> "QuestionLexicon":
        """The lexicon for the current dictionary sources in ``cache_dir``; built from
        ``dictionary()`` (a :class:`ConceptDictionary`, loaded only then) when missing."""
        path = Path(cache_dir) / f"question-lexicon-{lexicon_key(datasets_dir)}.sqlite"
        if path.exists():
            try:
                return cls(path)
            except sqlite3.DatabaseError:
                pass  # a damaged file: build it again
        d = dictionary()

        def name_of(cid: str) -> str | None:
            i = d.id_index.get(cid)
            return d.names[i] if i is not None else None

        return cls.build(d.ner_patterns(), path, name_of)

    def lookup(self, keys: Sequence[str]) -> dict[str, tuple[str, str, str | None, str]]:
        """``key -> (label, concept id, case-sensitive surface or None, name)`` for the keys present."""
        out: dict[str, tuple[str, str, str | None, str]] = {}
        keys = list(dict.fromkeys(keys))
        db = self._db()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for k, label, cid, cs, name in db.execute(
                    f"SELECT key, label, concept_id, case_sensitive, name FROM lexicon "
                    f"WHERE key IN ({','.join('?' * len(chunk))})", chunk):
                out[k] = (label, cid, cs, name)
        return out

    def find(self, text: str) -> list[tuple[int, int, str, str, str]]:
        """``(start, end, label, concept id, name)`` of the non-overlapping longest matches in ``text``
        (:func:`nlp.matching.longest_matches`, as ingest's dictionary NER; all candidate keys
        are looked up in one query)."""
        toks = subtokens(text)
        lowered = [t[2].lower() for t in toks]
        n = len(toks)
        grams = {(i, length): " ".join(lowered[i:i + length])
                 for i in range(n) for length in range(1, min(self.max_tokens, n - i) + 1)}
        table = self.lookup(list(grams.values()))
        matches = longest_matches(text, toks, lambda i, length: table.get(grams[(i, length)]),
                                  lambda i: self.max_tokens)
        return [(start, end, e[0], e[1], e[3]) for start, end, e in matches]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class QuestionRecognizer:
    """``recognizer(question) -> [(surface, concept id, name, type)]`` for :class:`retrieval.query.QueryEngine`.

    Args:
        lexicon: a :class:`QuestionLexicon`.
        dictionary: ``() -> ConceptDictionary`` for the fuzzy fallback (called only when the
            lexicon finds nothing), or None for no fallback.
        threshold: minimal fuzzy score (the linker's ``link_threshold``).
    """

    def __init__(self, lexicon: QuestionLexicon, dictionary: Callable[[], object] | None = None,
                 threshold: float = 0.85):
        self.lexicon = lexicon
        self.dictionary = dictionary
        self.threshold = threshold

    def __call__(self, text: str) -> list[tuple[str, str, str, str]]:
        found = [(text[s:e], cid, name, label) for s, e, label, cid, name in self.lexicon.find(text)]
        if found or self.dictionary is None:
            return found
        return self._fuzzy(text)

    def _fuzzy(self, text: str) -> list[tuple[str, str, str, str]]:
        """Content words (5+ letters) and word pairs linked by fuzzy match only, longest first."""
        words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[^\W\d_][\w\-']*", text)]
        content = [w[2].lower() not in _FUZZY_STOP for w in words]
        d = None
        out: list[tuple[str, str, str, str]] = []
        used: set[int] = set()
        for length in (2, 1):
            for i in range(len(words) - length + 1):
                span = range(i, i + length)
                if used.intersection(span) or not all(content[j] for j in span):
                    continue
                surface = text[words[i][0]:words[i + length - 1][1]]
                if len(surface) < 5:
                    continue
                d = d or self.dictionary()
                res = d.link(surface, None, threshold=self.threshold)
                if res.method == "fuzzy" and res.type:
                    out.append((surface, res.concept_id, res.name, res.type))
                    used.update(span)
        out.sort(key=lambda r: text.find(r[0]))
        return out


__all__ = ["QuestionLexicon", "QuestionRecognizer", "lexicon_key"]
