"""The release asset over committed partitions of several sources: shards, rejects, card,
counts per source, and the same bytes on a re-run."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
from test_release import PROSE, text

from assets.release import release_assets
from curation.io import PartitionWriter, read_manifest, shard_paths


def seed_store(root, models):
    import sentencepiece

    for stage, partition, prefix, start, n in (("web/quality_filtered", "CC-1", "w", 0, 120),
                                               ("web/quality_filtered", "CC-2", "w", 120, 80),
                                               ("personas/quality_filtered", "sample-100", "p", 500, 60)):
        writer = PartitionWriter(str(root), stage, partition)
        writer.write_kept(pa.table({"id": [f"{prefix}{i}" for i in range(start, start + n)],
                                    "text": [text(i) for i in range(start, start + n)],
                                    "snapshot": [partition] * n}))
        writer.commit(rows_in=n)
    writer = PartitionWriter(str(root), "synthetic/quality_filtered", "sample-100")
    writer.write_kept(pa.table({"id": ["qa-copy", "qa-1", "qa-2"], "text": [text(5), text(900), text(901)],
                                "snapshot": ["sample-100"] * 3}))
    writer.commit(rows_in=3)
    folder = models / "perplexity_model"
    folder.mkdir(parents=True)
    (folder / "corpus.txt").write_text("\n".join([PROSE] * 200), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(input=str(folder / "corpus.txt"), model_prefix=str(folder / "sp"),
                                             vocab_size=58, character_coverage=0.9995, minloglevel=2)


def test_a_release_is_assembled_from_every_partition_with_a_card(tmp_path, materialise):
    seed_store(tmp_path / "store", tmp_path / "models")
    config = {"ops": {"release__training_release": {"config": {"weights": {"web": 1.0, "personas": 0.5,
                                                                           "persona_qa": 1.0}, "seed": 3}}}}
    result = materialise(release_assets, "v1", run_config=config)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    store = str(tmp_path / "store")
    manifest = read_manifest(store, "release/training_release", "v1")
    extra = manifest.extra
    assert extra["documents_in"] == {"web": 200, "personas": 60, "persona_qa": 3}
    assert extra["documents_out"]["web"] == 200 and 15 <= extra["documents_out"]["personas"] <= 45
    assert extra["documents_out"]["persona_qa"] == 2 and extra["rejects"] == {"persona_qa:cross_source_duplicate": 1}
    assert extra["sources"]["web"] == ["CC-1", "CC-2"]
    rows = pa.concat_tables([pq.read_table(p) for p in shard_paths(store, manifest)])
    assert rows.num_rows == manifest.rows_kept == sum(extra["documents_out"].values())
    assert sum(rows.column("tokens").to_pylist()) == sum(extra["tokens_out"].values()) > 0
    rejects = pa.concat_tables([pq.read_table(p) for p in shard_paths(store, manifest, "rejects")])
    assert rejects.column("id").to_pylist() == ["qa-copy"]
    card = (tmp_path / "store" / "release" / "training_release" / "v1" / "README.md").read_text()
    assert "CC BY 4.0 (Nemotron-Personas-Korea, NVIDIA)" in card and "persona_qa:cross_source_duplicate" in card
    assert "web/quality_filtered" in card and "tokenizer_sha256" in card
    assert "Rejects upstream" in card
    first = manifest.kept_shards
    again = materialise(release_assets, "v1", run_config=config)
    assert again.success and read_manifest(store, "release/training_release", "v1").kept_shards == first  # same bytes
    assert json.dumps(extra["weights"], sort_keys=True) == json.dumps({"persona_qa": 1.0, "personas": 0.5,
                                                                       "web": 1.0}, sort_keys=True)
