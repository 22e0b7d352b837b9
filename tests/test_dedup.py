"""The dedup library: signatures, LSH, components, exact and fuzzy dedup, incremental index."""

import itertools
import random

import numpy as np
import pyarrow as pa
import pytest

from curation.dedup.backend import gpu_array_module, make_hasher
from curation.dedup.components import min_labels
from curation.dedup.exact import deduplicate_exact, text_hashes
from curation.dedup.fuzzy import IndexedBatch, deduplicate
from curation.dedup.lsh import bucket_edges
from curation.dedup.minhash import MinHashConfig, MinHasher, band_hashes
from curation.dedup.stage import deduplicate_file, signature_table, signatures_of
from curation.dedup.verify import exact_similarity, shingle_sets

BASE = [
    "리눅스 서버에서 디스크 사용량을 확인하려면 df 명령과 du 명령을 함께 사용하는 것이 좋습니다. "
    "df는 파일 시스템 전체의 남은 공간을, du는 디렉터리별 사용량을 보여 줍니다.",
    "김치찌개를 맛있게 끓이려면 잘 익은 김치와 돼지고기를 먼저 볶은 뒤 물을 붓고 "
    "두부와 대파를 넣어 한소끔 더 끓이면 됩니다. 간은 국간장으로 맞춥니다.",
    "서울시는 내년부터 대중교통 환승 할인 제도를 확대해 광역버스와 지하철 사이의 "
    "환승 시간을 기존 30분에서 60분으로 늘린다고 밝혔다.",
    "이 대화 상자에서 차트의 축 제목과 눈금 간격, 숫자 서식을 지정할 수 있습니다. "
    "변경 사항은 미리 보기 창에 바로 표시됩니다.",
]


