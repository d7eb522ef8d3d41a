"""Path search shared by every GraphStore backend (so they return the same paths in the same order)."""
from __future__ import annotations

from collections import deque
from typing import Callable, Iterable


def shortest_chains(source_id: str, target_id: str, neighbours: Callable[[str], Iterable[str]],
                    max_hops: int = 3, limit: int = 10) -> list[list[str]]:
    """All shortest chains of concept ids from ``source_id`` to ``target_id`` (at most ``max_hops``
    edges, at most ``limit`` chains, in lexicographic order of predecessors), by breadth-first search
    over ``neighbours(node)`` (supported edges, either direction)."""
    if source_id == target_id:
        return []
    parents: dict[str, list[str]] = {source_id: []}
    frontier = deque([source_id])
    depth = {source_id: 0}
    found_depth = None
    while frontier:
        node = frontier.popleft()
        d = depth[node]
        if found_depth is not None and d >= found_depth or d >= max_hops:
            continue
        for nxt in neighbours(node):
            if nxt not in depth:
                depth[nxt] = d + 1
                parents[nxt] = [node]
                frontier.append(nxt)
            elif depth[nxt] == d + 1:
                parents[nxt].append(node)
            if nxt == target_id:
                found_depth = d + 1
    if target_id not in parents:
        return []
    chains: list[list[str]] = []

    def walk(node: str, acc: list[str]) -> None:
        if len(chains) >= limit:
            return
        if node == source_id:
            chains.append([source_id, *acc])
            return
        for p in sorted(parents[node]):
            walk(p, [node, *acc])

    walk(target_id, [])
    return chains
