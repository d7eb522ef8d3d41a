"""The query engine: question -> concepts + intent -> graph facts + hybrid passages -> Answer.

Every fact in an :class:`Answer` carries the sentences (with document ids) that support it;
negated evidence never counts as support and is only shown with ``include_negated``.
Passages come from dense (FAISS) and keyword (FTS5 / Neo4j full-text) search plus a
concept-expanded keyword query, fused by weighted reciprocal rank fusion.

Thread-safe for reads: a service can hold one engine and answer many requests.
"""
from __future__ import annotations

import math
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from kg.model import Fact, Passage, Path
from kg.schema import CHEMICAL, DISEASE, GENE, PREDICATES
from kg.store import GraphStore

RRF_K = 60

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
        recognizer: ``callable(text) -> list[(surface, concept_id, name, type)]``, usually the
            NLP pipeline's NER + linker (see :meth:`retrieval.app.Medkg.engine`).
        weights: fusion weights for ``dense``, ``keyword`` and ``concept`` rankings.
    """

    def __init__(self, store: GraphStore, index=None, embedder=None,
                 recognizer: Callable[[str], list[tuple[str, str, str, str]]] | None = None,
                 weights: dict[str, float] | None = None):
        self.store = store
        self.index = index
        self.embedder = embedder
        self.recognizer = recognizer
        self.weights = weights or {"dense": 1.0, "keyword": 1.0, "concept": 1.0}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ understanding
    def parse(self, question: str) -> ParsedQuestion:
        concepts: list[QuestionConcept] = []
        seen: set[str] = set()
        for surface, cid, name, ctype in (self.recognizer(question) if self.recognizer else []):
            c = self.store.concept(cid)
            if c is None:  # linked to an id the graph lacks: try the graph's own names for the surface form
                found = self.store.find_concepts(surface, limit=1)
                c = found[0] if found and found[0].name.lower() == surface.lower() or (
                    found and surface.lower() in [s.lower() for s in found[0].synonyms]) else None
            if c is not None and c.id not in seen:
                concepts.append(QuestionConcept(id=c.id, name=c.name, type=c.type, text=surface))
                seen.add(c.id)
            elif c is None and cid not in seen:
                concepts.append(QuestionConcept(id=cid, name=name, type=ctype, text=surface, in_graph=False))
                seen.add(cid)
        if not any(c.in_graph for c in concepts):
            for surface, c in self._graph_ngrams(question):
                if c.id not in seen:
                    concepts.append(QuestionConcept(id=c.id, name=c.name, type=c.type, text=surface))
                    seen.add(c.id)
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
        return ParsedQuestion(question, concepts, predicates if len(predicates) < len(PREDICATES) else [], answer_type)

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
        passages = self.search(question, k=max(k_passages, 20), concepts=[c for c in parsed.concepts if c.in_graph])
        answer.passages = passages[:k_passages]
        in_graph = [c for c in parsed.concepts if c.in_graph]
        facts: list[Fact] = []
        if len(in_graph) >= 2:
            a, b = in_graph[0], in_graph[1]
            facts = self.store.facts(a.id, parsed.predicates or None, other_id=b.id,
                                     include_negated=include_negated, limit=k_facts, evidence_limit=evidence_limit)
            answer.paths = self.store.paths(a.id, b.id, max_hops=3, limit=5)
        for c in in_graph[:2] if len(in_graph) < 2 or not facts else []:
            facts += self.store.facts(c.id, parsed.predicates or None, other_type=parsed.answer_type,
                                      include_negated=include_negated, limit=k_facts * 3,
                                      evidence_limit=evidence_limit)
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
               methods: Sequence[str] = ("dense", "keyword", "concept")) -> list[Passage]:
        """Hybrid passage search (sentence level), fused by weighted RRF."""
        depth = max(50, k * 5)
        rankings: dict[str, list[int]] = {}
        if "keyword" in methods:
            rankings["keyword"] = [p.uid for p in self.store.keyword_search(text, depth)]
        if "dense" in methods and self.index is not None and self.embedder is not None and len(self.index):
            q = self.embedder.embed_query(text)
            _, ids = self.index.search(q, depth)
            rankings["dense"] = [int(i) for i in ids[0] if i >= 0]
        if "concept" in methods and concepts:
            names = []
            for c in concepts:
                full = self.store.concept(c.id)
                names += [full.name] + full.synonyms[:5] if full else [c.name]
            expanded = " ".join(dict.fromkeys(n for n in names if n))
            if expanded:
                rankings["concept"] = [p.uid for p in self.store.keyword_search(expanded, depth)]
        fused = rrf(rankings, self.weights)
        ranked = sorted(fused, key=lambda u: (-fused[u], u))
        if level == "document":
            ranked_passages = self.store.passages(ranked)
            best: dict[str, Passage] = {}
            for p in ranked_passages:
                p.score = round(fused[p.uid], 6)
                if p.doc_id not in best:
                    best[p.doc_id] = p
            return list(best.values())[:k]
        out = self.store.passages(ranked[:k])
        for p in out:
            p.score = round(fused[p.uid], 6)
        return out

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
