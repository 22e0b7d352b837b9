import importlib.util
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curation.pii import PII_CANDIDATE, PII_TYPES, PiiRedactor, find_pii, redact


def with_registration_check(first12: str, valid: bool = True) -> str:
    """YYMMDD-GXXXXX plus a check digit that is right (issued before October 2020) or wrong."""
    digits = first12.replace("-", "")
    check = (11 - sum(w * int(d) for w, d in zip((2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), digits)) % 11) % 10
    return first12 + str(check if valid else (check + 3) % 10)


def with_brn_check(first9: str, valid: bool = True) -> str:
    digits = first9.replace("-", "")
    total = sum(w * int(d) for w, d in zip((1, 3, 7, 1, 3, 7, 1, 3, 5), digits)) + int(digits[8]) * 5 // 10
    check = (10 - total % 10) % 10
    return first9 + str(check if valid else (check + 1) % 10)


RRN = with_registration_check("900101-123456")
RRN_POST_2020 = with_registration_check("211015-304512", valid=False)  # random last digit since Oct 2020
FRN = with_registration_check("850315-512345")
BRN = with_brn_check("220-81-6251")

# (text, PII value inside it, type)
POSITIVES = [
    (f"본인 확인을 위해 주민등록번호 {RRN}를 입력했습니다.", RRN, "RRN"),
    (f"주민번호: {RRN.replace('-', '')}", RRN.replace("-", ""), "RRN"),
    (f"외국인등록번호 {FRN}으로 조회했습니다.", FRN, "FRN"),
    ("자세한 문의는 010-1234-5678로 연락 주세요.", "010-1234-5678", "PHONE"),
    ("연락처:01098765432", "01098765432", "PHONE"),
    ("담당자 김민수 (02-3456-7890)", "02-3456-7890", "PHONE"),
    ("해외에서는 +82 10-2345-6789로 걸어 주세요.", "+82 10-2345-6789", "PHONE"),
    ("고객센터 1588-1234(평일 9시~18시)", "1588-1234", "PHONE"),
    ("부산 지점 051.234.5678 번으로", "051.234.5678", "PHONE"),
    ("메일은 hong.gildong@naver.com으로 보내 주세요.", "hong.gildong@naver.com", "EMAIL"),
    ("결제하신 카드 4111-1111-1111-1111의 승인이 취소되었습니다.", "4111-1111-1111-1111", "CARD"),
    ("아멕스 카드 3782 822463 10005 등록", "3782 822463 10005", "CARD"),
    ("카드번호 5555555555554444", "5555555555554444", "CARD"),
    ("입금 계좌: 국민은행 123456-12-123456 (예금주 홍길동)", "123456-12-123456", "ACCOUNT"),
    ("110-123-456789 (신한, 예금주 홍길동)로 보내 주세요.", "110-123-456789", "ACCOUNT"),
    ("카카오뱅크 3333-12-1234567로 입금", "3333-12-1234567", "ACCOUNT"),
    (f"상호: 한빛상사 | 사업자등록번호: {BRN}", BRN, "BRN"),
    ("여권번호 M12345678, 만료일 2031.05.20", "M12345678", "PASSPORT"),
    ("신규 여권 M123A4567이 발급되었습니다.", "M123A4567", "PASSPORT"),
    ("성명 김민수\n여권번호\nS90078068\n국적 대한민국", "S90078068", "PASSPORT"),  # a form's label on its own line
    ("접속 IP: 192.168.0.15에서 로그인 실패", "192.168.0.15", "IP"),
    ("서버 주소는 2001:db8:85a3::8a2e:370:7334입니다.", "2001:db8:85a3::8a2e:370:7334", "IP"),
    ("접속 IP：fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a", "IP"),
]


@pytest.mark.parametrize("text, value, pii_type", POSITIVES, ids=[f"{t}-{i}" for i, (_, _, t) in enumerate(POSITIVES)])
def test_each_type_is_replaced_by_its_placeholder(text, value, pii_type):
    redacted, counts = redact(text)
    assert redacted == text.replace(value, f"<{pii_type}>")
    assert counts == {pii_type: 1}
    # No run of 4+ digits of the original survives.
    for run in re.findall(r"\d{4,}", value):
        assert run not in redacted


def test_post_2020_rrn_with_a_wrong_check_digit_is_still_redacted():
    assert redact(f"주민등록번호 {RRN_POST_2020}")[0] == "주민등록번호 <RRN>"
    # With the hyphen no keyword is needed.
    assert redact(f"신청인 김민수({RRN_POST_2020})")[0] == "신청인 김민수(<RRN>)"
    # The check digit only sets the confidence.
    spans = find_pii(f"{RRN} 그리고 {RRN_POST_2020}")
    assert [(span.type, span.confidence) for span in spans] == [("RRN", "high"), ("RRN", "medium")]
    # Bare and unlabelled, a 13-digit run needs its check digit (order numbers are 13 digits too).
    assert redact(f"참고 {RRN_POST_2020.replace('-', '')}")[1] == {}


