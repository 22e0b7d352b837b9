"""Nemotron-CC rephrasing: each document is routed by its quality bucket to its styles,
chunked to the model's input limit, and every (document, style, chunk) becomes one task."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from curation.documents import document_schema
from curation.stage import text_column
from curation.synthetic.chunking import chunk_text
from curation.synthetic.styles import DEFAULT_ROUTING, messages_for, styles_for
from curation.synthetic.tasks import Task

REPHRASED_SCHEMA = document_schema(nullable=("source", "snapshot"), extra=[
    pa.field("source_id", pa.string()),
    pa.field("style", pa.string()),
    pa.field("chunk_index", pa.int32()),
    pa.field("chunks", pa.int32()),
    pa.field("quality_bucket", pa.int64()),
    pa.field("model", pa.string()),
    pa.field("prompt_tokens", pa.int64()),
    pa.field("completion_tokens", pa.int64()),
])


def rephrase_tasks(batch: pa.Table, buckets: Iterable[int], max_chunk_chars: int = 3000,
                   routing: dict[str, list[str]] = DEFAULT_ROUTING) -> list[Task]:
    """Tasks for a batch of documents with their quality buckets (0-19)."""
    tasks = []
    columns = {name: batch.column(name).to_pylist() if name in batch.column_names else [None] * batch.num_rows
               for name in ("id", "source", "snapshot", "url")}
    for i, (text, bucket) in enumerate(zip(text_column(batch), buckets)):
        chunks = chunk_text(text, max_chunk_chars)
        for style in styles_for(int(bucket), routing):
            for index, chunk in enumerate(chunks):
                row = {"source": columns["source"][i], "snapshot": columns["snapshot"][i], "url": columns["url"][i],
                       "source_id": columns["id"][i], "style": style.name, "chunk_index": index,
                       "chunks": len(chunks), "quality_bucket": int(bucket)}
                tasks.append(Task(f"{columns['id'][i]}#{style.name}#{index}", messages_for(style, chunk),
                                  len(chunk), style.structure, row))
    return tasks
