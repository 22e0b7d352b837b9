"""Metadata that a data engineer reads in the UI for every stage partition."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa

from curation.io import Manifest

PREVIEW_ROWS = 5
PREVIEW_CHARS = 120


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "_(none)_"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def preview_columns(table: pa.Table, preferred: list[str]) -> list[str]:
    return [c for c in preferred if c in table.column_names]


def stage_metadata(manifest: Manifest, partition_url: str, kept_preview: pa.Table | None,
                   rejected_preview: pa.Table | None, seconds: float,
                   preview: list[str] = ("id", "url", "language", "language_score", "text")) -> dict[str, Any]:
    reasons = [{"reason": r, "documents": n} for r, n in manifest.rejects_by_reason.items()]
    metadata: dict[str, Any] = {
        "dagster/row_count": manifest.rows_kept,
        "rows_in": manifest.rows_in,
        "rows_kept": manifest.rows_kept,
        "rows_rejected": manifest.rows_rejected,
        "keep_rate": round(manifest.rows_kept / manifest.rows_in, 4) if manifest.rows_in else 0.0,
        "rejects_by_reason": dg.MetadataValue.md(markdown_table(reasons, ["reason", "documents"])),
        "rejects_by_reason_json": dg.MetadataValue.json(manifest.rejects_by_reason),
        "shards": len(manifest.kept_shards),
        "location": dg.MetadataValue.path(partition_url),
        "seconds": round(seconds, 3),
        "docs_per_second": round(manifest.rows_in / seconds, 1) if seconds > 0 else 0.0,
    }
    if kept_preview is not None:
        cols = preview_columns(kept_preview, list(preview))
        metadata["preview_kept"] = dg.MetadataValue.md(
            markdown_table(kept_preview.slice(0, PREVIEW_ROWS).to_pylist(), cols)
        )
    if rejected_preview is not None and rejected_preview.num_rows:
        metadata["preview_rejected"] = dg.MetadataValue.md(
            markdown_table(rejected_preview.slice(0, PREVIEW_ROWS).to_pylist(), ["id", "reason", "details", "text"])
        )
    return metadata
