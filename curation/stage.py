"""The shared base of every document stage: score, decide, split into kept and rejects.

As in NeMo Curator, scoring is apart from deciding (`score_batch` / `decide`), so scores are
stored as columns before any threshold applies; as in datatrove, every drop carries a reason,
and what a batch counted comes back with it as one explicit `BatchStats` (datatrove's
`stat_update`, made a value). A stage holds configuration and lazily loaded models only, never
state between calls: `decide` sees the scores and nothing else, so batches may be scored and
decided in any order, on any worker, and their stats summed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.documents import REJECT_SCHEMA, details_json, rejects_table, require_columns


@dataclass
class Decision:
    """Per row: keep or not, and for dropped rows a reason and the details behind it."""

    keep: np.ndarray  # bool, one per row
    reasons: list[str | None]
    details: list[dict[str, Any] | None]


@dataclass
class BatchStats:
    """What one batch (or, summed, a partition) counted: rows in and kept, rejects by reason,
    and `extra` counters of the stage (such as PII redactions by type)."""

    rows_in: int = 0
    rows_kept: int = 0
    rejects_by_reason: Counter = field(default_factory=Counter)
    extra: Counter = field(default_factory=Counter)

    def __iadd__(self, other: BatchStats) -> BatchStats:
        self.rows_in += other.rows_in
        self.rows_kept += other.rows_kept
        self.rejects_by_reason.update(other.rejects_by_reason)
        self.extra.update(other.extra)
        return self

    def __add__(self, other: BatchStats) -> BatchStats:
        total = BatchStats()
        total += self
        total += other
        return total

    @classmethod
    def of(cls, rows_in: int, kept: pa.Table, rejected: pa.Table, extra: Counter | None = None) -> BatchStats:
        """The stats of one split: `rows_in` documents became `kept` and `rejected`."""
        reasons = Counter(rejected.column("reason").to_pylist()) if rejected.num_rows else Counter()
        return cls(rows_in=rows_in, rows_kept=kept.num_rows, rejects_by_reason=reasons, extra=extra or Counter())

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejects_by_reason.values())

    def summary(self, stage: str) -> str:
        reasons = ", ".join(f"{reason}={count}" for reason, count in sorted(self.rejects_by_reason.items()))
        return f"{stage}: {self.rows_in} in, {self.rows_kept} kept, {self.rows_rejected} rejected" + (
            f" ({reasons})" if reasons else ""
        )


class DocumentStage(ABC):
    """A stage that adds score columns to a batch and keeps or rejects each document."""

    name: str = "stage"
    required_columns: Sequence[str] = ("id", "text")
    # Columns not carried into kept documents (e.g. raw payload bytes once text is extracted).
    dropped_columns: Sequence[str] = ()

    @abstractmethod
    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        """Score columns for every row of the batch (added to kept documents)."""

    @abstractmethod
    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        """Keep or reject each row from its scores alone."""

    def batch_extra(self, scores: dict[str, pa.Array]) -> Counter:
        """Extra counters of one batch, from its scores (none by default)."""
        return Counter()

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table, BatchStats]:
        require_columns(batch.schema, self.name, self.required_columns)
        scores = self.score_batch(batch)
        decision = self.decide(scores)
        scored = batch
        for column, values in scores.items():
            if column in scored.column_names:
                scored = scored.set_column(scored.column_names.index(column), column, values)
            else:
                scored = scored.append_column(column, values)
        keep_mask = pa.array(decision.keep, pa.bool_())
        kept = scored.drop_columns([c for c in self.dropped_columns if c in scored.column_names]).filter(keep_mask)
        rejected_rows = np.flatnonzero(~decision.keep)
        rejected = rejects_table(
            scored.take(pa.array(rejected_rows, pa.int64())),
            self.name,
            [decision.reasons[i] or "rejected" for i in rejected_rows],
            [details_json(decision.details[i] or {}) for i in rejected_rows],
        )
        return kept, rejected, BatchStats.of(batch.num_rows, kept, rejected, self.batch_extra(scores))


def all_kept(batch: pa.Table) -> tuple[pa.Table, pa.Table, BatchStats]:
    """A batch that passes whole (a source asset's rows): kept, no rejects, its stats."""
    rejected = REJECT_SCHEMA.empty_table()
    return batch, rejected, BatchStats.of(batch.num_rows, batch, rejected)


def with_stats(pairs: Iterable[tuple[pa.Table, pa.Table]]) -> Iterator[tuple[pa.Table, pa.Table, BatchStats]]:
    """(kept, rejected) pairs whose input was exactly their rows, with their stats."""
    for kept, rejected in pairs:
        yield kept, rejected, BatchStats.of(kept.num_rows + rejected.num_rows, kept, rejected)


def text_array(batch: pa.Table) -> pa.Array:
    """The text column as one Arrow string array, nulls as empty strings."""
    return pc.fill_null(batch.column("text").cast(pa.string()), "").combine_chunks()


def text_column(batch: pa.Table) -> list[str]:
    """The text column as Python strings, nulls as empty strings."""
    return text_array(batch).to_pylist()
