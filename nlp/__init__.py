"""medkg NLP: readers, the spaCy pipeline, linking, assertion and relations.

Text goes in, :class:`nlp.extraction.Extraction` comes out.
"""
from nlp.errors import (
    ConfigError,
    InputError,
    MedkgError,
    ModelNotAvailable,
)
from nlp.extraction import Document, Extraction, Mention, Relation, Sentence

__all__ = [
    "ConfigError",
    "Document",
    "Extraction",
    "InputError",
    "MedkgError",
    "Mention",
    "ModelNotAvailable",
    "Relation",
    "Sentence",
]
