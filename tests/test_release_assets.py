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


def test_the_release_loads_with_datasets_carries_page_licences_and_writes_jsonl_zst(tmp_path, materialise,
                                                                                  monkeypatch):
    import datasets
    import zstandard

    from resources.sources import WebInbox

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = tmp_path / "store"
    seed_store(store, tmp_path / "models")
    writer = PartitionWriter(str(store), "web/quality_filtered", "CC-3")
    writer.write_kept(pa.table({"id": ["wiki-1", "faq-1"], "text": [text(700), text(701)], "snapshot": ["CC-3"] * 2,
                                "url": ["https://wiki.example.kr/a.html", "https://faq.example.kr/b.html"]}))
    writer.commit(rows_in=2)
    licences = tmp_path / "web_licences.tsv"
    licences.write_text("url_prefix\tlicence\nhttps://wiki.example.kr/\tCC BY-SA 4.0\n", encoding="utf-8")
    config = {"ops": {"release__training_release": {"config": {"jsonl_zst": True}}}}
    result = materialise(release_assets, "v2", run_config=config,
                         web_inbox=WebInbox(root=str(tmp_path / "inbox"), licences=str(licences)))
    assert result.success
    manifest = read_manifest(str(store), "release/training_release", "v2")
    folder = store / "release" / "training_release" / "v2"
    card = (folder / "README.md").read_text()
    [kept_dir] = {str((folder / shard).parent) for shard in manifest.kept_shards}
    assert f"<this folder>/{(folder / manifest.kept_shards[0]).parent.relative_to(folder)}" in card
    loaded = datasets.load_dataset("parquet", data_dir=kept_dir, split="train")
    rows = pa.concat_tables([pq.read_table(p) for p in shard_paths(str(store), manifest)])
    assert loaded.num_rows == rows.num_rows == manifest.rows_kept
    assert loaded["id"] == rows.column("id").to_pylist() and set(loaded.column_names) >= {"text", "licence"}
    licence_of = dict(zip(loaded["id"], loaded["licence"]))
    assert licence_of["wiki-1"] == "CC BY-SA 4.0" and licence_of["faq-1"] == licence_of["w0"] != "CC BY-SA 4.0"
    assert "| web | CC BY-SA 4.0 | 1 |" in card and "jsonl.zst" in card
    jsonl = sorted((folder / manifest.kept_shards[0]).parent.parent.glob("jsonl/*.jsonl.zst"))
    assert len(jsonl) == len(manifest.kept_shards)
    lines = [json.loads(line) for path in jsonl
             for line in zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes()).splitlines()]
    assert lines == rows.to_pylist()
    # the same release without the option drops the jsonl copies of the same data folder
    assert materialise(release_assets, "v2", web_inbox=WebInbox(root=str(tmp_path / "inbox"),
                                                                licences=str(licences))).success
    assert not list(folder.glob("*/jsonl"))
