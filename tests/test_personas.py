import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.sources.personas import (
    DEMOGRAPHIC_FIELDS,
    NARRATIVE_FIELDS,
    PERSONA_COLUMNS,
    PersonaSchemaError,
    conform_persona_batch,
    persona_documents,
)


@pytest.fixture
def sample_rows(sample_dir):
    files = sorted((sample_dir / "personas" / "sample-100").glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def test_sample_has_the_real_26_column_schema(sample_rows):
    assert sample_rows.column_names == PERSONA_COLUMNS
    assert len(PERSONA_COLUMNS) == 26
    assert sample_rows.num_rows == 100
    assert sample_rows.schema.field("age").type == pa.int64()


def test_one_document_per_narrative_field_with_demographics(sample_rows):
    rows = conform_persona_batch(sample_rows.slice(0, 3), "sample")
    documents = persona_documents(rows, "sample-100")
    assert documents.num_rows == 3 * len(NARRATIVE_FIELDS)
    first = documents.slice(0, len(NARRATIVE_FIELDS)).to_pylist()
    assert [d["persona_field"] for d in first] == NARRATIVE_FIELDS
    uuid = rows.column("uuid")[0].as_py()
    assert all(d["uuid"] == uuid for d in first)
    for name in DEMOGRAPHIC_FIELDS:
        assert all(d[name] == rows.column(name)[0].as_py() for d in first)
    by_field = {d["persona_field"]: d["text"] for d in first}
    assert by_field["culinary_persona"] == rows.column("culinary_persona")[0].as_py()
    assert len(set(documents.column("id").to_pylist())) == documents.num_rows
    assert persona_documents(rows, "sample-100").column("id").equals(documents.column("id"))  # stable


def test_missing_column_is_a_clear_error(sample_rows):
    with pytest.raises(PersonaSchemaError, match=r"shard-3.parquet.*missing column\(s\) \['province'\]"):
        conform_persona_batch(sample_rows.drop_columns(["province"]), "shard-3.parquet")


def test_mistyped_column_is_a_clear_error(sample_rows):
    bad = sample_rows.set_column(PERSONA_COLUMNS.index("age"), "age", pa.array(["스무살"] * sample_rows.num_rows))
    with pytest.raises(PersonaSchemaError, match="column 'age'"):
        conform_persona_batch(bad, "shard-0.parquet")