def typo(text: str, edits: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    chars = list(text)
    for _ in range(edits):
        i = rng.randrange(len(chars))
        chars[i] = chr(0xAC00 + rng.randrange(11172))
    return "".join(chars)


def jaccard(a: str, b: str, config: MinHashConfig) -> float:
    x, y = shingle_sets([a, b], config)
    inter = np.intersect1d(x, y).shape[0]
    return inter / (x.shape[0] + y.shape[0] - inter)


# --- signatures ---------------------------------------------------------------------------

def test_signature_of_a_document_does_not_depend_on_its_batch():
    hasher = MinHasher()
    alone = hasher.signatures([BASE[0]])
    in_batch = hasher.signatures(BASE[::-1] + ["짧다", ""])
    assert alone.shape == (1, MinHashConfig().num_perm)
    assert alone.dtype == np.uint32
    assert np.array_equal(alone[0], in_batch[3])


def test_copies_differing_in_spacing_width_and_case_get_equal_signatures():
    hasher = MinHasher()
    spaced = "리눅스서버에서 디스크 사용량을   확인하려면 DF 명령을 씁니다"
    other = "리눅스 서버에서 디스크 사용량을 확인하려면 ｄｆ 명령을 씁니다"  # full-width letters
    a, b = hasher.signatures([spaced, other])
    assert np.array_equal(a, b)


def test_estimated_similarity_tracks_exact_jaccard():
    config = MinHashConfig(num_perm=256, bands=32)
    hasher = MinHasher(config)
    errors = []
    for seed, (text, edits) in enumerate(itertools.product(BASE, (1, 3, 6, 12))):
        copy = typo(text, edits, seed)
        a, b = hasher.signatures([text, copy])
        errors.append((a == b).mean() - jaccard(text, copy, config))
    assert abs(np.mean(errors)) < 0.03  # unbiased
    assert np.max(np.abs(errors)) < 0.15


def test_unrelated_documents_share_almost_no_signature_values():
    a, b = MinHasher().signatures(BASE[:2])
    assert (a == b).mean() < 0.1


def test_short_documents_get_full_signatures():
    sig = MinHasher().signatures(["굿", "굿", "최고", ""])
    assert not (sig == np.uint32(0xFFFFFFFF)).any()  # every bin densified
    assert np.array_equal(sig[0], sig[1])
    assert (sig[0] == sig[2]).mean() < 0.5


def test_layout_must_divide_signature():
    with pytest.raises(ValueError, match="multiple of bands"):
        MinHashConfig(num_perm=100, bands=14)


def test_signature_table_round_trip():
    sig = MinHasher().signatures(BASE)
    table = signature_table([f"d{i}" for i in range(4)], sig)
    assert table.schema.field("signature").type.list_size == sig.shape[1]
    assert np.array_equal(signatures_of(table), sig)


# --- LSH, components ----------------------------------------------------------------------

def test_bucket_edges_connect_every_bucket_member_and_nothing_else():
    hashes = np.array([7, 3, 7, 9, 3, 7], dtype=np.uint64)
    a, b = bucket_edges(hashes)
    labels = min_labels(6, a, b)
    assert labels.tolist() == [0, 1, 0, 3, 1, 0]
    assert len(a) <= 2 * 6


def test_min_labels_matches_a_reference_union_find():
    rng = np.random.default_rng(3)
    n = 300
    a = rng.integers(0, n, 200)
    b = rng.integers(0, n, 200)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find(x), find(y)
        parent[max(rx, ry)] = min(rx, ry)
    expected = [min(i for i in range(n) if find(i) == find(j)) for j in range(n)]
    assert min_labels(n, a, b).tolist() == expected


# --- exact --------------------------------------------------------------------------------

def test_exact_dedup_keeps_smallest_id_and_checks_earlier_partitions():
    texts = ["같은 문장입니다.", "같은  문장입니다. ", "다른 문장입니다.", "이전 파티션에 있던 문장"]
    hashes = text_hashes(texts)
    assert hashes[0] == hashes[1] != hashes[2]
    earlier = [(text_hashes(["이전 파티션에 있던 문장"]), ["old/1"])]
    result = deduplicate_exact(["b", "a", "c", "d"], hashes, earlier)
    assert result == ["a", None, None, "old/1"]


# --- fuzzy --------------------------------------------------------------------------------

def corpus():
    docs = {f"base{i}": text for i, text in enumerate(BASE)}
    docs["copy0"] = typo(BASE[0], 2, seed=1)
    docs["copy1"] = typo(BASE[1], 2, seed=2)
    docs["far0"] = typo(BASE[0], 40, seed=3)  # too edited to be a duplicate
    return docs


def test_fuzzy_dedup_keeps_smallest_id_and_names_it():
    docs = corpus()
    ids = list(docs)
    sig = MinHasher().signatures(list(docs.values()))
    batch = pa.table({"id": ids, "text": list(docs.values())})
    result = deduplicate(ids, sig, MinHashConfig().bands, 0.8,
                         similarity_of=lambda a, b: exact_similarity([batch], MinHashConfig(), a, b))
    found = dict(zip(ids, result.duplicate_of))
    assert found["base0"] is None and found["copy0"] == "base0"  # "base0" < "copy0"
    assert found["base1"] is None and found["copy1"] == "base1"
    assert found["far0"] is None
    assert found["base2"] is None and found["base3"] is None
    assert jaccard(docs["base0"], docs["far0"], MinHashConfig()) < 0.8


def test_exact_verification_agrees_with_brute_force_jaccard():
    config = MinHashConfig()
    docs = corpus()
    ids, texts = list(docs), list(docs.values())
    batch = pa.table({"id": ids, "text": texts})
    a = np.array([0, 0, 1], dtype=np.int64)
    b = np.array([4, 6, 5], dtype=np.int64)
    got = exact_similarity([batch.slice(0, 3), batch.slice(3)], config, a, b)
    expected = [jaccard(texts[x], texts[y], config) for x, y in zip(a, b)]
    assert np.allclose(got, expected)


def test_incremental_dedup_links_to_earlier_kept_document():
    hasher = MinHasher()
    earlier_ids = ["p1/a", "p1/b"]
    earlier_sig = hasher.signatures([BASE[0], typo(BASE[0], 1, seed=5)])
    # p1/b was a duplicate of p1/a in its own partition: its root is p1/a.
    index = [IndexedBatch(0, earlier_ids, earlier_sig, ["p1/a", "p1/a"], [0, 0])]
    new_ids = ["p2/x", "p2/y"]
    new_sig = hasher.signatures([typo(BASE[0], 2, seed=6), BASE[2]])
    result = deduplicate(new_ids, new_sig, MinHashConfig().bands, 0.8, index)
    assert result.duplicate_of == ["p1/a", None]
    assert result.duplicate_order == [0, None]
    assert result.similarity[0] >= 0.8
    assert result.cross_partition_matches >= 1


def test_deduplicate_file_accounts_for_every_document():
    docs = corpus()
    docs["exact0"] = BASE[0] + "  "
    table = pa.table({"id": list(docs), "text": list(docs.values())})
    hasher, backend = make_hasher(MinHashConfig(), "cpu")
    counts, split = deduplicate_file(lambda: [table.slice(0, 4), table.slice(4)], hasher, 0.8)
    kept, rejected = zip(*split)
    kept, rejected = pa.concat_tables(kept), pa.concat_tables(rejected)
    assert kept.num_rows + rejected.num_rows == len(docs)
    assert kept.column("duplicate_of").null_count == kept.num_rows
    reasons = dict(zip(rejected.column("id").to_pylist(), rejected.column("reason").to_pylist()))
    assert reasons == {"exact0": "exact_duplicate", "copy0": "fuzzy_duplicate", "copy1": "fuzzy_duplicate"}
    assert counts.rows_in == len(docs) and counts.rejects_by_reason["fuzzy_duplicate"] == 2


# --- backends -----------------------------------------------------------------------------

def test_gpu_request_without_gpu_falls_back_to_cpu_with_a_warning(caplog):
    if gpu_array_module()[0] is not None:
        pytest.skip("a GPU is usable here")
    hasher, backend = make_hasher(MinHashConfig(), "gpu")
    assert backend == "cpu"
    assert "falling back to the CPU" in caplog.text
    assert hasher.signatures(BASE).shape == (4, MinHashConfig().num_perm)


def test_gpu_and_cpu_signatures_and_duplicates_agree():
    cupy, why = gpu_array_module()
    if cupy is None:
        pytest.skip(f"no usable GPU: {why}")
    docs = corpus()
    texts = list(docs.values()) * 50
    ids = [f"{i:04d}" for i in range(len(texts))]
    cpu, _ = make_hasher(MinHashConfig(), "cpu")
    gpu, backend = make_hasher(MinHashConfig(), "gpu")
    assert backend == "gpu"
    cpu_sig, gpu_sig = cpu.signatures(texts), gpu.signatures(texts)
    assert np.array_equal(cpu_sig, gpu_sig)
    bands = MinHashConfig().bands
    assert deduplicate(ids, cpu_sig, bands, 0.8).duplicate_of == deduplicate(ids, gpu_sig, bands, 0.8).duplicate_of


def test_band_hashes_differ_per_band_for_equal_values():
    sig = np.zeros((1, 112), dtype=np.uint32)
    assert len(set(band_hashes(sig, 14)[0].tolist())) == 14
