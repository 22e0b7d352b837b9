"""Korean PII redaction: span-level precision and recall on planted PII, redactions on clean
prose, and throughput.

1. Planted set, generated here with a fixed seed (no data files): documents of 1-7 segments
   (15 % without PII), each a Korean sentence with one planted PII value, a hard negative (order and tracking
   numbers, dates, times, prices, version strings, ISBNs, zip codes, corporate registration
   numbers, 13-digit numbers with impossible dates, Luhn-failing 16-digit numbers, year
   ranges, clock times, MAC addresses, ...) or plain filler. Values are valid for their type
   (real birth dates; check digits valid, and for a share of registration numbers random as
   issued since October 2020; Luhn-valid cards of real issuer prefixes; BRN check digits; real
   area codes) and are written in the forms Korean text uses: particles attached directly
   ("010-1234-5678로"), "연락처:01012345678", parentheses, full-width colons and digits,
   line breaks, +82 forms, spaces as separators.
   A prediction is right when its span and type equal a planted one (exact match).
2. Clean prose: redactions on real Korean text with (almost) no PII (KLUE reference prose,
   NSMC movie reviews, chatbot Q&A, the Korean part of mixed_lang), reported with the redacted
   context so that each can be judged.
3. Throughput: documents per second through `redact` on one core (best of 3), and through
   the `PiiRedactor` stage on one Arrow batch.

Usage: python bench/pii.py [--docs 10000] [--seed 7] [--data ../shared/data] [--out bench/results/pii.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.pii import BRN_WEIGHTS, PII_TYPES, REGISTRATION_WEIGHTS, PiiRedactor, find_pii, redact  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["김민수", "이서연", "박지훈", "최유진", "정하늘", "강도현", "윤서아", "장민재", "임수빈", "한지우"]
COMPANIES = ["한빛상사", "푸른나무", "다온테크", "새봄식품", "미래로물류", "하늘정보통신"]
FILLER = [
    "오늘 회의에서는 다음 분기 예산안과 인력 배치 계획을 논의했습니다.",
    "행사 당일에는 주차 공간이 부족하니 대중교통을 이용해 주시기 바랍니다.",
    "배송은 결제 완료 후 영업일 기준 2~3일 정도 걸립니다.",
    "신청서는 이번 달 말까지 제출해야 하며 늦으면 접수가 어렵습니다.",
    "지난주에 주문한 상품이 아직 도착하지 않아 문의드립니다.",
    "아래 내용을 확인하시고 틀린 부분이 있으면 알려 주세요.",
    "이 영화는 처음부터 끝까지 긴장감을 놓을 수 없었다.",
    "강의 자료는 수업이 끝난 뒤 게시판에 올려 두겠습니다.",
    "환불 규정은 구매 후 7일 이내 미개봉 상품에 한해 적용됩니다.",
    "서비스 점검으로 새벽 2시부터 4시까지 접속이 제한됩니다.",
    "모임 장소가 바뀌었으니 착오 없으시길 바랍니다.",
    "날씨가 많이 추워졌으니 건강 관리에 유의하세요.",
]
SEPARATORS = [": ", ":", "：", " ", "\n", " : ", " - ", "\t"]
JOSA = ["", "", "로", "으로", "입니다", "이에요", "이고", "에", "번", "(으)로", ".", ",", "!"]
JOINERS = [" ", " ", "\n", "\n\n", " / "]


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def full_width(text: str) -> str:
    return text.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))


# --- Planted values: (value, form) ---------------------------------------------------------


def registration(rng: random.Random, foreign: bool) -> tuple[str, str]:
    today = date.today()
    new_issue = rng.random() < 0.3  # issued since October 2020: random last digit
    if not foreign and not new_issue and rng.random() < 0.02:
        born = date(rng.randint(1880, 1899), rng.randint(1, 12), rng.randint(1, 28))
    elif new_issue and rng.random() < 0.5:  # newborns since then; the rest changed their number
        born = date(2020, 10, 1) + timedelta(days=rng.randint(0, (today - date(2020, 10, 1)).days))
    else:
        born = date(1935, 1, 1) + timedelta(days=rng.randint(0, (today - date(1935, 1, 1)).days))
    female = rng.random() < 0.5
    gender = {1800: "90", 1900: "12", 2000: "34"}[born.year // 100 * 100][female]
    if foreign:
        gender = str(int(gender) + 4)
    body = f"{born:%y%m%d}{gender}{rng.randint(0, 96):02d}{digits(rng, 3)}"
    check = (11 - sum(w * int(d) for w, d in zip(REGISTRATION_WEIGHTS, body)) % 11) % 10
    body += digits(rng, 1) if new_issue else str(check)
    separator = rng.choices(["-", "", " ", " - "], [70, 15, 10, 5])[0]
    value = body[:6] + separator + body[6:]
    return value, f"{'sep' if separator else 'bare'}/{'random-check' if new_issue else 'checked'}"


def phone(rng: random.Random) -> tuple[str, str]:
    sep = rng.choices(["-", ".", " ", ""], [60, 12, 13, 15])[0]
    kind = rng.choices(["mobile", "mobile_old", "intl", "seoul", "area", "voip", "safe", "toll", "national"],
                       [45, 4, 6, 10, 15, 6, 3, 3, 8])[0]
    local = str(rng.randint(2, 9)) + digits(rng, rng.choice([2, 3]))
    if kind == "mobile":
        return f"010{sep}{rng.randint(2, 9)}{digits(rng, 3)}{sep}{digits(rng, 4)}", kind
    if kind == "mobile_old":
        return f"01{rng.choice('16789')}{sep}{local}{sep}{digits(rng, 4)}", kind
    if kind == "intl":
        lead = rng.choice(["+82 ", "+82-", "+82", "+82 (0)"])
        return f"{lead}10{sep or '-'}{rng.randint(2, 9)}{digits(rng, 3)}{sep or '-'}{digits(rng, 4)}", kind
    if kind in ("seoul", "area"):
        code = "02" if kind == "seoul" else rng.choice(["031", "032", "033", "041", "042", "043", "044", "051", "052",
                                                         "053", "054", "055", "061", "062", "063", "064"])
        if rng.random() < 0.15:
            return f"({code}) {local}-{digits(rng, 4)}", kind + "/paren"
        return f"{code}{sep}{local}{sep}{digits(rng, 4)}", kind
    if kind == "voip":
        return f"070{sep}{rng.randint(2, 9)}{digits(rng, 3)}{sep}{digits(rng, 4)}", kind
    if kind == "safe":
        return f"050{rng.randint(2, 8)}{sep}{local}{sep}{digits(rng, 4)}", kind
    if kind == "toll":
        return f"080{sep}{local}{sep}{digits(rng, 4)}", kind
    prefix = rng.choice(["1544", "1588", "1577", "1600", "1644", "1661", "1670", "1800", "1833", "1899"])
    return f"{prefix}-{digits(rng, 4)}", kind


def email(rng: random.Random) -> tuple[str, str]:
    given = rng.choice(["minsu", "seoyeon", "jihoon", "yujin", "haneul", "dohyun", "seoa", "minjae", "subin", "jiwoo"])
    family = rng.choice(["kim", "lee", "park", "choi", "jung", "kang", "yoon", "jang", "lim", "han"])
    local = rng.choice([f"{given}.{family}", f"{family}{given}{rng.randint(70, 99)}", f"{given}_{family}",
                        f"{given}{rng.randint(1, 9999)}", f"{family}.{given}+news",
                        f"{given[0]}{family}-{rng.randint(1, 99)}",
                        f"{given.capitalize()}.{family.capitalize()}"])
    domain = rng.choice(["naver.com", "daum.net", "hanmail.net", "gmail.com", "kakao.com", "nate.com", "korea.kr",
                         "hanbit.co.kr", "snu.ac.kr", "mail.example-corp.com", "yonsei.ac.kr"])
    return f"{local}@{domain}", "email"


def luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + digits(rng, length - len(prefix) - 1)
    total = 0
    for position, digit in enumerate(reversed(body)):
        value = int(digit) * (1 if position % 2 else 2)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


def card(rng: random.Random) -> tuple[str, str]:
    brand = rng.choices(["visa", "master", "master2", "amex", "jcb", "bc", "unionpay", "diners"],
                        [30, 25, 5, 10, 10, 12, 4, 4])[0]
    prefix = {"visa": "4", "master": str(rng.randint(51, 55)), "master2": str(rng.randint(2221, 2720)),
              "amex": rng.choice(["34", "37"]), "jcb": str(rng.randint(3528, 3589)), "bc": "94" + digits(rng, 2),
              "unionpay": "62", "diners": "36"}[brand]
    number = luhn_complete(rng, prefix, {"amex": 15, "diners": 14}.get(brand, 16))
    sep = rng.choices(["-", " ", ""], [60, 20, 20])[0]
    if len(number) == 16:
        return sep.join(number[i:i + 4] for i in range(0, 16, 4)), f"{brand}/{'grouped' if sep else 'contiguous'}"
    grouped = f"{number[:4]}{sep}{number[4:10]}{sep}{number[10:]}" if sep else number
    return grouped, f"{brand}/{'grouped' if sep else 'contiguous'}"


BANKS = {  # display names, account layouts (group lengths; a leading str is a fixed prefix)
    "국민": (["국민은행", "KB국민은행", "국민", "KB"], [(6, 2, 6), (3, 2, 4, 3)]),
    "신한": (["신한은행", "신한"], [(3, 3, 6), (3, 2, 6)]),
    "우리": (["우리은행", "우리"], [("1002", 3, 6), (4, 3, 6)]),
    "하나": (["하나은행", "KEB하나", "하나"], [(3, 6, 5)]),
    "농협": (["농협", "NH농협", "농협은행", "단위농협"], [(3, 4, 4, 2), (6, 2, 6), (3, 2, 6)]),
    "기업": (["기업은행", "IBK기업", "기업"], [(3, 6, 2, 3)]),
    "카카오": (["카카오뱅크", "카뱅"], [("3333", 2, 7)]),
    "토스": (["토스뱅크", "토스"], [(4, 4, 4)]),
    "케이": (["케이뱅크"], [(3, 3, 6)]),
    "SC": (["SC제일은행", "제일은행"], [(3, 2, 6)]),
    "우체국": (["우체국"], [(6, 2, 6)]),
    "새마을": (["새마을금고"], [(4, 4, 4, 1)]),
}


def account(rng: random.Random) -> tuple[str, str, str]:
    bank = rng.choice(list(BANKS))
    names, layouts = BANKS[bank]
    layout = rng.choice(layouts)
    groups = [g if isinstance(g, str) else str(rng.randint(1, 9)) + digits(rng, g - 1) for g in layout]
    return "-".join(groups), rng.choice(names), f"{'-'.join(str(len(g)) for g in groups)}"


def brn(rng: random.Random) -> tuple[str, str]:
    body = f"{rng.randint(101, 999)}{rng.choice([rng.randint(1, 79), rng.randint(81, 88)]):02d}{digits(rng, 4)}"
    total = sum(w * int(d) for w, d in zip(BRN_WEIGHTS, body)) + int(body[8]) * 5 // 10
    body += str((10 - total % 10) % 10)
    if rng.random() < 0.15:
        return body, "bare"
    return f"{body[:3]}-{body[3:5]}-{body[5:]}", "hyphen"


def passport(rng: random.Random) -> tuple[str, str]:
    letter = rng.choices("MSRODG", [80, 8, 3, 3, 3, 3])[0]
    if rng.random() < 0.4:
        return f"{letter}{digits(rng, 3)}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{digits(rng, 4)}", "new"
    return f"{letter}{digits(rng, 8)}", "old"


def ip(rng: random.Random) -> tuple[str, str]:
    kind = rng.choices(["private", "public", "dns", "v6full", "v6compressed", "v6mapped"], [30, 35, 5, 10, 15, 5])[0]
    host = f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if kind == "private":
        network = rng.choice(["192.168", f"10.{rng.randint(0, 255)}", f"172.{rng.randint(16, 31)}"])
        return f"{network}.{host}", kind
    if kind == "public":
        return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{host}", kind
    if kind == "dns":
        return rng.choice(["8.8.8.8", "1.1.1.1", "168.126.63.1", "164.124.101.2", "9.9.9.9"]), kind
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if kind == "v6full":
        return ":".join(g.zfill(4) if rng.random() < 0.5 else g for g in groups), kind
    if kind == "v6mapped":
        return f"::ffff:{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", kind
    cut = rng.randint(1, 6)
    return rng.choice([f"2001:db8:{groups[0]}::{groups[1]}", f"fe80::{':'.join(groups[cut:cut + 2])}",
                       f"{':'.join(groups[:cut])}::{groups[7]}", f"2406:5900:{groups[2]}::1"]), kind


# --- Sentence templates: {v} the value, {sep} a label separator, {josa} a particle ---------

TEMPLATES = {
    "RRN": ["주민등록번호{sep}{v}", "본인 확인을 위해 주민번호 {v}{josa} 입력했습니다.",
            "성명: {name}, 주민등록번호: {v}", "신청인 {name}({v})",
            "주민번호 앞자리와 뒷자리를 모두 적어 주세요 → {v}", "{name} {v} 서울시 강남구",
            "가입자 정보\n이름{sep}{name}\n주민번호{sep}{v}", "주민등록번호는 {v}이며 연락처는 따로 적겠습니다."],
    "FRN": ["외국인등록번호{sep}{v}", "외국인 등록번호 {v}{josa} 확인 부탁드립니다.",
            "성명: {name} / 외국인등록번호: {v}", "체류자격 E-9, 등록번호 {v}", "{name}({v}) 근로계약서 첨부"],
    "PHONE": ["연락처{sep}{v}", "자세한 문의는 {v}{josa} 연락 주세요.", "담당자 {name} ({v})",
              "휴대폰: {v} / 이메일은 따로", "예약은 전화 {v}번으로 가능합니다.", "문자 주시면 답장 드릴게요 {v}",
              "고객센터{sep}{v}(평일 9시~18시)", "☎ {v}", "Tel. {v}  Fax. 준비 중",
              "{name} 선생님 번호가 {v}{josa} 바뀌었대요", "H.P{sep}{v}"],
    "EMAIL": ["이메일{sep}{v}", "메일은 {v}{josa} 보내 주세요.", "문의: {v}", "{name}({v})님이 공유한 문서입니다.",
              "E-mail: {v}", "보내는 사람: {name} <{v}>", "결과는 {v}으로 회신드리겠습니다."],
    "CARD": ["카드번호{sep}{v}", "결제하신 카드 {v}{josa} 승인이 취소되었습니다.", "카드 번호 {v} 유효기간 12/27",
             "등록된 결제수단: {v}", "[카드정보] {v}", "이 카드({v})로 자동이체가 설정되어 있습니다."],
    "ACCOUNT": ["입금 계좌{sep}{bank} {v} (예금주 {name})", "{bank} {v}{josa} 입금해 주세요.", "환불 계좌: {bank} {v}",
                "{v} ({bank}, 예금주 {name})", "계좌번호{sep}{v}", "무통장 입금 {bank} {v}",
                "회비는 {bank} {v} {name}에게 보내 주시면 됩니다.", "송금은 {v}{josa} 부탁드립니다.",
                "{name} {bank} 계좌 {v}", "여기로 보내 주세요 {v} {name}"],
    "BRN": ["사업자등록번호{sep}{v}", "상호: {company} | 대표: {name} | 사업자번호: {v}", "(주){company} 사업자 {v}",
            "{company} 대표 {name} 사업자등록번호 {v} 통신판매업신고 제2023-서울강남-01234호",
            "등록번호 {v}{josa} 조회했습니다."],
    "PASSPORT": ["여권번호{sep}{v}", "여권 번호는 {v}입니다.", "Passport No. {v}",
                 "{name} 여권({v}) 만료일 2031.05.20", "탑승객 {name}, 여권 {v}",
                 "신규 여권 {v}{josa} 발급되었습니다."],
    "IP": ["접속 IP{sep}{v}", "서버 주소는 {v}입니다.", "[2024-03-02 11:20:33] {v} 로그인 실패",
           "공유기 설정은 {v}에 접속해서 하세요.", "{v}에서 비정상적인 접근이 감지되었습니다.",
           "DNS를 {v}{josa} 바꾸니 빨라졌어요.", "허용 목록: {v}, 그 외 차단"],
}


def planted(rng: random.Random, pii_type: str) -> tuple[str, tuple[int, int], str]:
    """A sentence with one planted value: (sentence, span of the value, form label)."""
    bank = ""
    if pii_type in ("RRN", "FRN"):
        value, form = registration(rng, pii_type == "FRN")
    elif pii_type == "ACCOUNT":
        value, bank, form = account(rng)
    else:
        make = {"PHONE": phone, "EMAIL": email, "CARD": card, "BRN": brn, "PASSPORT": passport, "IP": ip}[pii_type]
        value, form = make(rng)
    if pii_type != "EMAIL" and rng.random() < 0.03:
        value, form = full_width(value), form + "/full-width"
    template = rng.choice(TEMPLATES[pii_type])
    head, tail = template.split("{v}")
    fill = dict(sep=rng.choice(SEPARATORS), josa=rng.choice(JOSA), name=rng.choice(NAMES),
                company=rng.choice(COMPANIES), bank=bank)
    head, tail = head.format(**fill), tail.format(**fill)
    return head + value + tail, (len(head), len(head) + len(value)), f"{pii_type}:{form}"


# --- Hard negatives: (sentence, kind) ------------------------------------------------------


def negative(rng: random.Random) -> tuple[str, str]:
    """A sentence with a number that is not PII, and its kind."""
    r, d = rng.randint, (lambda n: digits(rng, n))
    day = date(2015, 1, 1) + timedelta(days=r(0, 3650))
    ymd, ymd8, later = f"{day:%y%m%d}", f"{day:%Y%m%d}", day + timedelta(days=30)
    year = r(1500, 1899)

    def luhn_failing() -> str:
        number = luhn_complete(rng, rng.choice(["4", "5", "94", "35"]), 16)
        return number[:-1] + str((int(number[-1]) + r(1, 9)) % 10)

    def grouped(number: str, sep: str) -> str:
        return sep.join(number[i:i + 4] for i in range(0, len(number), 4))

    def dotted(*ranges: tuple[int, int]) -> str:
        return ".".join(str(r(lo, hi)) for lo, hi in ranges)

    def identifier() -> str:  # an unlabelled identifier of 10-16 digits
        return str(r(1, 9)) + d(r(9, 15))

    kinds = {
        "order": lambda: [f"주문번호 {ymd8}-{d(7)} 상품이 출고되었습니다.", f"주문번호: {ymd8}{d(6)}",
                          f"주문 {ymd}{d(7)}건 입금 확인", f"거래번호 {ymd8}{d(8)} 승인 완료",
                          f"예약번호 {d(10)}로 조회하세요."],
        "date": lambda: [f"{day:%Y-%m-%d} 기준 자료입니다.", f"작성일 {day:%Y.%m.%d}", f"{day:%y.%m.%d} 업데이트",
                         f"{day.year}년 {day.month}월 {day.day}일에 개최", f"기간: {day:%Y.%m.%d} ~ {later:%Y.%m.%d}",
                         f"{day:%Y/%m/%d} 입고 예정", f"신한은행 {day:%Y-%m-%d} 공시"],
        "time": lambda: [f"{day:%Y-%m-%d} {r(0, 23):02d}:{r(0, 59):02d}:{r(0, 59):02d}에 접수",
                         f"오후 {r(1, 11)}:{r(0, 59):02d} 출발",
                         f"기록 {r(0, 2)}:{r(0, 59):02d}:{r(0, 59):02d}.{r(0, 99)}"],
        "price": lambda: [f"가격은 {r(1000, 9999999):,}원입니다.", f"₩{r(1000, 999999):,} 결제 예정",
                          f"총 {r(1, 99)}만 {r(1, 9)},{d(3)}원", f"입금액 {r(10000, 5000000):,}원 확인",
                          f"잔액 {r(1000000, 99999999):,}원 (국민은행)"],
        "version": lambda: [f"버전 {dotted((1, 20), (0, 9), (0, 30), (0, 200))} 배포",
                            f"v{dotted((1, 9), (0, 9), (0, 9), (0, 9))} 릴리스",
                            f"{dotted((1, 9), (0, 9), (0, 9), (0, 9), (0, 9))} 패치 노트",
                            f"Chrome {r(100, 125)}.0.{r(5000, 6500)}.{r(10, 200)} 설치",
                            f"Windows 10.0.{r(19041, 22631)}.{r(100, 3999)}",
                            f"iOS {dotted((14, 18), (0, 6), (1, 3))} 업데이트",
                            f"{dotted((1, 12), (0, 20), (0, 9), (0, 99))} 버전으로 올려 주세요",
                            f"펌웨어 {dotted((1, 5), (0, 9), (0, 20), (0, 99))} 적용"],
        "isbn": lambda: [f"ISBN 978-89-{d(4)}-{d(3)}-{d(1)}", f"ISBN {rng.choice(['978', '979'])}{d(10)}",
                         f"ISBN 89-{d(4)}-{d(3)}-{d(1)}"],
        "tracking": lambda: [f"운송장번호 {d(12)}", f"CJ대한통운 {d(4)}-{d(4)}-{d(4)} 배송 중",
                             f"우체국 등기 {rng.choice('67')}{d(12)}", f"송장 {d(4)}-{d(4)}-{d(4)}로 조회"],
        "zip": lambda: [f"서울 강남구 테헤란로 {r(1, 500)} (우: {r(1000, 63644):05d})",
                        f"우편번호 {r(1000, 63644):05d}", f"{r(1000, 63644):05d} 경기도 성남시 분당구"],
        "corporate": lambda: [f"법인등록번호 {rng.choice(['1101', '1301', '1346', '1201', '1601'])}"
                              f"{rng.choice(['11', '71', '81'])}-{d(7)}"],
        "bad_date_id": lambda: [f"관리번호 {r(0, 99):02d}{r(13, 99)}{d(2)}-{d(7)}"],  # month 13-99
        "luhn_fail": lambda: [f"상품권 PIN {grouped(luhn_failing(), '-')}", f"쿠폰번호 {luhn_failing()}",
                              f"일련번호 {grouped(luhn_failing(), ' ')}"],
        "long_number": lambda: [f"일련번호 2{rng.choice(['010', '011'])}{d(8)}", f"바코드 880{d(10)}",
                                f"고객번호 {d(3)}010{d(8)}", f"회원번호 {d(2)}-010-{d(4)}-{d(4)}-{d(2)}"],
        "range": lambda: [f"{year}-{year + r(1, 99)}년 사이",
                          f"{rng.choice(['1500', '1600', '1800'])}-{rng.choice(['2000', '3000'])}원 정도",
                          f"해발 {year}-{year + r(50, 300)}m 구간", f"제{day.year}-{r(1, 9999):04d}호"],
        "decimal": lambda: [f"위도 {rng.uniform(33, 38):.4f}, 경도 {rng.uniform(124, 131):.4f}",
                            f"성장률 {rng.uniform(-5, 9):.1f}%",
                            f"{dotted((1, 9), (1, 9), (1, 9), (1, 9))} 절을 참고하세요",
                            f"{dotted((256, 999), (0, 255), (0, 255), (0, 255))} 같은 값은 잘못된 주소입니다."],
        "mac": lambda: [":".join(f"{r(0, 255):02X}" for _ in range(6)) + " 장치",
                        f"화면비 {rng.choice(['16:9', '4:3', '21:9'])}",
                        f"스코어 {r(0, 9)}:{r(0, 9)}로 승리"],
        "code": lambda: ["std::vector<int> 사용 예", "icon@2x.png 파일", "@naver_official 계정을 팔로우하세요",
                         "user@localhost 로 접속"],
        "coupon": lambda: [f"쿠폰 번호 {d(4)}-{d(4)}-{d(4)}", f"인증번호 {d(6)}", f"승인번호 {d(8)} 입금 완료"],
        "stats": lambda: [f"참가자 {r(1000, 99999):,}명", f"{r(2000, 2023)}-{r(2000, 2024)} 시즌",
                          f"전화 상담 {r(100, 9999)}건 처리",
                          f"계좌 개설 {r(1000, 99999):,}좌 돌파"],
        "doc_number": lambda: [f"문서번호 {rng.choice(['총무', '인사'])}-{r(100, 999)}",
                               f"공고 제{day.year}-{r(1, 999)}호",
                               f"통신판매업신고 제{day.year}-서울강남-{r(1, 9999):05d}호"],
        "bare_number": lambda: [f"{identifier()} 확인 부탁드립니다.", f"참고로 {identifier()}입니다.",
                                f"({identifier()})", f"#{identifier()} 처리 완료"],
        "part_number": lambda: [f"모델명 SM-{rng.choice('SGAN')}{r(100, 999)}N",
                                f"주문번호 {rng.choice('MSRODG')}{ymd}{d(2)}",
                                f"부품번호 {rng.choice('MSRODG')}{d(3)}-{d(4)}"],
    }
    kind = rng.choice(list(kinds))
    return rng.choice(kinds[kind]()), kind


# --- Planted documents and scoring ---------------------------------------------------------


def planted_documents(n: int, seed: int) -> list[dict]:
    """Documents with their planted spans [(start, end, type, form)] and negative spans
    [(start, end, kind)]."""
    rng = random.Random(seed)
    documents = []
    for _ in range(n):
        segments: list[tuple[str, tuple | None, tuple | None]] = []
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3]) if rng.random() < 0.85 else 0):
            pii_type = rng.choice(PII_TYPES)
            sentence, (start, end), form = planted(rng, pii_type)
            segments.append((sentence, (start, end, pii_type, form), None))
        for _ in range(rng.randint(0, 2)):
            sentence, kind = negative(rng)
            segments.append((sentence, None, (0, len(sentence), kind)))
        segments += [(rng.choice(FILLER), None, None) for _ in range(rng.randint(0, 2))]
        if not segments:
            segments.append((rng.choice(FILLER), None, None))
        rng.shuffle(segments)
        text, truth, negatives = "", [], []
        for sentence, pii, hard in segments:
            text += rng.choice(JOINERS) if text else ""
            if pii:
                truth.append((len(text) + pii[0], len(text) + pii[1], pii[2], pii[3]))
            if hard:
                negatives.append((len(text), len(text) + hard[1], hard[2]))
            text += sentence
        documents.append({"text": text, "truth": truth, "negatives": negatives})
    return documents


def score(documents: list[dict]) -> dict:
    found_by_type, planted_by_type, right_by_type = Counter(), Counter(), Counter()
    misses_by_form, false_by_cause, leaks = Counter(), Counter(), 0
    forms = Counter()
    for doc in documents:
        spans = find_pii(doc["text"])
        predicted = {(s.start, s.end, s.type) for s in spans}
        truth = {(s, e, t) for s, e, t, _ in doc["truth"]}
        for s, e, t, form in doc["truth"]:
            planted_by_type[t] += 1
            forms[form] += 1
            if (s, e, t) in predicted:
                right_by_type[t] += 1
            else:
                misses_by_form[form] += 1
        for s, e, t in predicted:
            found_by_type[t] += 1
            if (s, e, t) not in truth:
                cause = next((f"negative:{kind}" for ns, ne, kind in doc["negatives"] if s < ne and e > ns), None)
                cause = cause or next((f"wrong span or type:{t2}->{t}" for s2, e2, t2, _ in doc["truth"]
                                       if s < e2 and e > s2), None)
                false_by_cause[cause or "filler"] += 1
        redacted, _ = redact(doc["text"])  # a value found must be gone from the output entirely
        leaks += sum(doc["text"][s:e] in redacted for s, e, t, _ in doc["truth"] if (s, e, t) in predicted)
    per_type = {}
    for t in PII_TYPES:
        per_type[t] = {"planted": planted_by_type[t], "found": found_by_type[t], "right": right_by_type[t],
                       "precision": round(right_by_type[t] / max(found_by_type[t], 1), 4),
                       "recall": round(right_by_type[t] / max(planted_by_type[t], 1), 4)}
    right, found, total = sum(right_by_type.values()), sum(found_by_type.values()), sum(planted_by_type.values())
    return {"per_type": per_type,
            "overall": {"planted": total, "found": found, "right": right, "precision": round(right / max(found, 1), 4),
                        "recall": round(right / max(total, 1), 4)},
            "found_values_left_in_output": leaks,
            "misses_by_form": {form: f"{misses_by_form[form]}/{forms[form]}" for form in sorted(misses_by_form)},
            "false_positives_by_cause": dict(false_by_cause.most_common()),
            "hard_negatives": sum(len(d["negatives"]) for d in documents)}


def read_texts(path: Path, keep=lambda row: True) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [row["text"] for row in map(json.loads, handle) if keep(row)]


def clean_prose(data: Path) -> dict:
    """Redactions on real Korean text without PII, each shown with its redacted context."""
    sources = {"reference_ko": read_texts(data / "reference_ko.jsonl"),
               "nsmc_reviews": read_texts(data / "nsmc_reviews.jsonl"),
               "chatbot_qa": read_texts(data / "chatbot_qa.jsonl"),
               "mixed_lang_ko": read_texts(data / "mixed_lang.jsonl", lambda row: row.get("lang") == "ko")}
    report = {}
    for name, texts in sources.items():
        if not texts:
            continue
        counts, examples = Counter(), []
        for text in texts:
            redacted, found = redact(text)
            counts.update(found)
            for span in find_pii(text):
                if len(examples) < 10:
                    examples.append(redacted[max(0, span.start - 25):span.start + 35].replace("\n", " "))
        report[name] = {"documents": len(texts), "redactions": sum(counts.values()), "by_type": dict(counts),
                        "examples_redacted": examples}
    return report


def throughput(texts: list[str], repeats: int = 3) -> dict:
    best = float("inf")
    for _ in range(repeats):
        timer = time.perf_counter()
        for text in texts:
            redact(text)
        best = min(best, time.perf_counter() - timer)
    chars, utf8_bytes = sum(map(len, texts)), sum(len(t.encode("utf-8")) for t in texts)
    return {"documents": len(texts), "mean_chars": round(chars / max(len(texts), 1), 1),
            "docs_per_second": round(len(texts) / best, 1), "mb_per_second": round(utf8_bytes / best / 1e6, 2)}


def stage_throughput(texts: list[str], repeats: int = 3) -> dict:
    batch = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    best = float("inf")
    for _ in range(repeats):
        timer = time.perf_counter()
        PiiRedactor().process(batch)
        best = min(best, time.perf_counter() - timer)
    return {"documents": len(texts), "docs_per_second": round(len(texts) / best, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pii.json")
    args = parser.parse_args()

    documents = planted_documents(args.docs, args.seed)
    planted_result = score(documents)
    print(f"planted set: {args.docs} documents (seed {args.seed}), {planted_result['overall']['planted']} planted "
          f"values, {planted_result['hard_negatives']} hard negatives")
    print(f"{'type':>9} | {'planted':>7} | {'found':>6} | {'precision':>9} | {'recall':>6}")
    for t, row in [*planted_result["per_type"].items(), ("overall", planted_result["overall"])]:
        print(f"{t:>9} | {row['planted']:>7} | {row['found']:>6} | {row['precision']:>9.4f} | {row['recall']:>6.4f}")
    print(f"values found but left in the output: {planted_result['found_values_left_in_output']}")
    print("misses by form:", planted_result["misses_by_form"] or "none")
    print("false positives by cause:", planted_result["false_positives_by_cause"] or "none")

    clean = clean_prose(args.data)
    for name, row in clean.items():
        print(f"clean {name}: {row['documents']} documents, {row['redactions']} redactions {row['by_type'] or ''}")
        for example in row["examples_redacted"]:
            print(f"    … {example} …")

    speed = {"planted": throughput([d["text"] for d in documents])}
    nsmc = read_texts(args.data / "nsmc_reviews.jsonl")[:20000]
    reference = read_texts(args.data / "reference_ko.jsonl")
    if nsmc:
        speed["nsmc_reviews"] = throughput(nsmc)
    if reference:
        speed["reference_ko"] = throughput(reference)
    for name, row in speed.items():
        print(f"throughput {name}: {row['docs_per_second']:,.0f} docs/s, {row['mb_per_second']} MB/s "
              f"(one core, mean {row['mean_chars']} chars)")
    speed["stage_planted"] = stage_throughput([d["text"] for d in documents])
    print(f"throughput PiiRedactor stage, planted set in one batch: "
          f"{speed['stage_planted']['docs_per_second']:,.0f} docs/s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seed": args.seed, "documents": args.docs, "planted": planted_result,
                                    "clean_prose": clean, "throughput": speed,
                                    "goals": {"recall": 0.99, "precision": 0.98}},
                                   ensure_ascii=False, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
