"""The document batch schema and the rejects schema shared by every stage.

A document is one row: a stable `id`, the `text`, where it came from (`source`, `snapshot`,
`url`) and the columns each stage adds (`language`, `language_score`, ...). Every document that
a stage does not keep goes to a rejects table with the stage name, a reason and details, so
that `rows_in == kept + rejected` holds for every stage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

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


def document_schema(extra: Sequence[pa.Field] = (), without: Sequence[str] = (),
                    nullable: Sequence[str] = ()) -> pa.Schema:
    """DOCUMENT_FIELDS (minus `without`, with the `nullable` ones made nullable), then `extra`:
    every table of documents starts the same way."""
    fields = [f.with_nullable(True) if f.name in nullable else f for f in DOCUMENT_FIELDS if f.name not in without]
    return pa.schema([*fields, *extra])


_BY_NAME = {f.name: f for f in DOCUMENT_FIELDS}
REJECT_SCHEMA = pa.schema(
    [
        _BY_NAME["id"],
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        # JSON object with the scores behind the decision, e.g. {"language": "ja", ...}.
        pa.field("details", pa.string(), nullable=True),
        # Where it came from, and the text, so a rejected document can be inspected or
        # re-admitted after a stage is fixed; nullable, since a record may be rejected before
        # it has any of them.
        *(_BY_NAME[name].with_nullable(True) for name in ("source", "snapshot", "url", "text")),
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

