"""The document batch schema and the rejects schema shared by every stage.

A document is one row: a stable `id`, the `text`, where it came from (`source`, `snapshot`,
`url`) and the columns each stage adds (`language`, `language_score`, ...). Every document that
a stage does not keep goes to a rejects table with the stage name, a reason and details, so
that `rows_in == kept + rejected` holds for every stage.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Sequence

import pyarrow as pa

# Columns every document batch carries, in this order. Stage columns are appended after them.
DOCUMENT_FIELDS: list[pa.Field] = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("snapshot", pa.string(), nullable=False),
    pa.field("url", pa.string(), nullable=True),
]
DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS)

REJECT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        # JSON object with the scores behind the decision, e.g. {"language": "ja", ...}.
        pa.field("details", pa.string(), nullable=True),
        pa.field("source", pa.string(), nullable=True),
        pa.field("snapshot", pa.string(), nullable=True),
        pa.field("url", pa.string(), nullable=True),
        # Kept so a rejected document can be inspected or re-admitted after a stage is fixed.
        pa.field("text", pa.string(), nullable=True),
    ]
)


def document_id(source: str, snapshot: str, key: str | bytes) -> str:
    """A stable id: source + snapshot + a hash of the record's own key (URL, uuid+field...)."""
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return f"{source}/{snapshot}/{hashlib.sha1(raw).hexdigest()[:16]}"


def missing_columns(schema: pa.Schema, required: Sequence[str] = ("id", "text")) -> list[str]:
    return [name for name in required if name not in schema.names]


def require_columns(schema: pa.Schema, stage: str, required: Sequence[str] = ("id", "text")) -> None:
    """A clear error naming the stage and the columns, instead of a KeyError deep inside it."""
    missing = missing_columns(schema, required)
    if missing:
        raise ValueError(f"{stage}: input lacks required column(s) {missing}")


def details_json(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)


def _column_or_nulls(batch: pa.Table, name: str) -> pa.Array:
    if name in batch.column_names:
        return batch.column(name).combine_chunks().cast(pa.string())
    return pa.nulls(batch.num_rows, pa.string())


def rejects_table(
    batch: pa.Table, stage: str, reasons: Sequence[str], details: Sequence[str | None]
) -> pa.Table:
    """Rejects for every row of `batch` (already filtered to the rejected rows)."""
    if not (batch.num_rows == len(reasons) == len(details)):
        raise ValueError("one reason and one details entry per rejected row")
    return pa.table(
        {
            "id": _column_or_nulls(batch, "id"),
            "stage": pa.array([stage] * batch.num_rows, pa.string()),
            "reason": pa.array(list(reasons), pa.string()),
            "details": pa.array(list(details), pa.string()),
            "source": _column_or_nulls(batch, "source"),
            "snapshot": _column_or_nulls(batch, "snapshot"),
            "url": _column_or_nulls(batch, "url"),
            "text": _column_or_nulls(batch, "text"),
        },
        schema=REJECT_SCHEMA,
    )


def empty_rejects() -> pa.Table:
    return REJECT_SCHEMA.empty_table()


def rows_to_table(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)