NEGATIVES = [
    "991332-1234567",  # month 13, day 32
    "주민번호 900230-1234567",  # February 30
    "주민번호 300101-3234567",  # born in 2030: in the future
    "결제 카드 4111-1111-1111-1112",  # Luhn fails
    "카드번호 1234567890123456",  # Luhn fails
    f"사업자등록번호 {with_brn_check('220-81-6251', valid=False)}",  # wrong BRN check digit
    "서버 256.168.0.1 접속",  # octet 256
    "192.168.0.256",
    "버전 1.2.3.4.5 배포",  # longer dotted number
    "v1.2.3.4 릴리스",
    "좌표 10.20.30.40.50",
    "3.1.2.1절을 참고하세요",
    "일련번호 20101234567890",  # a phone-like run inside a longer number
    "회원번호 12-010-1234-5678-99",
    "시리얼 010-1234-5678-90",
    "2024-01-15 14:30 기준 가격은 1,234,567원입니다.",
    "작성일 2024.01.15, 성장률 3.5%",
    "ISBN 978-89-546-1234-5",
    "CJ대한통운 1234-5678-9012 배송 중",  # tracking number, not an account
    "1592-1598년 임진왜란",  # a year range, not a 15xx number
    "우편번호 06236",
    "법인등록번호 110111-1234567",
    "주문번호 S24011534",  # the old passport shape without 여권
    "품목 M12345678 재입고",
    # The label nearest a number names it.
    "예약번호 0326885303로 조회하세요.",
    f"주문번호 {RRN.replace('-', '')}",
    "쿠폰번호 4111-1111-1111-1111",
    "오후 12:30:45 도착, 화면비 16:9",
    "icon@2x.png 파일과 std::vector<int>",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_lookalikes_are_left_alone(text):
    assert redact(text) == (text, {})


def test_overlapping_matches_are_replaced_once():
    # An account-shaped phone number near an account word is a phone, replaced once.
    assert redact("입금 확인 문의 010-1234-5678") == ("입금 확인 문의 <PHONE>", {"PHONE": 1})
    text = f"연락처 010-1234-5678, 주민번호 {RRN}, 메일 a.b@daum.net"
    redacted, counts = redact(text)
    assert redacted == "연락처 <PHONE>, 주민번호 <RRN>, 메일 <EMAIL>"
    assert counts == {"PHONE": 1, "RRN": 1, "EMAIL": 1}


def test_full_width_digits_are_redacted():
    assert redact("전화 ０１０－１２３４－５６７８")[0] == "전화 <PHONE>"


def test_types_select_what_is_redacted():
    text = f"전화 010-1234-5678, 주민번호 {RRN}"
    assert redact(text, types=["PHONE"]) == (f"전화 <PHONE>, 주민번호 {RRN}", {"PHONE": 1})
    with pytest.raises(ValueError, match="unknown PII type"):
        redact(text, types=["NAME"])


def test_stage_keeps_every_row_and_counts_by_type():
    texts = [f"연락처 010-1234-5678, 010.2345.6789 / 주민번호 {RRN}", "PII 없는 평범한 문장입니다.", None]
    kept, rejected, stats = PiiRedactor().process(pa.table({"id": ["a", "b", "c"], "text": texts}))
    assert kept.num_rows == 3 and rejected.num_rows == 0
    assert kept.column("text").to_pylist() == ["연락처 <PHONE>, <PHONE> / 주민번호 <RRN>", texts[1], None]
    assert [json.loads(c) for c in kept.column("pii_redactions").to_pylist()] == [{"PHONE": 2, "RRN": 1}, {}, {}]
    assert stats.extra == {"documents_with_pii": 1, "redactions.PHONE": 2, "redactions.RRN": 1}
    only_phone = PiiRedactor(types=["PHONE"])
    kept, _, stats = only_phone.process(pa.table({"id": ["a"], "text": texts[:1]}))
    assert RRN in kept.column("text")[0].as_py()
    assert stats.summary("pii_redacted") == "pii_redacted: 1 in, 1 kept, 0 rejected"


def _bench_pii():
    spec = importlib.util.spec_from_file_location("bench_pii", Path(__file__).parents[1] / "bench" / "pii.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fuzz_texts(documents: list[dict], n: int, seed: int = 11) -> list[str]:
    """Planted PII values mutated at random, in their documents: characters in or beside a
    value replaced by, or inserted from, the shapes the detectors look for (digits,
    separators, colons, hex and passport letters, ASCII and full width), or deleted; so the
    detectors see near-misses and odd forms of every type."""
    rng = random.Random(seed)
    alphabet = "0123456789" * 3 + "０１２３４５６７８９-－‐–.．:： @＠()+MSRODGAbcdef가 \n"
    with_values = [d for d in documents if d["truth"]]
    texts = []
    for _ in range(n):
        document = rng.choice(with_values)
        start, end, _, _ = rng.choice(document["truth"])
        chars = list(document["text"])
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(max(0, start - 2), min(len(chars), end + 2))
            move = rng.random()
            if move < 0.4 and at < len(chars):
                chars[at] = rng.choice(alphabet)
            elif move < 0.7:
                chars.insert(at, rng.choice(alphabet))
            elif at < len(chars):
                del chars[at]
        texts.append("".join(chars))
    return texts


def test_the_candidate_pattern_passes_every_text_a_detector_finds_pii_in():
    # The stage sends only texts matching PII_CANDIDATE to the detectors: it must be a superset.
    planted = _bench_pii().planted_documents(3_000, seed=5)
    texts = [d["text"] for d in planted] + _fuzz_texts(planted, 20_000)
    flagged = pc.match_substring_regex(pa.array(texts), PII_CANDIDATE).to_pylist()
    with_pii = [text for text in texts if find_pii(text)]
    assert len(with_pii) > 15_000  # the planted set and its mutations really hold PII of every kind
    assert {span.type for text in with_pii for span in find_pii(text)} == set(PII_TYPES)
    missed = [text for text, hit in zip(texts, flagged) if not hit and find_pii(text)]
    assert missed == []
    assert sum(not hit for hit in flagged) > 500  # and it does skip texts


def test_stage_output_equals_redacting_text_by_text():
    planted = _bench_pii().planted_documents(2_000, seed=9)
    texts = [d["text"] for d in planted] + _fuzz_texts(planted, 2_000, seed=3)
    texts += ["", None, "평범한 문장 2024년 12,000원"]
    kept, _, _ = PiiRedactor().process(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}))
    expected = [redact(text) if text else (text, {}) for text in texts]
    assert kept.column("text").to_pylist() == [text for text, _ in expected]
    assert [json.loads(c) for c in kept.column("pii_redactions").to_pylist()] == [dict(c) for _, c in expected]


