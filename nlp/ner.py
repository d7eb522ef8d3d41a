"""Loading medkg's biomedical NER pipeline (or an installed scispaCy NER model).

``load_ner()`` returns ONE spaCy pipeline that sets ``doc.ents`` with labels among
:data:`LABELS`. The shipped model (``data/models/medkg_ner``, trained by ``nlp/train.py``)
holds two typed CNN models, merged the way scispaCy's ``en_ner_*`` models would be if
run together::

    tok2vec -> ner (Chemical, Disease) -> medkg_ents_to_spans -> ner_bio (Gene, Species,
    Variant, CellLine) -> medkg_merge_ents

``medkg_merge_ents`` gives the Chemical/Disease model priority: a Gene/Species/... span
that overlaps a Chemical/Disease span is dropped.

Example::

    from nlp.ner import load_ner
    ner = load_ner()
    doc = ner("Cocaine-induced hypertension in rats.")
    [(e.text, e.label_) for e in doc.ents]   # [('Cocaine', 'Chemical'), ('hypertension', 'Disease')]
"""
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


@Language.factory("medkg_merge_ents", default_config={"keys": ["ner_stash"]})
def make_merge_ents(nlp: Language, name: str, keys: list[str]) -> Callable[[Doc], Doc]:
    """Merge the span groups ``keys`` (highest priority first) with the current ``doc.ents``."""
    return MergeEnts(keys)


class MergeEnts:
    """Union of several NER outputs; on overlap the earlier source wins, then the longer span."""

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)

    def __call__(self, doc: Doc) -> Doc:
        chosen: list[Span] = []
        taken = [False] * len(doc)
        sources: list[Iterable[Span]] = [doc.spans.get(k, []) for k in self.keys] + [list(doc.ents)]
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


@Language.factory("medkg_label_map", default_config={"mapping": SCISPACY_LABEL_MAP})
def make_label_map(nlp: Language, name: str, mapping: dict[str, str]) -> Callable[[Doc], Doc]:
    """Rename entity labels with ``mapping``; entities with unmapped labels are dropped."""
    return LabelMap(mapping)


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


def load_ner(model_dir: str | Path | None = None) -> Language:
    """Load the NER pipeline: medkg's shipped model, a model directory, or a scispaCy package.

    Args:
        model_dir: ``None`` for the shipped model (``data/models/medkg_ner``); a path to a
            spaCy pipeline directory; or an installed package name such as
            ``"en_ner_bc5cdr_md"``. Models that are not medkg's get a ``medkg_label_map``
            component appended (CHEMICAL -> Chemical, DISEASE -> Disease, ...).

    Returns:
        A ``spacy.Language`` whose ``doc.ents`` carry labels among :data:`LABELS`.

    Raises:
        ModelNotAvailable: the directory or package does not exist (medkg never downloads).
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
    if not _is_medkg_model(nlp):
        nlp.add_pipe("medkg_label_map", last=True)
    return nlp


def _is_medkg_model(nlp: Language) -> bool:
    return "medkg" in nlp.meta or set(nlp.pipe_labels.get("ner", [])) <= set(LABELS)
