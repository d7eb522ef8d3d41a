"""Greedy longest-match of dictionary aliases over a tokenizer-independent sub-token stream.

Shared by the ingest pipeline's dictionary NER (:class:`nlp.components.DictionaryMatcher`, an
in-memory table) and the question recogniser (:class:`nlp.question.QuestionLexicon`, a SQLite
table): the same sub-tokens, the same case rule and the same word-boundary rule, so a question
finds what ingest found. No spaCy here (the ask path must not import it).
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Optional, Sequence

SUBTOKEN = re.compile(r"\w+|[^\w\s]")

Token = tuple[int, int, str]  # (start_char, end_char, text)


def subtokens(text: str) -> list[Token]:
    """``\\w+|[^\\w\\s]`` pieces of ``text`` with their character offsets."""
    return [(m.start(), m.end(), m.group()) for m in SUBTOKEN.finditer(text)]


def is_case_sensitive(alias: str) -> bool:
    """True for short abbreviation-like aliases ("NO", "5-HT", "CAT", "cAMP") that a matcher
    should compare case-sensitively: at most 6 characters with a capital after the first."""
    return len(alias) <= 6 and any(ch.isupper() for ch in alias[1:])


def alias_table(patterns: Iterable[tuple[str, str, str]]) -> tuple[dict[str, tuple[str, str, Optional[str]]], dict[str, int]]:
    """``{key: (label, concept id, case-sensitive surface or None)}`` and ``{first sub-token: longest
    alias length}`` from ``(alias, label, concept id)`` patterns. The key is the lower-cased
    sub-tokens joined by spaces. The first pattern of a key wins, except that a case-insensitive
    alias replaces a case-sensitive one."""
    table: dict[str, tuple[str, str, Optional[str]]] = {}
    max_len: dict[str, int] = {}
    for alias, label, concept_id in patterns:
        toks = SUBTOKEN.findall(alias)
        if not toks:
            continue
        key = " ".join(t.lower() for t in toks)
        case_sensitive = alias if is_case_sensitive(alias) else None
        prev = table.get(key)
        if prev is not None and (prev[2] is None or case_sensitive is not None):
            continue
        table[key] = (label, concept_id, case_sensitive)
        first = toks[0].lower()
        max_len[first] = max(max_len.get(first, 0), len(toks))
    return table, max_len


def longest_matches(text: str, toks: Sequence[Token], entry_at: Callable[[int, int], Optional[tuple]],
                    max_len_at: Callable[[int], int]) -> list[tuple[int, int, tuple]]:
    """Non-overlapping matches, left to right, the longest first at each position.

    Args:
        text: the text ``toks`` came from.
        toks: :func:`subtokens` of ``text``.
        entry_at: ``(i, length) -> entry`` for the alias made of ``toks[i:i + length]``, or None;
            ``entry[2]`` is the exact surface a case-sensitive alias must have (``ACE``), or None.
        max_len_at: the longest alias (in sub-tokens) that can start at ``toks[i]``.

    Returns:
        ``(start_char, end_char, entry)`` per match. A match never cuts a word in two
        ("ACE" inside "ACE-2" is fine, "ace" in "acetyl" is not).
    """
    out = []
    i, n = 0, len(toks)
    while i < n:
        hit = None
        for length in range(min(max_len_at(i), n - i), 0, -1):
            entry = entry_at(i, length)
            if entry is None:
                continue
            start, end = toks[i][0], toks[i + length - 1][1]
            if entry[2] is not None and text[start:end] != entry[2]:
                continue
            if (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
                continue
            hit = (start, end, entry, length)
            break
        if hit:
            out.append(hit[:3])
            i += hit[3]
        else:
            i += 1
    return out
