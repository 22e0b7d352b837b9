"""Score histograms of a stage partition, kept against rejected, as a PNG in the metadata.

The values come from the kept documents' score columns and from the rejects' details (the
stages write the same score names in both), so the picture shows where a threshold cuts. Each
series is a reservoir sample of at most SAMPLE_SIZE values: memory stays bounded however large
the partition, and the histogram of a 10^4 sample is indistinguishable from the full one.
"""

from __future__ import annotations

import base64
import io
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from curation.spec import ScoreColumn

SAMPLE_SIZE = 10_000
MAX_DETAILS_PARSED = 50_000  # rejects' details are JSON text; parsing stops counting here
FIGURE_DPI = 72  # a few tens of kB of PNG per stage in the event log

@dataclass
class _Reservoir:
    rng: random.Random
    values: list[float] = field(default_factory=list)
    seen: int = 0

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < SAMPLE_SIZE:
            self.values.append(value)
        else:  # Algorithm R: every value seen so far is in the sample with equal probability
            slot = self.rng.randrange(self.seen)
            if slot < SAMPLE_SIZE:
                self.values[slot] = value


class ScoreHistograms:
    """Collects samples of a stage's score columns (its spec's `scores`) from its kept and
    rejected batches."""

    def __init__(self, scores: Sequence[ScoreColumn], seed: int = 0) -> None:
        self.scores = tuple(scores)
        rng = random.Random(seed)
        self.samples = {(score.name, kind): _Reservoir(rng) for score in self.scores for kind in ("kept", "rejected")}
        self._details_parsed = 0

    def kept(self, table: pa.Table) -> None:
        for score in self.scores:
            if score.name in table.column_names:
                for value in table.column(score.name).to_pylist():
                    self._add(score.name, "kept", value)

    def rejected(self, table: pa.Table) -> None:
        if not self.scores or "details" not in table.column_names or self._details_parsed >= MAX_DETAILS_PARSED:
            return
        for text in table.column("details").to_pylist():
            if self._details_parsed >= MAX_DETAILS_PARSED:
                break
            self._details_parsed += 1
            try:
                details = json.loads(text) if text else {}
            except ValueError:
                continue
            for score in self.scores:
                if isinstance(details, dict):
                    self._add(score.name, "rejected", details.get(score.details_key or score.name))

    def _add(self, name: str, kind: str, value: object) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            self.samples[(name, kind)].add(float(value))

    def series(self) -> dict[str, dict[str, list[float]]]:
        """Score -> kept/rejected sampled values, for scores with any value."""
        out = {}
        for name in (score.name for score in self.scores):
            kept, rejected = self.samples[(name, "kept")].values, self.samples[(name, "rejected")].values
            if kept or rejected:
                out[name] = {"kept": kept, "rejected": rejected}
        return out

    def png(self) -> bytes | None:
        """One row per score: kept (blue) and rejected (orange) histograms on shared bins."""
        series = self.series()
        if not series:
            return None
        import matplotlib

        matplotlib.use("Agg")  # no display; must precede pyplot
        from matplotlib import pyplot as plt

        log_scale = {score.name: score.log_scale for score in self.scores}
        figure, axes = plt.subplots(len(series), 1, figsize=(7, 2.2 * len(series)), squeeze=False)
        for axis, (name, values) in zip(axes[:, 0], series.items()):
            everything = values["kept"] + values["rejected"]
            low, high = min(everything), max(everything)
            logged = log_scale[name] and low > 0
            if logged:
                low, high = math.log10(low), math.log10(high)
            bins = [low + (high - low) * i / 40 for i in range(41)] if high > low else [low - 0.5, low + 0.5]
            for kind, colour in (("kept", "tab:blue"), ("rejected", "tab:orange")):
                data = [math.log10(v) for v in values[kind]] if logged else values[kind]
                if data:
                    sampled = self.samples[(name, kind)]
                    axis.hist(data, bins=bins, alpha=0.6, color=colour,
                              label=f"{kind} ({sampled.seen:,}{' sampled' if sampled.seen > len(data) else ''})")
            axis.set_title(f"log10 {name}" if logged else name, fontsize=9)
            axis.tick_params(labelsize=8)
            axis.legend(fontsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
        plt.close(figure)
        return buffer.getvalue()

    def markdown(self) -> str | None:
        """The PNG inline as a data URI: the Dagster UI renders it in the metadata panel."""
        image = self.png()
        if image is None:
            return None
        return f"![score histograms](data:image/png;base64,{base64.b64encode(image).decode('ascii')})"
