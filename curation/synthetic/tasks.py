"""Running LLM tasks in batches and splitting the outcomes into output rows and rejects: the
shared part of rephrasing and persona generation. One task = one chat request; every task ends
as one output row or one reject with its reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from curation.documents import details_json, rejects_table
from curation.llm import Completion, LLMClient, LLMError
from curation.synthetic.validate import Checked, OutputLimits, check_output
from curation.text import nfc


@dataclass
class Task:
    id: str  # of the output document
    messages: list[dict[str, str]]
    source_chars: int  # for the output length bound
    structure: str | None = None
    row: dict[str, Any] = field(default_factory=dict)  # columns carried into the output row
    params: dict[str, Any] = field(default_factory=dict)  # this request's own sampling (temperature, seed)


@dataclass
class Outcome:
    task: Task
    text: str | None  # None: rejected
    reason: str | None
    details: dict
    completion: Completion | None


def run_tasks(client: LLMClient, tasks: Sequence[Task], limits: OutputLimits = OutputLimits(),
              check: Callable[[Task, Completion], Checked] | None = None) -> list[Outcome]:
    """Send every task (bounded concurrency, retries and cache are the client's), then validate."""
    results = client.run_all([{"messages": task.messages, **task.params} if task.params else task.messages
                              for task in tasks])
    outcomes = []
    for task, result in zip(tasks, results):
        if isinstance(result, LLMError):
            outcomes.append(Outcome(task, None, "llm_error", {"error": str(result)[:300]}, None))
            continue
        checked = (check(task, result) if check is not None else
                   check_output(result.text, result.finish_reason, task.source_chars, task.structure, limits))
        outcomes.append(Outcome(task, checked.text if checked.reason is None else None, checked.reason,
                                checked.details, result))
    return outcomes


def outcome_tables(outcomes: Sequence[Outcome], schema: pa.Schema, stage: str) -> tuple[pa.Table, pa.Table]:
    """(outputs, rejects): outputs carry the task's row, the text, model and token counts."""
    kept, rejected = [], []
    for o in outcomes:
        # Not whether it came from the cache: outputs stay the same bytes on a re-run.
        usage = ({"model": o.completion.model, "prompt_tokens": o.completion.prompt_tokens,
                  "completion_tokens": o.completion.completion_tokens} if o.completion else {})
        if o.reason is None:
            kept.append({**o.task.row, "id": o.task.id, "text": nfc(o.text), **usage})
        else:
            rejected.append((o, {**o.task.row, "id": o.task.id,
                                 "text": o.text or (o.completion.text if o.completion else None)},
                             {**o.details, **usage}))
    rejects = rejects_table(pa.Table.from_pylist([row for _, row, _ in rejected]) if rejected else
                            pa.table({"id": pa.array([], pa.string())}),
                            stage, [o.reason for o, _, _ in rejected], [details_json(d) for _, _, d in rejected])
    return pa.Table.from_pylist(kept, schema=schema), rejects
