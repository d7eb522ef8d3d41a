"""The query engine: question -> concepts + intent -> graph facts + hybrid passages -> Answer.

Every fact in an :class:`Answer` carries the sentences (with document ids) that support it;
negated evidence never counts as support and is only shown with ``include_negated``.
Passages come from dense (FAISS) and keyword (FTS5 / Neo4j full-text) search plus a
concept-expanded keyword query, fused by weighted reciprocal rank fusion; document-level
search (:meth:`QueryEngine.search_documents`) fuses document rankings instead (BM25 over whole
documents, dense sentence scores summed per document, pseudo-relevance feedback in the hybrid).

Thread-safe for reads: a service can hold one engine and answer many requests.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from kg.model import Concept, Fact, Passage, Path
from kg.schema import CHEMICAL, DISEASE, GENE, PREDICATES
from kg.sqlite_store import STOP_WORDS
from kg.store import GraphStore
from nlp.extraction import sentence_uid

RRF_K = 60
# Fusion weights of the rankings. The concept-expansion ranking counts a quarter: chosen on the
# first 300 NFCorpus train queries with the full pipeline (hybrid nDCG@10 by concept weight 0 / 0.25 /
# 0.5 / 1: 0.3509 / 0.3510 / 0.3448 / 0.3325); dev with 0.25: 0.3411 (1.0: 0.3330). See bench/RESULTS.md.
DEFAULT_WEIGHTS = {"dense": 1.0, "keyword": 1.0, "concept": 0.25}

# (pattern, predicates, answer type implied, concept role) — first match wins; order matters:
# "side effects of X" must win over the generic "cause".
_INTENTS: list[tuple[re.Pattern, tuple[str, ...], str | None]] = [
    (re.compile(r"\b(side[- ]?effects?|adverse (?:effects?|events?|reactions?|drug reactions?)|toxicit(?:y|ies))\b", re.I),
     ("CAUSES",), DISEASE),
    (re.compile(r"\binteract\w*\b", re.I), ("INTERACTS_WITH",), CHEMICAL),
    (re.compile(r"\b(?:caus\w*|induc\w*|leads? to|lead to|trigger\w*|risk of|provok\w*|result in)\b", re.I),
     ("CAUSES",), None),
    (re.compile(r"\b(?:treat\w*|therap\w*|cure[sd]?|manag\w*|prevent\w*|used (?:for|in|to)|indicated|"
                r"(?:drugs?|medications?|medicines?) (?:for|against))\b", re.I), ("TREATS",), None),
    (re.compile(r"\b(?:inhibit\w*|block\w*|suppress\w*|downregulat\w*)\b", re.I), ("INHIBITS",), None),
    (re.compile(r"\b(?:activat\w*|stimulat\w*|upregulat\w*)\b", re.I), ("STIMULATES",), None),
    (re.compile(r"\bbind\w*\b", re.I), ("BINDS",), None),
    (re.compile(r"\b(?:associat\w*|linked|correlat\w*|related|relationship|relation|connect\w*)\b", re.I),
     tuple(PREDICATES), None),
]
_ANSWER_TYPES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"\b(?:drugs?|medications?|medicines?|chemicals?|compounds?|agents?|substances?|treatments?|"
                r"therapies)\b", re.I), CHEMICAL),
    (re.compile(r"\b(?:diseases?|conditions?|disorders?|illness(?:es)?|syndromes?|complications?|"
                r"side[- ]?effects?)\b", re.I), DISEASE),
    (re.compile(r"\b(?:genes?|proteins?)\b", re.I), GENE),
]
_STOP = set("""a an the of in on at to for with by from and or is are was were be been what which who whom how
why when does do did can could may might should would will that this these those any some about between
me tell show list give""".split())


# Function words left out of feedback words: the keyword search's stop words and a few more.
_FEEDBACK_STOP = _STOP | STOP_WORDS | set("""using used use however although""".split())


@dataclass
class QuestionConcept:
    """A concept recognised in the question."""

    id: str
    name: str
    type: str
    text: str  # surface form in the question
    in_graph: bool = True


@dataclass
class ParsedQuestion:
    text: str
    concepts: list[QuestionConcept]
    predicates: list[str]  # empty = any predicate
    answer_type: str | None
    graph_concepts: dict[str, Concept] = field(default_factory=dict, repr=False)  # the store's records, by id


def _intent_words(surface: str) -> bool:
    """Whether ``surface`` is only question words or the words of an intent or an answer type
    ("Is", "side effects", "toxicity", "Drugs"): the question's frame, never one of its concepts."""
    s = surface.strip()
    if all(w.lower() in _STOP for w in s.split()):  # "Is", "What": a capitalised word an NER may tag
        return True
    return any(p.fullmatch(s) for p, *_ in _INTENTS) or any(p.fullmatch(s) for p, _ in _ANSWER_TYPES)


