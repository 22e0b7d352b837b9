"""The dedup library: signatures, sketches, components, exact and fuzzy decisions of one
partition (the index across partitions: test_dedup_index.py)."""

import itertools
import json
import random

import numpy as np
import pyarrow as pa
import pytest

from curation.dedup.backend import gpu_array_module, make_hasher
from curation.dedup.components import min_labels
from curation.dedup.engine import DedupSettings, deduplicate_partition
from curation.dedup.exact import text_hashes
from curation.dedup.index import DedupIndex
from curation.dedup.minhash import MinHashConfig, MinHasher, band_hashes, shingle_sets
from curation.dedup.sketch import bottom_k, pair_jaccard

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


# --- components ----------------------------------------------------------------------------

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


# --- exact keys ---------------------------------------------------------------------------

def test_text_hashes_fold_spacing_width_and_case_only():
    from curation.dedup.minhash import normalized_words

    texts = ["같은 문장입니다.", "같은  문장입니다. ", "ＡＢＣ 문장", "abc 문장", "다른 문장입니다.",
             "같은문장입니다."]
    hashes = text_hashes(texts)
    assert hashes[0] == hashes[1] and hashes[2] == hashes[3]
    assert len({hashes[0], hashes[4], hashes[5]}) == 3  # other words, or spaces removed: other texts
    assert np.array_equal(text_hashes(texts, [normalized_words(t) for t in texts]), hashes)


# --- sketches -----------------------------------------------------------------------------

def sketches(texts, size):
    hashes, doc = MinHasher().shingles(texts)
    return bottom_k(np, hashes, doc, len(texts), size)


def test_sketch_jaccard_is_exact_for_short_documents_and_close_for_long_ones():
    config = MinHashConfig()
    short = [BASE[0], typo(BASE[0], 3, 1), BASE[1], typo(BASE[1], 9, 2)]
    values, offsets = sketches(short, 512)
    lengths = np.diff(offsets)
    assert lengths.tolist() == [s.shape[0] for s in shingle_sets(short, config)]  # stored whole
    starts = offsets[:-1]
    pick = lambda rows: (np.concatenate([values[starts[r]:starts[r] + lengths[r]] for r in rows]), lengths[rows])  # noqa: E731
    a, b = [0, 2, 0], [1, 3, 2]
    got = pair_jaccard(*pick(a), *pick(b), size=512)
    assert np.allclose(got, [jaccard(short[x], short[y], config) for x, y in zip(a, b)], atol=1e-9)

    long = [" ".join(BASE) * 3, typo(" ".join(BASE) * 3, 40, 4)]
    values, offsets = sketches(long, 64)
    lengths = np.diff(offsets)
    assert lengths.tolist() == [64, 64]  # truncated to the bottom 64
    estimate = pair_jaccard(values[:64], lengths[:1], values[64:], lengths[1:], size=64)[0]
    assert abs(estimate - jaccard(*long, config)) < 0.12


def test_pair_jaccard_in_small_chunks_equals_one_chunk():
    texts = [typo(BASE[i % 4], i, i) for i in range(12)]
    values, offsets = sketches(texts, 512)
    lengths = np.diff(offsets)
    a_rows, b_rows = np.arange(0, 11), np.arange(1, 12)
    def side(rows):
        return np.concatenate([values[offsets[r]:offsets[r + 1]] for r in rows]), lengths[rows]
    whole = pair_jaccard(*side(a_rows), *side(b_rows), size=512)
    assert np.array_equal(pair_jaccard(*side(a_rows), *side(b_rows), size=512, chunk_values=50), whole)


# --- decisions of one partition ------------------------------------------------------------

def corpus():
    docs = {f"base{i}": text for i, text in enumerate(BASE)}
    docs["copy0"] = typo(BASE[0], 2, seed=1)
    docs["copy1"] = typo(BASE[1], 2, seed=2)
    docs["far0"] = typo(BASE[0], 40, seed=3)  # too edited to be a duplicate
    docs["exact0"] = BASE[0] + "  "
    return docs


