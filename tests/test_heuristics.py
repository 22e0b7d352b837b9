"""Korean heuristic filters: each rule on a Korean example it must catch and on prose it must
leave alone, and the stage's reasons, details and high-quality skip."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from curation.heuristics import (
    CharacterRatioFilter,
    EojeolLengthFilter,
    HeuristicFilter,
    JamoRunFilter,
    LengthFilter,
    LineStructureFilter,
    RepetitionFilter,
    TerminalEndingFilter,
)

PROSE = ("서울시는 내년부터 대중교통 환승 할인 제도를 확대해 광역버스와 지하철 사이의 환승 시간을 "
         "기존 30분에서 60분으로 늘린다고 밝혔다. 시는 이번 조치로 경기도와 인천에서 출퇴근하는 "
         "시민들의 교통비 부담이 줄어들 것으로 내다봤다.\n"
         "이번 제도는 교통카드를 사용하는 모든 시민에게 적용되며, 자세한 내용은 누리집에서 확인할 수 있다.")


def reason(f, text):
    return f.reason(f.score(text))


@pytest.mark.parametrize("f", [LengthFilter(), CharacterRatioFilter(), JamoRunFilter(), RepetitionFilter(),
                               LineStructureFilter(), EojeolLengthFilter(), TerminalEndingFilter()],
                         ids=lambda f: f.name)
def test_prose_passes_every_filter(f):
    assert reason(f, PROSE) is None


def test_length_counts_hangul_syllables_not_characters():
    assert reason(LengthFilter(), "최고의 영화 ㅋㅋ") == "too_short"
    assert reason(LengthFilter(), "A" * 300) == "too_short"  # no Korean text at all
    assert reason(LengthFilter(min_syllables=5), "최고의 영화였어요") is None


def test_character_ratios_catch_tables_symbols_and_link_lists():
    f = CharacterRatioFilter()
    assert reason(f, "2024 01 15 3,500 2024 01 16 3,800 2024 01 17 4,100 가격표") == "digit_ratio"
    assert reason(f, "★★★ 대박 이벤트 ★★★ ♥♥♥ 지금 바로 ♥♥♥ >>> 클릭 <<< ###") == "symbol_ratio"
    assert reason(f, "추천 http://spam.example.com/a http://spam.example.com/b www.spam.example.kr/c") == "url_ratio"
    # A notice citing its web address, with a Korean particle glued to it, is prose.
    assert reason(f, "청년공제에 새로 가입하려는 청년과 기업은 청년내일채움공제 누리집"
                     "(http://www.work.go.kr/youngtomorrow)에서 신청하면 된다.") is None


def test_jamo_runs_mark_chat_noise():
    assert reason(JamoRunFilter(), "ㅋㅋㅋㅋㅋㅋ 진짜 웃기다 ㅠㅠㅠㅠ 미쳤다 ㅎㅎㅎ") == "jamo_ratio"
    assert JamoRunFilter().score(PROSE)["jamo_ratio"] == 0.0


def test_repetition_catches_repeated_lines_and_keyword_stuffing():
    f = RepetitionFilter()
    lines = "\n".join(["최저가 할인 쇼핑몰 바로가기 지금 클릭"] * 4 + ["정상적인 안내 문장이 하나 있습니다."])
    assert reason(f, lines) == "duplicate_lines"
    stuffed = " ".join(["강남 맛집"] * 8 + ["추천", "리스트", "정리"])
    assert reason(f, stuffed) == "repeated_ngram"
    # twice is prose
    assert reason(f, "에지웨어 경을 설득해 달라는 부탁을 받은 푸아로는 에지웨어 경을 찾아간다.") is None


def test_line_structure_catches_menus_and_boilerplate():
    f = LineStructureFilter()
    menu = "\n".join(["홈", "뉴스", "스포츠", "연예", "날씨", "쇼핑", "이벤트 안내 페이지"])
    assert reason(f, menu) == "short_lines"
    footer = "\n".join(["로그인 | 회원가입", "이용약관 | 개인정보처리방침", "Copyright ⓒ 2026 All rights reserved",
                        "오늘의 소식을 전해 드립니다 많이 읽어 주세요"])
    assert reason(f, footer) == "boilerplate_lines"
    teasers = "\n".join(["정부가 새로운 경제 정책을 발표했는데 그 내용이...", "올해 가장 인기 있었던 여행지는 바로...",
                         "전문가들이 말하는 건강한 식습관의 비밀은...", "이번 주말 날씨는 전국적으로 맑겠습니다."])
    assert reason(f, teasers) == "ellipsis_lines"


def test_eojeol_length_catches_lost_spacing_and_word_lists():
    f = EojeolLengthFilter()
    assert (reason(f, "띄어쓰기가전혀없는문장은읽기가매우어렵고웹에서는스팸이나깨진텍스트에서자주보입니다")
            == "eojeol_too_long")
    assert reason(f, "가 나 다 라 마 바 사 아 자 차 카 타 파 하") == "eojeol_too_short"


def test_stage_rejects_with_first_reason_and_all_scores():
    stage = HeuristicFilter()
    batch = pa.table({"id": ["prose", "chat"],
                      "text": [PROSE, "ㅋㅋㅋㅋㅋㅋㅋ 대박 ㅠㅠㅠㅠㅠ 완전 웃겨 ㅎㅎㅎㅎ 진짜 재밌다 "
                                      "최고 오늘 영화 보고 왔는데 배우들 연기가 미쳤음"]})
    kept, rejected, stats = stage.process(batch)
    assert kept.column("id").to_pylist() == ["prose"]
    assert {"syllables", "jamo_ratio", "mean_eojeol_length"} <= set(kept.column_names)  # scores kept as columns
    row = rejected.to_pylist()[0]
    assert row["reason"] == "jamo_ratio" and row["stage"] == "heuristic_filtered"
    details = json.loads(row["details"])
    assert details["filter"] == "jamo" and details["jamo_ratio"] > 0.05
    assert stats.rejects_by_reason == {"jamo_ratio": 1} and stats.rows_in == 2 and stats.rows_kept == 1


def test_high_quality_bucket_skips_heuristics():
    stage = HeuristicFilter(skip_column="quality_bucket", skip_at_or_above=18)
    batch = pa.table({"id": ["a", "b"], "text": ["짧은 글", "짧은 글"], "quality_bucket": [19, 5]})
    kept, rejected, _ = stage.process(batch)
    assert kept.column("id").to_pylist() == ["a"]
    assert rejected.column("reason").to_pylist() == ["too_short"]
    assert kept.column("heuristics_skipped").to_pylist() == [True]  # the skip is a score column


def test_terminal_ending_catches_word_salad_but_not_headings_or_prose():
    import random

    f = TerminalEndingFilter()
    words = PROSE.replace("\n", " ").split()
    random.Random(3).shuffle(words)
    salad = " ".join(words)
    assert not salad.rstrip().endswith(("다.", "다"))
    assert reason(f, salad) == "unterminated_sentences"
    assert reason(f, "오늘의 주요 뉴스\n" + PROSE) is None  # a short heading does not count
    assert reason(f, "그는 “내일 다시 오겠다”고 말했다.\n정말 좋은 하루였어요") is None  # quotes, -요 ending


def test_batch_scoring_equals_scoring_each_text_alone():
    """The rules that count over the whole batch (code-point tables) must give exactly what
    their per-text `score` gives, on any Unicode: other scripts' digits and spaces, astral
    characters, URLs in any case, empty and null texts, and a scoring prefix."""
    import random

    rng = random.Random(11)
    alphabet = list("가나다 ㅋㅋㅠ\t\n\r\x0b\x0c\x1c\u2028\u3000\xa0\u200b²½Ⅻ一12３٣०abcXYZ_-.!?…다요"
                    "#@$%^&*+=<>|~\\/{}[]★※")
    alphabet += ["\U0001F600", "e\u0301", "http://a.b/c?d=1", "HTTPS://X.KR/", "www.naver.com/a b", PROSE]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)] + ["", None]
    batch = pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.string())})
    for prefix in (1_000_000, 9):
        stage = HeuristicFilter(score_prefix_chars=prefix)
        batched = stage.score_batch(batch)
        for f in stage.filters:
            for i, text in enumerate(texts):
                alone = f.score((text or "")[:prefix])
                for key, value in alone.items():
                    if key != "chars":
                        assert batched[key][i].as_py() == value, (f.name, key, repr(text))
        assert batched["chars"].to_pylist() == [float(len(t or "")) for t in texts]


def test_regex_free_line_tests_and_the_boilerplate_screen_equal_the_regexes():
    """ELLIPSIS_END and SENTENCE_END as str methods, and BOILERPLATE searched only in the texts
    its RE2 screen matches: the same scores as the regexes on every line, on texts built from
    boilerplate phrases in other cases, other scripts' spaces and digits, and case-folding
    oddities (dotless and dotted I, long s, Kelvin sign, circled letters)."""
    import random
    import re

    from curation.heuristics import BOILERPLATE, ELLIPSIS_END, ELLIPSIS_MARKS, SENTENCE_END, Texts, ends_sentence

    rng = random.Random(3)
    pieces = ["로그인", "회원 가입", "개인정보\u00a0처리\u3000방침", "무단전재", "COPYRIGHT", "Copyrıght",
              "COPYRİGHT", "ALL RIGHTS RESERVED", "all riſhts reserved", "Ⓒ", "ⓒ", "©", "top", "TOP", "ᴛop",
              "맨\u2000위로", "댓글 ３", "댓글٣", "댓글", "이전\u2028글", "…", "...", "‥", ". . .", "다.”", "요)」",
              "음」x", "’", "가나다", "abc", " ", "  ", "\t", "\n", "\r\n", "\r", "\u2028", "\x1c", "\x85", "\u3000",
              "\u200b", "K", "\u212a", "\x0b", "\x0c", "\x1d", "\x1e", "\u2029"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 25))) for _ in range(4000)]
    lines = [line for t in texts for line in t.splitlines()]
    assert [bool(ELLIPSIS_END.search(x)) for x in lines] == [x.rstrip().endswith(ELLIPSIS_MARKS) for x in lines]
    words = [w for x in lines for w in x.split()]
    from curation.heuristics import line_words

    assert all([w for line in line_words(t) for w in line] == t.split() for t in texts)  # as the rules read words
    assert [bool(SENTENCE_END.search(w)) for w in words] == [ends_sentence(w) for w in words]
    assert sum(map(ends_sentence, words)) > 100 and sum(bool(ELLIPSIS_END.search(x)) for x in lines) > 100
    batch = Texts(pa.array(texts))
    screened = batch.may_match(BOILERPLATE)
    held = [any(BOILERPLATE.search(x) for x in t.splitlines()) for t in texts]
    assert not any(h and not s for h, s in zip(held, screened))  # the screen never misses one
    assert sum(held) > 1000 and sum(screened) < len(texts)
    f = LineStructureFilter()
    scored = f.score_texts(batch)
    for i, text in enumerate(texts):
        assert {key: column[i] for key, column in scored.items()} == f.score(text), repr(text)
    # the screen's atoms: for each literal of the pattern, exactly the code points Python's re
    # matches for it (read off every code point), so RE2's own folding and \s, \d play no part
    from curation.text import _all_code_points, re2_screen

    everything = _all_code_points()
    single = pa.array(list(everything))
    for literal in sorted(set(BOILERPLATE.pattern) - set("\\|*$")):
        atom = re2_screen(re.compile(literal, BOILERPLATE.flags))  # no literal of it is a metacharacter
        by_re2 = np.flatnonzero(pc.match_substring_regex(single, f"^{atom}$").to_numpy(zero_copy_only=False))
        by_python = [m.start() for m in re.finditer(re.escape(literal), everything, BOILERPLATE.flags)]
        assert by_re2.tolist() == by_python, literal


def test_character_tables_read_off_the_patterns_equal_the_str_predicates_re_uses():
    import sys

    from curation.text import character_classes

    chars = [chr(c) if not 0xD800 <= c <= 0xDFFF else "" for c in range(sys.maxunicode + 1)]
    decimal = np.fromiter((c.isdecimal() for c in chars), bool, len(chars))
    letter = np.fromiter((c.isalnum() for c in chars), bool, len(chars)) & ~decimal
    letter[ord("_")] = False
    space = np.fromiter((c.isspace() for c in chars), bool, len(chars))
    tables = character_classes()
    assert np.array_equal(tables["decimal"], decimal) and np.array_equal(tables["space"], space)
    assert np.array_equal(tables["letter"], letter) and letter.sum() > 100_000
    assert tables["syllable"].sum() == 11_172 and tables["symbol"][ord("★")] and not tables["symbol"][ord("가")]