@dataclass
class Answer:
    """What :meth:`QueryEngine.ask` returns; ``to_dict()`` is the ``--json`` shape (see README)."""

    question: str
    concepts: list[QuestionConcept] = field(default_factory=list)
    predicates: list[str] = field(default_factory=list)
    answer_type: str | None = None
    facts: list[Fact] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "concepts": [asdict(c) for c in self.concepts],
            "predicates": self.predicates,
            "answer_type": self.answer_type,
            "facts": [f.to_dict() for f in self.facts],
            "passages": [p.to_dict() for p in self.passages],
            "paths": [p.to_dict() for p in self.paths],
            "message": self.message,
        }


MIN_PASSAGE_WORDS = 4
_LETTER_WORD = re.compile(r"[^\W\d_]+")


def informative_first(passages: list[Passage], min_words: int = MIN_PASSAGE_WORDS) -> list[Passage]:
    """Passages of at least ``min_words`` words first (order kept), then the shorter ones: a bare
    heading or list item ("Hypertension.") matches a question's words well and says nothing."""
    # a stable sort on "too short": the informative ones keep their order, then the rest theirs
    return sorted(passages, key=lambda p: len(_LETTER_WORD.findall(p.text)) < min_words)


def rrf(rankings: dict[str, Sequence[int]], weights: dict[str, float] | None = None, k: int = RRF_K) -> dict[int, float]:
    """Weighted reciprocal rank fusion: ``score(d) = sum_l w_l / (k + rank_l(d))`` (rank from 1)."""
    scores: dict[int, float] = {}
    for name, ids in rankings.items():
        w = (weights or {}).get(name, 1.0)
        if w <= 0:
            continue
        for rank, uid in enumerate(ids, 1):
            scores[uid] = scores.get(uid, 0.0) + w / (k + rank)
    return scores