def dedup(docs, index=None, name="p", settings=DedupSettings(shards=4)):
    table = pa.table({"id": list(docs), "text": list(docs.values())})
    read = lambda: [table.slice(0, 3), table.slice(3)]  # noqa: E731
    result = deduplicate_partition(read, name, settings, index=index)
    kept, rejected, _ = zip(*result.split(read()))
    return result, pa.concat_tables(kept), pa.concat_tables(rejected)


def test_first_document_of_a_component_is_kept_and_named():
    result, kept, rejected = dedup(corpus())
    found = {i: (t, why) for i, (t, why) in zip(rejected.column("id").to_pylist(),
                                                 zip([json.loads(d)["duplicate_of"]
                                                      for d in rejected.column("details").to_pylist()],
                                                     rejected.column("reason").to_pylist()))}
    assert found == {"copy0": ("base0", "fuzzy_duplicate"), "copy1": ("base1", "fuzzy_duplicate"),
                     "exact0": ("base0", "exact_duplicate")}
    assert jaccard(BASE[0], corpus()["far0"], MinHashConfig()) < 0.8
    assert kept.num_rows + rejected.num_rows == len(corpus())
    assert kept.column("duplicate_of").null_count == kept.num_rows
    similarity = {i: json.loads(d).get("similarity") for i, d in zip(rejected.column("id").to_pylist(),
                                                                       rejected.column("details").to_pylist())}
    assert similarity["copy0"] == pytest.approx(jaccard(BASE[0], corpus()["copy0"], MinHashConfig()), abs=1e-4)


def test_earlier_partitions_win_over_this_one(tmp_path):
    settings = DedupSettings(shards=4)
    index = DedupIndex.open(str(tmp_path), settings.layout())
    dedup({"old/a": BASE[2], "old/b": BASE[3]}, index, "old", settings)
    result, kept, rejected = dedup({"new/a": typo(BASE[2], 2, 9), "new/b": BASE[3], "new/c": BASE[3]},
                                   index, "new", settings)
    assert result.duplicates() == {0: ("old/a", "fuzzy_duplicate"), 1: ("old/b", "exact_duplicate"),
                                   2: ("old/b", "exact_duplicate")}
    assert kept.num_rows == 0


def test_unverified_mode_keeps_lsh_candidates_without_sketches():
    result, _, rejected = dedup(corpus(), settings=DedupSettings(shards=4, threshold=None))
    assert {"copy0", "copy1"} <= set(rejected.column("id").to_pylist())
    fuzzy = [json.loads(d) for d, why in zip(rejected.column("details").to_pylist(),
                                             rejected.column("reason").to_pylist())
             if why == "fuzzy_duplicate"]
    assert fuzzy and all("similarity" not in d for d in fuzzy)  # nothing was verified
    assert 0 < result.stats.verified_edges <= result.stats.candidate_pairs  # unique pairs of all bands


def test_a_changed_partition_between_passes_is_an_error():
    docs = corpus()
    table = pa.table({"id": list(docs), "text": list(docs.values())})
    result = deduplicate_partition(lambda: [table], "p", DedupSettings(shards=4))
    changed = table.set_column(0, "id", pa.array(["x"] + list(docs)[1:]))
    with pytest.raises(RuntimeError, match="changed between passes"):
        list(result.split([changed]))


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
    table = pa.table({"id": ids, "text": texts})
    on = {backend: deduplicate_partition(lambda: [table], "p", DedupSettings(backend=backend)).duplicates()
          for backend in ("cpu", "gpu")}
    assert on["cpu"] == on["gpu"]


def test_band_hashes_differ_per_band_for_equal_values():
    sig = np.zeros((1, 112), dtype=np.uint32)
    assert len(set(band_hashes(sig, 14)[0].tolist())) == 14
