"""Connected components over duplicate edges, labelled by their smallest node.

Nodes are numbered in keep-priority order (earliest partition first, then id), so a
component's smallest node is the document it keeps.
"""

from __future__ import annotations

import numpy as np


def min_labels(num_nodes: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For every node, the smallest node of its component (min-label propagation with pointer
    jumping: a few vectorised passes, no Python loop over edges)."""
    labels = np.arange(num_nodes, dtype=np.int64)
    if a.shape[0] == 0:
        return labels
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while True:
        smaller = np.minimum(labels[a], labels[b])
        updated = labels.copy()
        np.minimum.at(updated, a, smaller)
        np.minimum.at(updated, b, smaller)
        while True:  # pointer jumping: a label's label is also a label of the component
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, labels):
            return labels
        labels = updated
