"""Nemotron-Personas-Korea rows to documents: one document per narrative field.

The dataset (nvidia/Nemotron-Personas-Korea, CC BY 4.0) has 26 columns: a uuid, narrative
persona texts, attribute texts and demographics. Each narrative field of a row becomes one
document whose id is stable across runs (uuid + field); uuid and the demographic columns travel
with every document so later stages and checks can group by them.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curation.documents import document_id, document_schema
from curation.text import nfc_text

PERSONA_COLUMNS: list[str] = [
    "uuid", "professional_persona", "sports_persona", "arts_persona", "travel_persona",
    "culinary_persona", "family_persona", "persona", "cultural_background", "skills_and_expertise",
    "skills_and_expertise_list", "hobbies_and_interests", "hobbies_and_interests_list",
    "career_goals_and_ambitions", "sex", "age", "marital_status", "military_status", "family_type",
    "housing_type", "education_level", "bachelors_field", "occupation", "district", "province",
    "country",
]
# Free-text fields written as prose; the *_list columns are Python list literals, not prose.
NARRATIVE_FIELDS: list[str] = [
    "persona", "professional_persona", "sports_persona", "arts_persona", "travel_persona",
    "culinary_persona", "family_persona", "cultural_background", "skills_and_expertise",
    "hobbies_and_interests", "career_goals_and_ambitions",
]
DEMOGRAPHIC_FIELDS: list[str] = [
    "sex", "age", "marital_status", "military_status", "family_type", "housing_type",
    "education_level", "bachelors_field", "occupation", "district", "province", "country",
]

PERSONA_ROW_SCHEMA = pa.schema(
    [pa.field(name, pa.int64() if name == "age" else pa.string()) for name in PERSONA_COLUMNS]
)

PERSONA_DOCUMENT_SCHEMA = document_schema(
    [pa.field("uuid", pa.string()), pa.field("persona_field", pa.string()),
     *(pa.field(name, PERSONA_ROW_SCHEMA.field(name).type) for name in DEMOGRAPHIC_FIELDS)])


class PersonaSchemaError(ValueError):
    pass


def conform_persona_batch(batch: pa.Table, origin: str) -> pa.Table:
    """Check a batch against the 26-column schema and cast it; a clear error names the file."""
    missing = [c for c in PERSONA_COLUMNS if c not in batch.column_names]
    if missing:
        raise PersonaSchemaError(f"{origin}: not a Nemotron-Personas-Korea file, missing column(s) {missing}")
    columns = []
    for schema_field in PERSONA_ROW_SCHEMA:
        column = batch.column(schema_field.name)
        try:
            columns.append(column.cast(schema_field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise PersonaSchemaError(
                f"{origin}: column {schema_field.name!r} is {column.type}, expected {schema_field.type} ({error})"
            ) from error
    return pa.Table.from_arrays(columns, schema=PERSONA_ROW_SCHEMA)


def persona_documents(rows: pa.Table, release: str) -> pa.Table:
    """One document per (row, narrative field), empty fields included (the next stage rejects
    them with a reason, so every field of every row is accounted for)."""
    pieces = []
    for field_name in NARRATIVE_FIELDS:
        uuids = rows.column("uuid").to_pylist()
        texts = pc.fill_null(rows.column(field_name), "")
        columns: dict[str, Any] = {
            "id": pa.array([document_id("personas", release, f"{u}:{field_name}") for u in uuids], pa.string()),
            "text": texts,
            "source": pa.array(["personas"] * rows.num_rows, pa.string()),
            "snapshot": pa.array([release] * rows.num_rows, pa.string()),
            "url": pa.nulls(rows.num_rows, pa.string()),
            "uuid": rows.column("uuid"),
            "persona_field": pa.array([field_name] * rows.num_rows, pa.string()),
        }
        for name in DEMOGRAPHIC_FIELDS:
            columns[name] = rows.column(name)
        pieces.append(pa.table(columns, schema=PERSONA_DOCUMENT_SCHEMA))
    if not pieces:
        return PERSONA_DOCUMENT_SCHEMA.empty_table()
    # Interleave back to row order (row 0's fields, then row 1's...) for readable previews.
    table = pa.concat_tables(pieces)
    order = [f * rows.num_rows + r for r in range(rows.num_rows) for f in range(len(NARRATIVE_FIELDS))]
    return nfc_text(table.take(pa.array(order, pa.int64())))
