"""medkg knowledge graph: schema, the GraphStore protocol and its backends."""
from kg.model import Concept, Evidence, Fact, GraphStats, Passage, Path, WriteStats
from kg.store import GraphStore, open_store

__all__ = ["Concept", "Evidence", "Fact", "GraphStats", "GraphStore", "Passage", "Path", "WriteStats", "open_store"]
