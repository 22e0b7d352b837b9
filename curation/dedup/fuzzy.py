"""Fuzzy deduplication of one partition against itself and every partition ordered before it.

The earlier partitions are read as their signatures and their duplicate decisions only (the
persistent index): never their text. A document of the new partition that matches an earlier
one becomes a duplicate of that document's kept representative; inside the partition each
component keeps its smallest id. The result for a partition depends only on the partitions
before it, so re-running (backfilling) a partition reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from curation.dedup.components import min_labels
from curation.dedup.lsh import BandIndex, edges_within, estimated_similarity

PairSimilarity = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class IndexedBatch:
    """Documents of an earlier partition as the index holds them."""

    partition_order: int  # position of the partition in keep-priority order (0 = first)
    ids: Sequence[str]
    signatures: np.ndarray  # (n, num_perm) uint32
    roots: Sequence[str]  # the kept document each one stands for (itself when kept)
    root_orders: Sequence[int]  # partition_order of each root


@dataclass
class FuzzyResult:
    """Per new document (in the order given): the kept document it duplicates, or None."""

    duplicate_of: list[str | None]
    # partition_order of the kept document for duplicates of an earlier partition's document,
    # None when kept or when the kept document is in this partition
    duplicate_order: list[int | None]
    similarity: np.ndarray  # estimated Jaccard with the document that linked it, NaN if kept
    candidate_edges: int
    cross_partition_matches: int


def deduplicate(ids: Sequence[str], signatures: np.ndarray, bands: int, threshold: float | None,
                earlier: Iterable[IndexedBatch] = (), similarity_of: PairSimilarity | None = None) -> FuzzyResult:
    """Duplicates among `ids` (one partition) and against `earlier` partitions' documents.

    Candidate pairs inside the partition are verified with `similarity_of(a_rows, b_rows)`
    (exact Jaccard from the text, see curation.dedup.verify) when given, else with the
    signature estimate; pairs with earlier partitions always with the estimate, because their
    text is not read again. `threshold=None` keeps every candidate unverified.
    """
    n = len(ids)
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")  # keep priority: id
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)

    a, b = edges_within(signatures, bands)
    candidate_edges = int(a.shape[0])
    sim = np.full(a.shape[0], np.nan)
    if threshold is not None and a.shape[0]:
        sim = similarity_of(a, b) if similarity_of is not None else estimated_similarity(signatures[a], signatures[b])
        ok = sim >= threshold
        a, b, sim = a[ok], b[ok], sim[ok]

    # Earlier partitions: link each matched new document to the matched document's root.
    index: BandIndex | None = None  # built on the first earlier batch: none, no cost
    root_key: dict[str, tuple[int, str]] = {}
    cross_new: list[np.ndarray] = []
    cross_root: list[str] = []
    cross_sim: list[np.ndarray] = []
    for batch in earlier:
        index = index or BandIndex(signatures, bands)
        for other_rows, own_rows, similarity in index.matches(batch.signatures, threshold):
            for other, own, s in zip(other_rows.tolist(), own_rows.tolist(), similarity.tolist()):
                root = batch.roots[other]
                root_key.setdefault(root, (batch.root_orders[other], root))
                cross_new.append(own)
                cross_root.append(root)
                cross_sim.append(s)
    roots_sorted = sorted(root_key, key=root_key.__getitem__)
    m = len(roots_sorted)
    root_node = {root: i for i, root in enumerate(roots_sorted)}

    # Nodes: earlier roots first (0..m-1), then new documents by id (m..m+n-1).
    edge_a = np.concatenate([m + rank[a], np.array([root_node[r] for r in cross_root], dtype=np.int64)])
    edge_b = np.concatenate([m + rank[b], m + rank[np.asarray(cross_new, dtype=np.int64)]])
    edge_sim = np.concatenate([sim, np.asarray(cross_sim, dtype=np.float64)])
    labels = min_labels(m + n, edge_a, edge_b)

    # Similarity reported for a duplicate: the best verified edge that touches it (-1 when
    # verification is off and no estimate exists).
    best = np.full(m + n, -1.0)
    scores = np.nan_to_num(edge_sim, nan=-1.0)
    np.maximum.at(best, edge_a, scores)
    np.maximum.at(best, edge_b, scores)
    sorted_ids = [ids[i] for i in order]
    duplicate_of: list[str | None] = []
    duplicate_order: list[int | None] = []
    similarity = np.full(n, np.nan)
    for i in range(n):
        node = m + rank[i]
        label = int(labels[node])
        if label == node:
            duplicate_of.append(None)
            duplicate_order.append(None)
            continue
        if label < m:
            duplicate_of.append(roots_sorted[label])
            duplicate_order.append(root_key[roots_sorted[label]][0])
        else:
            duplicate_of.append(sorted_ids[label - m])
            duplicate_order.append(None)
        similarity[i] = best[node] if best[node] >= 0 else np.nan
    return FuzzyResult(duplicate_of, duplicate_order, similarity, candidate_edges, len(set(zip(cross_new, cross_root))))