def test_all_types_are_known():
    assert set(PII_TYPES) == {"RRN", "FRN", "PHONE", "EMAIL", "CARD", "ACCOUNT", "BRN", "PASSPORT", "IP"}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "curation", *args], capture_output=True, text=True)


def test_cli_round_trip_and_bad_input(tmp_path):
    rows = [{"id": "a", "text": f"연락처:01012345678로 주세요. 주민번호 {RRN}"},
            {"id": "b", "text": "카드 4111 1111 1111 1111, 메일 kim.minsu@gmail.com"},
            {"id": "c", "text": "2024-01-15 기준 1,234,567원"}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out = tmp_path / "out.parquet"
    result = run_cli("pii", str(source), str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pii_redacted: 3 in, 3 kept, 0 rejected"
    kept = pq.read_table(out)
    assert kept.column("text").to_pylist() == ["연락처:<PHONE>로 주세요. 주민번호 <RRN>", "카드 <CARD>, 메일 <EMAIL>",
                                               rows[2]["text"]]
    assert [json.loads(c) for c in kept.column("pii_redactions").to_pylist()] == [
        {"PHONE": 1, "RRN": 1}, {"CARD": 1, "EMAIL": 1}, {}]
    assert pq.read_table(tmp_path / "out.rejects.parquet").num_rows == 0
    written = json.dumps([kept.to_pylist(), pq.read_table(tmp_path / "out.rejects.parquet").to_pylist(),
                          result.stdout, result.stderr], ensure_ascii=False)
    for value in ("01012345678", RRN, "4111 1111 1111 1111", "kim.minsu"):
        assert value not in written

    only = run_cli("pii", str(source), str(tmp_path / "only.jsonl"), "--types", "EMAIL")
    assert only.returncode == 0, only.stderr
    first = json.loads((tmp_path / "only.jsonl").read_text().splitlines()[1])
    assert first["text"] == "카드 4111 1111 1111 1111, 메일 <EMAIL>"

    no_text = tmp_path / "no_text.jsonl"
    no_text.write_text('{"id": "x", "body": "010-1234-5678"}\n')
    result = run_cli("pii", str(no_text), str(tmp_path / "bad.jsonl"))
    assert result.returncode == 2 and "required column" in result.stderr
    assert not (tmp_path / "bad.jsonl").exists()
    assert run_cli("pii", str(source), str(tmp_path / "x.jsonl"), "--types", "NAME").returncode == 2
