"""LSH banding: candidate pairs from band hashes.

Within a bucket every member is paired with the bucket's first member (its anchor) and with
the member before it, two edges per document whatever the bucket size, instead of all
pairs; connected components then join what the buckets join. Verification (curation.dedup.
fuzzy) keeps an edge only when its similarity reaches the threshold, so that LSH's loose
buckets do not chain unrelated documents.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from curation.dedup.minhash import band_hash, band_hashes


def bucket_edges(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (a, b), a < b, between rows that share a value of `hashes` (one band)."""
    order = np.argsort(hashes, kind="stable")  # stable: within a bucket, row order
    sorted_hashes = hashes[order]
    same_as_previous = np.zeros(order.shape[0], dtype=bool)
    same_as_previous[1:] = sorted_hashes[1:] == sorted_hashes[:-1]
    members = np.flatnonzero(same_as_previous)
    if members.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    bucket_start = np.maximum.accumulate(np.where(same_as_previous, 0, np.arange(order.shape[0])))
    anchors = order[bucket_start[members]]
    previous = order[members - 1]
    current = order[members]
    a = np.concatenate([anchors, previous])
    b = np.concatenate([current, current])
    keep = a != b
    return np.minimum(a, b)[keep], np.maximum(a, b)[keep]


def estimated_similarity(a_sig: np.ndarray, b_sig: np.ndarray) -> np.ndarray:
    """The MinHash estimate of the Jaccard similarity: share of equal signature positions."""
    return (a_sig == b_sig).mean(axis=1) if a_sig.shape[0] else np.empty(0)


def verified(a_sig: np.ndarray, b_sig: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Mask of pairs whose estimated Jaccard reaches the threshold, and the estimates."""
    similarity = estimated_similarity(a_sig, b_sig)
    return similarity >= threshold, similarity


def edges_within(signatures: np.ndarray, bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Unverified candidate edges (a < b) among the rows of one signature matrix, band by band
    (one band's hashes in memory at a time)."""
    a_parts, b_parts = [], []
    for band in range(bands):
        a, b = bucket_edges(band_hash(signatures, bands, band))
        a_parts.append(a)
        b_parts.append(b)
    if not a_parts or not sum(len(a) for a in a_parts):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(a_parts), np.concatenate(b_parts)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


class BandIndex:
    """The band hashes of one set of documents (the new partition), for looking up others."""

    def __init__(self, signatures: np.ndarray, bands: int) -> None:
        self.bands = bands
        self.signatures = signatures
        hashes = band_hashes(signatures, bands)
        self._sorted: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        for band in range(bands):
            order = np.argsort(hashes[:, band], kind="stable")
            self._sorted.append(hashes[order, band])
            self._rows.append(order)

    def matches(self, other_signatures: np.ndarray, threshold: float | None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(other_row, own_row, similarity) for verified pairs, band by band (may repeat)."""
        other_hashes = band_hashes(other_signatures, self.bands)
        for band in range(self.bands):
            table, rows = self._sorted[band], self._rows[band]
            probe = other_hashes[:, band]
            left = np.searchsorted(table, probe, side="left")
            right = np.searchsorted(table, probe, side="right")
            counts = right - left
            hit = np.flatnonzero(counts)
            if hit.shape[0] == 0:
                continue
            other_rows = np.repeat(hit, counts[hit])
            offsets = np.arange(other_rows.shape[0]) - np.repeat(np.cumsum(counts[hit]) - counts[hit], counts[hit])
            own_rows = rows[np.repeat(left[hit], counts[hit]) + offsets]
            if threshold is None:
                yield other_rows, own_rows, np.full(other_rows.shape[0], np.nan)
                continue
            ok, similarity = verified(other_signatures[other_rows], self.signatures[own_rows], threshold)
            yield other_rows[ok], own_rows[ok], similarity[ok]
