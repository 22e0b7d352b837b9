"""Progress of a long job: documents (and tokens) done, the rate, and an ETA when the total is
known, reported at most every `every_s` seconds: on a terminal by the CLI, as periodic log
lines by the Dagster assets."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Progress:
    label: str
    total: int | None = None  # documents, when known: gives the ETA
    report: Callable[[str], None] | None = None
    every_s: float = 5.0
    documents: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    _last: float = field(default_factory=time.perf_counter)

    def add(self, documents: int, tokens: int = 0) -> None:
        self.documents += documents
        self.tokens += tokens
        now = time.perf_counter()
        if self.report is not None and now - self._last >= self.every_s:
            self._last = now
            self.report(self.line())

    def line(self) -> str:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        rate = self.documents / seconds
        of = f" of {self.total:,}" if self.total else ""
        parts = [f"{self.label}: {self.documents:,}{of} documents ({rate:,.0f}/s"]
        if self.tokens:
            parts.append(f", {self.tokens / seconds:,.0f} tokens/s")
        parts.append(")")
        if self.total and rate > 0 and self.documents < self.total:
            parts.append(f", ETA {(self.total - self.documents) / rate:,.0f} s")
        return "".join(parts)


def terminal(message: str) -> None:
    """A progress line on stderr, only when stderr is a terminal (logs and pipes stay clean)."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)