class QueryEngine:
    """Answers questions from a graph store, a vector index and an embedder.

    Args:
        store: any :class:`kg.store.GraphStore`.
        index: a :class:`retrieval.index.FaissIndex` (or None: keyword-only passages).
        embedder: an :class:`retrieval.embedder.Embedder` (or None).
        recognizer: ``callable(text) -> list[(surface, concept_id, name, type)]``: the question
            lexicon (:class:`nlp.question.QuestionRecognizer`) or the NLP pipeline's NER + linker
            (see :meth:`retrieval.app.Medkg.recognize`).
        weights: fusion weights for ``dense``, ``keyword`` and ``concept`` rankings; the ones not given
            keep ``DEFAULT_WEIGHTS``.
    """

    def __init__(self, store: GraphStore, index=None, embedder=None,
                 recognizer: Callable[[str], list[tuple[str, str, str, str]]] | None = None,
                 weights: dict[str, float] | None = None):
        self.store = store
        self.index = index
        self.embedder = embedder
        self.recognizer = recognizer
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ understanding
    def parse(self, question: str) -> ParsedQuestion:
        concepts: list[QuestionConcept] = []
        seen: set[str] = set()
        records: dict[str, Concept] = {}
        for surface, cid, name, ctype in (self.recognizer(question) if self.recognizer else []):
            if _intent_words(surface):
                continue
            c = self.store.concept(cid)
            if c is None:  # linked to an id the graph lacks: try the graph's own names for the surface form
                found = self.store.find_concepts(surface, limit=1)
                c = found[0] if found and found[0].name.lower() == surface.lower() or (
                    found and surface.lower() in [s.lower() for s in found[0].synonyms]) else None
            if c is not None and c.id not in seen:
                concepts.append(QuestionConcept(id=c.id, name=c.name, type=c.type, text=surface))
                seen.add(c.id)
                records[c.id] = c
            elif c is None and cid not in seen:
                concepts.append(QuestionConcept(id=cid, name=name, type=ctype, text=surface, in_graph=False))
                seen.add(cid)
        if not any(c.in_graph for c in concepts):
            for surface, c in self._graph_ngrams(question):
                if c.id not in seen:
                    concepts.append(QuestionConcept(id=c.id, name=c.name, type=c.type, text=surface))
                    seen.add(c.id)
                    records[c.id] = c
        predicates: list[str] = []
        implied_type = None
        for pattern, preds, atype in _INTENTS:
            if pattern.search(question):
                predicates, implied_type = list(preds), atype
                break
        answer_type = None
        for pattern, atype in _ANSWER_TYPES:
            m = pattern.search(question)
            if m and not any(m.group().lower() in c.text.lower() for c in concepts):
                answer_type = atype
                break
        answer_type = answer_type or implied_type
        if answer_type and any(c.type == answer_type for c in concepts if c.in_graph) and len(
                [c for c in concepts if c.in_graph]) == 1 and predicates and predicates[0] == "INTERACTS_WITH":
            answer_type = CHEMICAL
        return ParsedQuestion(question, concepts, predicates if len(predicates) < len(PREDICATES) else [], answer_type,
                              graph_concepts=records)

    def _graph_ngrams(self, question: str) -> list[tuple[str, Any]]:
        """Fallback concept recognition: the longest word n-grams the graph knows by name."""
        words = re.findall(r"[\w\-']+", question)
        found: list[tuple[str, Any]] = []
        used: set[int] = set()
        for n in range(min(5, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                if used.intersection(range(i, i + n)):
                    continue
                gram = words[i:i + n]
                if n == 1 and (gram[0].lower() in _STOP or len(gram[0]) < 3):
                    continue
                if gram[0].lower() in _STOP or gram[-1].lower() in _STOP:
                    continue
                if _intent_words(" ".join(gram)):
                    continue
                surface = " ".join(gram)
                hits = [c for c in self.store.find_concepts(surface, limit=3)
                        if c.name.lower() == surface.lower() or surface.lower() in (s.lower() for s in c.synonyms)]
                if hits:
                    found.append((surface, hits[0]))
                    used.update(range(i, i + n))
        return found

    # ------------------------------------------------------------------ answering
    def ask(self, question: str, *, k_facts: int = 10, k_passages: int = 5, include_negated: bool = False,
            evidence_limit: int = 3) -> Answer:
        """Answer a clinical question with graph facts (each with evidence) and top passages."""
        parsed = self.parse(question)
        answer = Answer(question=question, concepts=parsed.concepts, predicates=parsed.predicates,
                        answer_type=parsed.answer_type)
        in_graph = [c for c in parsed.concepts if c.in_graph]
        # The graph's facts (and paths) in a worker thread while the passages are searched here:
        # both are mostly SQLite / FAISS time, which runs outside the GIL.
        graph = self._submit(self._graph_facts, parsed, in_graph, k_facts, include_negated, evidence_limit) \
            if in_graph else None
        passages = self.search(question, k=max(k_passages, 20), concepts=in_graph, _known=parsed.graph_concepts)
        answer.passages = informative_first(passages)[:k_passages]
        facts, answer.paths = graph.result() if graph is not None else ([], [])
        facts = self._rank(facts, passages)[:k_facts]
        answer.facts = facts
        if not parsed.concepts:
            answer.message = "No known concept was recognised in the question; showing passages only."
        elif not in_graph:
            names = ", ".join(c.text for c in parsed.concepts)
            answer.message = f"{names}: not in the knowledge graph; showing passages only."
        elif not facts:
            what = "/".join(parsed.predicates) if parsed.predicates else "any relation"
            answer.message = (f"No supporting evidence in the graph for {what} involving "
                              f"{', '.join(c.name for c in in_graph)}.")
        return answer

    def _graph_facts(self, parsed: ParsedQuestion, in_graph: list[QuestionConcept], k_facts: int,
                     include_negated: bool, evidence_limit: int) -> tuple[list[Fact], list[Path]]:
        """Facts between the first two concepts (and the paths joining them); else, or when they
        share no fact, each concept's facts of the asked predicates and answer type."""
        facts: list[Fact] = []
        paths: list[Path] = []
        if len(in_graph) >= 2:
            a, b = in_graph[0], in_graph[1]
            facts = self.store.facts(a.id, parsed.predicates or None, other_id=b.id,
                                     include_negated=include_negated, limit=k_facts, evidence_limit=evidence_limit)
            paths = self.store.paths(a.id, b.id, max_hops=3, limit=5)
        for c in in_graph[:2] if len(in_graph) < 2 or not facts else []:
            facts += self.store.facts(c.id, parsed.predicates or None, other_type=parsed.answer_type,
                                      include_negated=include_negated, limit=k_facts * 3,
                                      evidence_limit=evidence_limit)
        return facts, paths

    @staticmethod
    def _rank(facts: list[Fact], passages: list[Passage]) -> list[Fact]:
        top = {p.sentence_id for p in passages}
        unique: dict[tuple[str, str, str], Fact] = {}
        for f in facts:
            unique.setdefault(f.key, f)
        for f in unique.values():
            agree = sum(1 for e in f.evidence if e.sentence_id in top)
            recency = (f.last_year - 1950) / 100 if f.last_year else 0.0
            f.score = round(f.support + 0.5 * math.log1p(f.documents) + 0.25 * f.uncertain
                            - 0.75 * f.contradicting + 0.5 * agree + 0.1 * recency, 4)
        return sorted(unique.values(), key=lambda f: (-f.score, -f.support, f.subject.id, f.predicate, f.object.id))

    def search(self, text: str, k: int = 10, *, level: str = "sentence", concepts: list[QuestionConcept] | None = None,
               methods: Sequence[str] = ("dense", "keyword", "concept"),
               _known: dict[str, Concept] | None = None) -> list[Passage]:
        """Hybrid search, fused by weighted reciprocal rank fusion.

        Args:
            text: the query.
            k: results wanted.
            level: ``"sentence"`` (passages) or ``"document"`` (one passage per document, the
                document's best-matching sentence, ranked as documents: see :meth:`search_documents`).
            concepts: concepts recognised in the query (for the concept-expanded keyword ranking).
            methods: rankings to fuse, among ``dense``, ``keyword`` and ``concept``.
        """
        if level == "document":
            return self.search_documents(text, k, concepts=concepts, methods=methods)
        if level != "sentence":
            raise ValueError(f"level must be sentence or document, not {level!r}")
        depth = max(50, k * 5)
        rankings: dict[str, list[int]] = {}
        dense = self._dense_async(text, depth) if "dense" in methods else None
        concept = None
        if "concept" in methods and concepts:
            expanded = self._expanded(concepts, text, _known)
            if expanded:  # a second full-text query: alongside the first one
                concept = self._submit(self.store.keyword_search, expanded, depth)
        if "keyword" in methods:
            rankings["keyword"] = [p.uid for p in self.store.keyword_search(text, depth)]
        if concept is not None:
            rankings["concept"] = [p.uid for p in concept.result()]
        hits = dense.result() if dense is not None else None
        if hits is not None:
            rankings["dense"] = [u for u, _ in hits]
        fused = rrf(rankings, self.weights, k=self.rrf_k)
        ranked = sorted(fused, key=lambda u: (-fused[u], u))
        out = self.store.passages(ranked[:k])
        for p in out:
            p.score = round(fused[p.uid], 6)
        return out

    # Document-level search settings, tuned on NFCorpus dev (bench/retrieval_eval.py).
    doc_sentence_depth = 1000  # dense sentence hits gathered to rank documents
    doc_dense_decay = 0.3  # document dense score = sum_i decay^i * cosine_i over its best sentences
    doc_dense_top = 3  # sentences per document in that sum
    prf_docs = 3  # hybrid: feedback documents for keyword query expansion (0: no expansion)
    prf_terms = 15  # words added to the keyword query
    prf_query_weight = 3  # the query's own words count this many times in the expanded query
    rrf_k = RRF_K

    def search_documents(self, text: str, k: int = 10, *, concepts: list[QuestionConcept] | None = None,
                         methods: Sequence[str] = ("dense", "keyword", "concept")) -> list[Passage]:
        """Documents ranked by fused document-level rankings; each shown by its best sentence.

        Rankings, each over whole documents:

        * ``keyword``: BM25 over the document's title and text (``store.keyword_search_documents``);
        * ``dense``: the document's best sentences by cosine similarity to the query, summed with
          decaying weights (``doc_dense_decay``) so a document with several close sentences beats
          one with a single close sentence;
        * ``concept``: BM25 over documents for the names and synonyms of the query's concepts.

        With both ``dense`` and ``keyword`` (hybrid), the keyword query is expanded by pseudo
        relevance feedback before the final fusion: the ``prf_docs`` best documents of a first
        fusion that the keyword search also found give ``prf_terms`` words (frequent in them, rare
        among the sentences dense search returned), added to the query's own words (which count
        ``prf_query_weight`` times).

        The passage shown for a document is its sentence closest to the query (dense), else its
        best keyword sentence, else its first sentence; ``score`` is the fused document score.
        """
        fetch = max(100, 2 * k)
        rankings: dict[str, list[str]] = {}
        best_sentence: dict[str, int] = {}
        neighbours: list[str] = []  # texts of the dense sentence hits (background for feedback)
        dense = self._dense_async(text, max(self.doc_sentence_depth, 10 * k)) if "dense" in methods else None
        if "keyword" in methods:
            rankings["keyword"] = [d for d, _ in self._keyword_documents(text, fetch)]
        if "concept" in methods and concepts:
            expanded = self._expanded(concepts, text)
            if expanded:
                rankings["concept"] = [d for d, _ in self._keyword_documents(expanded, fetch)]
        if dense is not None:
            hits = dense.result()
            if hits is not None:
                per_doc, neighbours = self._documents_of(hits)
                scores: dict[str, float] = {}
                for doc_id, sims in per_doc.items():
                    scores[doc_id] = sum(sim * self.doc_dense_decay ** i for i, (_, sim) in
                                         enumerate(sims[:self.doc_dense_top]))
                    best_sentence[doc_id] = sims[0][0]
                rankings["dense"] = sorted(scores, key=lambda d: (-scores[d], d))[:fetch]
        if self.prf_docs > 0 and rankings.get("dense") and rankings.get("keyword"):
            first = rrf(rankings, self.weights, k=self.rrf_k)
            matched = set(rankings["keyword"])  # feedback only from documents holding a query word
            feedback = [d for d in sorted(first, key=lambda d: (-first[d], d)) if d in matched][:self.prf_docs]
            expanded = self._feedback_query(text, feedback, neighbours)
            if expanded:
                rankings["keyword"] = [d for d, _ in self._keyword_documents(expanded, fetch)]
        fused = rrf(rankings, self.weights, k=self.rrf_k)
        ranked = sorted(fused, key=lambda d: (-fused[d], d))[:k]
        missing = [d for d in ranked if d not in best_sentence]
        if missing and "keyword" in methods:
            for p in self.store.keyword_search(text, max(50, 5 * len(missing))):
                if p.doc_id in fused:
                    best_sentence.setdefault(p.doc_id, p.uid)
        uids = [best_sentence.get(d, sentence_uid(d, 0)) for d in ranked]
        by_uid = {p.uid: p for p in self.store.passages(uids)}
        out = []
        for d, u in zip(ranked, uids):
            p = by_uid.get(u)
            if p is None:  # the first sentence of a document whose title is not its own sentence
                continue
            p.score = round(fused[d], 6)
            out.append(p)
        return out

    _WORD = re.compile(r"\w+")

    def _content_words(self, text: str) -> list[str]:
        return [w for w in self._WORD.findall(text.lower()) if w not in _FEEDBACK_STOP and len(w) > 2
                and not w.isdigit()]

    def _feedback_query(self, text: str, feedback: list[str], neighbours: list[str]) -> str | None:
        """``text`` plus the words that best characterise the ``feedback`` documents (RM-style).

        A word's weight: its mean relative frequency in the feedback documents times its IDF among
        ``neighbours`` (the sentences dense search returned for the query): frequent in the
        feedback, not in everything near the query. Words of the query itself are not added.
        """
        if not feedback or not neighbours:
            return None
        texts = self._document_texts(feedback)
        weight: dict[str, float] = {}
        for doc_text in texts.values():
            words = self._content_words(doc_text)
            if not words:
                continue
            for w, n in Counter(words).items():
                weight[w] = weight.get(w, 0.0) + n / len(words)
        own = set(self._WORD.findall(text.lower()))
        candidates = [w for w in sorted(weight, key=lambda w: (-weight[w], w))[:40] if w not in own]
        if not candidates:
            return None
        background = [set(self._WORD.findall(s.lower())) for s in neighbours]
        n = len(background)
        score = {w: weight[w] * math.log((n + 1) / (1 + sum(1 for b in background if w in b))) for w in candidates}
        added = sorted(candidates, key=lambda w: (-score[w], w))[:self.prf_terms]
        return " ".join([text] * self.prf_query_weight + added)

    def _document_texts(self, doc_ids: list[str], max_sentences: int = 64) -> dict[str, str]:
        """The text of each document (its first ``max_sentences`` sentences), through ``store.passages``."""
        uids = [sentence_uid(d, i) for d in doc_ids for i in range(max_sentences)]
        out: dict[str, list[str]] = {}
        for p in self.store.passages(uids):  # in the order given: by document, then sentence index
            out.setdefault(p.doc_id, []).append(p.text)
        return {d: " ".join(t) for d, t in out.items()}

    def describe(self) -> dict[str, Any]:
        """The search settings in use (for benchmark reports)."""
        return {"weights": dict(self.weights), "rrf_k": self.rrf_k, "doc_sentence_depth": self.doc_sentence_depth,
                "doc_dense_decay": self.doc_dense_decay, "doc_dense_top": self.doc_dense_top,
                "prf_docs": self.prf_docs, "prf_terms": self.prf_terms, "prf_query_weight": self.prf_query_weight,
                "title_weight": getattr(self.store, "TITLE_WEIGHT", None),
                "keyword_budget": getattr(self.store, "KEYWORD_BUDGET", None)}

    def _submit(self, fn: Callable, *args) -> Future:
        """Run ``fn(*args)`` in the engine's worker threads."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="medkg-query")
        return self._pool.submit(fn, *args)

    def _dense_async(self, text: str, depth: int) -> Future | None:
        """:meth:`_dense` in a worker thread (None without an index): the query embedding and
        FAISS release the GIL, and so does SQLite, so dense and keyword search overlap."""
        if self.index is None or self.embedder is None:
            return None
        return self._submit(self._dense, text, depth)

    def _dense(self, text: str, depth: int) -> list[tuple[int, float]] | None:
        """(uid, cosine) of the nearest sentences, or None without an index/embedder."""
        if self.index is None or self.embedder is None or not len(self.index):
            return None
        q = self.embedder.embed_query(text)
        scores, ids = self.index.search(q, depth)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _documents_of(self, hits: list[tuple[int, float]]) -> tuple[dict[str, list[tuple[int, float]]], list[str]]:
        """Group sentence hits by document (best first within each); also the hits' texts."""
        found = {p.uid: p for p in self.store.passages([u for u, _ in hits])}
        per_doc: dict[str, list[tuple[int, float]]] = {}
        for uid, sim in hits:
            p = found.get(uid)
            if p is not None:
                per_doc.setdefault(p.doc_id, []).append((uid, sim))
        return per_doc, [p.text for p in found.values()]

    def _keyword_documents(self, text: str, k: int) -> list[tuple[str, float]]:
        search = getattr(self.store, "keyword_search_documents", None)
        if search is not None:
            return search(text, k)
        # A store without document-level full text: its best sentence per document.
        seen: dict[str, float] = {}
        for p in self.store.keyword_search(text, 10 * k):
            seen.setdefault(p.doc_id, p.score)
        return list(seen.items())[:k]

    def _expanded(self, concepts: list[QuestionConcept], question: str = "",
                  known: dict[str, Concept] | None = None) -> str:
        """The concepts' names and their most frequent synonyms, as one keyword query (each word once).

        Synonyms shorter than 4 characters (``HT``, ``MI``, ``ASA``, ``Li``) are left out: as free
        words they match unrelated text. When every word is already in ``question`` (or shares its
        first five letters with a question word: ``hypertensive``/``hypertension``) the ranking
        would repeat the keyword ranking, and "" is returned.
        """
        names: list[str] = []
        for c in concepts:
            full = (known or {}).get(c.id) or self.store.concept(c.id)
            if full is None:
                names.append(c.name)
                continue
            names.append(full.name)
            names += [s for s in full.synonyms if len(s) >= 4][:3]
        words = list(dict.fromkeys(w for n in names for w in self._WORD.findall(n.lower())))
        asked = {w[:5] for w in self._WORD.findall(question.lower())}
        if question and all(w[:5] in asked for w in words):
            return ""
        return " ".join(words)

    def explain(self, a: str, b: str, max_hops: int = 3, limit: int = 5) -> tuple[list[QuestionConcept], list[Path]]:
        """Paths (with evidence) connecting two concepts given by name or id."""
        ends = []
        for text in (a, b):
            parsed = self.parse(text)
            found = [c for c in parsed.concepts if c.in_graph]
            if not found:
                hits = self.store.find_concepts(text, limit=1)
                found = [QuestionConcept(id=h.id, name=h.name, type=h.type, text=text) for h in hits]
            ends.append(found[0] if found else None)
        if None in ends:
            return [e for e in ends if e], []
        return ends, self.store.paths(ends[0].id, ends[1].id, max_hops=max_hops, limit=limit)
