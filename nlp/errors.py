"""The medkg error hierarchy.

The library raises these and never prints or exits; ``cli.py`` maps every
:class:`MedkgError` to a one-line message on stderr and exit code 1.
"""
from __future__ import annotations


class MedkgError(Exception):
    """Root of every error medkg raises on purpose."""


class ConfigError(MedkgError):
    """A setting is missing, malformed or names something that does not exist."""


class InputError(MedkgError):
    """An input file or record cannot be read. The message names the file/record and the reason."""

    def __init__(self, message: str, *, path: str | None = None, record: str | None = None):
        super().__init__(message)
        self.path = path
        self.record = record


class ModelNotAvailable(MedkgError):
    """A model (spaCy pipeline, embedding model) is not installed locally. medkg never downloads."""


class BackendUnavailable(MedkgError):
    """A backend (Neo4j server, GPU, optional extra) cannot be reached or is not installed."""


class GraphStoreError(MedkgError):
    """A graph store operation failed (driver error, constraint violation, corrupt file...)."""


class IndexMismatchError(MedkgError):
    """A persisted vector index was built with another model or dimension than the one configured."""
