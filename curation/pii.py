"""Korean PII detection and redaction: one small detector per PII type, typed placeholders.

Each detector finds candidates with a regex and then validates them (calendar dates, check
digits, issuer prefixes, nearby keywords), because the formats alone are shared with order
numbers, dates, prices and version strings. Matches are replaced by a typed placeholder
(`<RRN>`, `<PHONE>`, ...); where matches of different types overlap, the longest wins and then
the type listed first in `PII_TYPES`. `PiiRedactor` keeps every document (PII is redacted, not
a reason to drop) and records counts by type in `pii_redactions`, never the values themselves.

Digits are matched as ASCII only (`re.ASCII`), so that a Hangul syllable right before or after
a number ("010-1234-5678로", "번호는900101-...") is a boundary; full-width digits and signs
(０１０－１２３４－５６７８) are mapped one-to-one to ASCII before matching, so offsets stay valid.
How each rule was chosen is said on each detector; bench/pii.py measures them on planted PII,
hard negatives and clean Korean prose.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.stage import Decision, DocumentStage

_ASCII_FORM = str.maketrans("０１２３４５６７８９－．＠：‐‑–", "0123456789-.@:---")
# Not inside a longer number: no digit, and no digit followed by a separator, on either side.
_NUMBER_START = r"(?<![\w+])(?<!\d[-.])"
_NUMBER_END = r"(?!\d)(?![-.]\d)"


@dataclass(frozen=True)
class PiiSpan:
    start: int
    end: int
    type: str
    # "high" when a check digit or a distinctive format confirms the match, "medium" when the
    # format and its context do (e.g. an RRN issued after October 2020, whose check digit is random).
    confidence: str


# A label belongs to the number in its own sentence or line: context windows stop at a line
# break, a sentence end ("...다. ", "...요. ") or a " / " or " | " separator.
_BREAK = re.compile(r"\n|[다요죠][.!?]|\s[|/]\s")
_LABEL_LINE_END = re.compile(r"(?:번호|No\.?|[:：])$", re.I)
# Words that label a number. The label nearest a number names it: "주문번호 2312095522039" is an
# order number even though its digits read as a registration number.
NUMBER_LABELS = re.compile(
    r"주문|송장|운송장|택배|통운|배송|쿠폰|상품권|일련|승인|인증|바코드|모델|부품|관리\s?번호|예약|회원|고객\s?번호|문서|공고|"
    r"전화|연락처|휴대폰|핸드폰|팩스|이메일|메일|카드|사업자|법인|주민|외국인|여권|계좌|은행|"
    r"(?<![A-Za-z])(?:ISBN|PIN|tel|fax|IP|passport)(?![A-Za-z])", re.I)
# What may stand between a label and the number it labels: "주문번호: ", "모델명 ", "쿠폰 번호는 (".
LABEL_GAP = re.compile(r"\s?(?:등록\s?)?(?:번호|넘버|명|코드|No\.?|#)?\s?(?:[:：=]|는|은|이)?\s?[(\[]?\s?", re.I)


def _window_start(text: str, start: int, width: int) -> int:
    """Where the number's sentence starts, at most `width` characters back. A number that
    starts its line also takes the line before when that line is a label ("여권번호\n
    M12345678": a short line, or one ending in 번호 or a colon)."""
    lo = max(0, start - width)
    breaks = [lo] + [boundary.end() for boundary in _BREAK.finditer(text, lo, start)]
    if len(breaks) > 1 and text[breaks[-1] - 1] == "\n" and not text[breaks[-1]:start].strip():
        line = text[text.rfind("\n", 0, breaks[-1] - 1) + 1:breaks[-1] - 1].strip()
        if len(line) <= 15 or _LABEL_LINE_END.search(line):
            return breaks[-2]
    return breaks[-1]


def _label_before(own: re.Pattern, text: str, start: int, width: int = 20) -> str | None:
    """Which label is nearest before the number in its sentence, within `width` characters:
    "own" (a keyword of this type), "other" (a label of another kind of number directly before
    this one, as in "주문번호: 2312...") or None."""
    lo = _window_start(text, start, width)
    own_end = max((m.end() for m in own.finditer(text, lo, start)), default=-1)
    other_end = max((m.end() for m in NUMBER_LABELS.finditer(text, lo, start) if not own.search(m[0])), default=-1)
    if other_end > own_end:
        return "other" if LABEL_GAP.fullmatch(text, other_end, start) else None
    return "own" if own_end >= 0 else None


def _label_after(own: re.Pattern, text: str, end: int, width: int = 15) -> bool:
    """A keyword of this type within `width` characters after the number, in its sentence, with
    no other label before it ("110-123-456789 (신한, 예금주 홍길동)")."""
    hi = min(len(text), end + width)
    boundary = _BREAK.search(text, end, hi)
    hi = boundary.start() if boundary else hi
    first = own.search(text, end, hi)
    return bool(first) and not any(not own.search(m[0]) for m in NUMBER_LABELS.finditer(text, end, first.start()))


def _near(keywords: re.Pattern, text: str, start: int, end: int, before: int = 15, after: int = 0) -> bool:
    """A keyword in the number's sentence within `before` characters before it or `after` after it."""
    if keywords.search(text, _window_start(text, start, before), start):
        return True
    if not after:
        return False
    boundary = _BREAK.search(text, end, end + after)
    return bool(keywords.search(text, end, boundary.start() if boundary else end + after))


class PiiDetector:
    """One PII type: `pattern` finds candidates, `confidence` validates one (None rejects it)."""

    type = "PII"
    pattern: re.Pattern
    # A character every match contains: texts without it are skipped without running the regex.
    trigger: str | None = None

    @property
    def placeholder(self) -> str:
        return f"<{self.type}>"

    def confidence(self, match: re.Match, text: str) -> str | None:
        raise NotImplementedError

    def find(self, text: str) -> Iterator[PiiSpan]:
        if self.trigger and self.trigger not in text:
            return
        position = 0
        while (match := self.pattern.search(text, position)) is not None:
            level = self.confidence(match, text)
            if level:
                yield PiiSpan(match.start(), match.end(), self.type, level)
            # After a rejected candidate, look again from the next character: a valid match
            # may overlap the rejected one.
            position = match.end() if level else match.start() + 1


# --- Resident and foreigner registration numbers -------------------------------------------

CENTURY_BY_GENDER_DIGIT = {"1": 1900, "2": 1900, "5": 1900, "6": 1900,
                           "3": 2000, "4": 2000, "7": 2000, "8": 2000, "9": 1800, "0": 1800}
REGISTRATION_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
# Not 법인등록번호 (corporate registration, the same 6-7 shape, often a date-like start) nor
# 사업자등록번호: those are labels of other numbers (NUMBER_LABELS).
ID_KEYWORDS = re.compile(r"주민|(?<!법인)(?<!법인 )(?<!사업자)(?<!사업자 )등록\s?번호"
                         r"|외국인|신분증|resident|registration", re.I)


def birth_date(digits: str) -> date | None:
    """The birth date coded by YYMMDD and the century of the gender digit; None if no such day
    or if it is in the future."""
    try:
        born = date(CENTURY_BY_GENDER_DIGIT[digits[6]] + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None
    return born if born <= date.today() else None


def registration_check_digit_ok(digits: str) -> bool:
    total = sum(weight * int(digit) for weight, digit in zip(REGISTRATION_WEIGHTS, digits))
    return (11 - total % 11) % 10 == int(digits[12])


class ResidentRegistrationNumber(PiiDetector):
    """주민등록번호 YYMMDD-GXXXXXX, G = 1-4 (1900s/2000s births) or 9/0 (1800s).

    The date must exist for the century G implies. Numbers issued from October 2020 have a
    random last digit, so a wrong check digit does not reject a number written with its
    separator (hyphen or space): it only lowers the confidence. Exceptions, for precision: a
    bare 13-digit run (order numbers, barcodes and unhyphenated account numbers are 13 digits
    too, and about 4 % of random ones hold a valid date) needs a valid check digit or an ID
    keyword (주민, 등록번호, 외국인) before it; G = 9/0 needs a valid check digit, since everyone
    born in the 1800s was numbered long before 2020; and a number labelled as something else
    (법인등록번호, 주문번호) is that something else."""

    type = "RRN"
    gender_digits = "123490"
    pattern = re.compile(_NUMBER_START + r"(\d{6})( ?- ?| )?(\d{7})" + _NUMBER_END, re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        digits = match[1] + match[3]
        if digits[6] not in self.gender_digits or birth_date(digits) is None:
            return None
        label = _label_before(ID_KEYWORDS, text, match.start())
        if label == "other":
            return None
        if registration_check_digit_ok(digits):
            return "high"
        if digits[6] in "90" or (not match[2] and label != "own"):
            return None
        return "medium"


class ForeignerRegistrationNumber(ResidentRegistrationNumber):
    """외국인등록번호: the same layout and rules with G = 5-8 (1900s/2000s births)."""

    type = "FRN"
    gender_digits = "5678"


# --- Phone numbers -------------------------------------------------------------------------

# A representative number (1588-1234) reads like a year or amount range when a unit follows:
# "1592-1598년", "1500-2000원", "1600-1800m", document numbers "제1588-1234호".
UNIT_AFTER = re.compile(r" ?(?:년|원|명|개|호|세|평|m|km|kg|g|%|~)", re.I)
PHONE_KEYWORDS = re.compile(r"전화|연락처|휴대폰|핸드폰|폰|팩스|문의|상담|고객센터|콜센터"
                            r"|H\.?P|tel|fax|phone|mobile", re.I)


class PhoneNumber(PiiDetector):
    """Mobile (010, 011, 016-019), landline (02, 031-033, 041-044, 051-055, 061-064), 070 VoIP,
    080 toll-free and 0502-0508 safe numbers, with -, ., space or no separator, a 3-4 digit
    middle and a 4 digit last group; the +82 form drops the trunk 0 ("+82 10-1234-5678",
    "+82 (0)2 ..."); an area code may sit in parentheses. Representative numbers 15xx/16xx/18xx
    need their hyphen (bare, "15881234" is any 8-digit number).

    A local number without an area code (123-4567) is not matched: it is indistinguishable from
    other 3-4 digit pairs. Validation: a landline exchange never starts with 0 or 1 and a
    mobile middle group never with 0, which rejects many digit runs that only look the part;
    a run without separators labelled as another number ("예약번호 0326885303") is that number.
    An opening parenthesis belongs to the number only around the area code ("(02) 123-4567");
    in "담당자 (010-1234-5678)" it does not."""

    type = "PHONE"
    pattern = re.compile(_NUMBER_START + r"""
        (?:
            (?P<trunk>\+82[-. ]?(?:\(0\)[-. ]?)?|0|\(0(?=\d{1,3}\)))
            (?P<code>1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|80|50[2-8])\)?
            [-. ]?(?P<middle>\d{3,4})[-. ]?\d{4}
          | (?P<national>1[568]\d{2})-\d{4}
        )""" + _NUMBER_END, re.A | re.X)

    def confidence(self, match: re.Match, text: str) -> str | None:
        if match["national"]:
            return None if UNIT_AFTER.match(text, match.end()) else "medium"
        first = match["middle"][0]
        if match[0].isdigit() and _label_before(PHONE_KEYWORDS, text, match.start()) == "other":
            return None
        if match["code"][0] == "1":
            return None if first == "0" else "high"
        return None if first in "01" else "high"


# --- E-mail --------------------------------------------------------------------------------

# "icon@2x.png" is an image name, not an address.
FILE_EXTENSIONS = frozenset("png jpg jpeg gif svg webp bmp ico css js json html htm pdf zip txt mp4 mp3".split())


class EmailAddress(PiiDetector):
    """local@domain.tld with ASCII letters, digits and ._%+- in the local part and a letter-only
    TLD, so that a Hangul particle right after it ("...@naver.com으로") ends the match."""

    type = "EMAIL"
    trigger = "@"
    pattern = re.compile(r"(?<![\w.%+-])[\w%+-](?:[\w.%+-]{0,62}[\w%+-])?@"
                         r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])", re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        local = match[0].split("@", 1)[0]
        if ".." in local or match[1].lower() in FILE_EXTENSIONS:
            return None
        return "high"


# --- Payment cards -------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_issuer_ok(digits: str) -> bool:
    """The issuer prefix (IIN) allows this length: Visa, Mastercard, Amex, JCB, Diners,
    Discover/UnionPay, and the 9-prefixed Korean domestic-only cards (BC and others)."""
    n, head2, head4 = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= head2 <= 55 or 2221 <= head4 <= 2720:
        return n == 16
    if head2 in (34, 37):
        return n == 15
    if 3528 <= head4 <= 3589:
        return 16 <= n <= 19
    if head2 in (36, 38, 39) or 300 <= head4 // 10 <= 305:
        return 14 <= n <= 19
    if head4 == 6011 or head2 in (62, 64, 65):
        return 16 <= n <= 19
    return digits[0] == "9" and n == 16


CARD_KEYWORDS = re.compile(r"카드|결제|신용|체크|card|visa|master", re.I)


class CardNumber(PiiDetector):
    """13-19 digits grouped 4-4-4-4(-3), 4-6-5 (Amex) or 4-6-4 (Diners) with hyphens or spaces,
    or contiguous. The Luhn check passes for 1 in 10 random numbers, so the issuer prefix must
    also fit the length (a random 16-digit number passes both about 1 time in 30). Contiguous,
    the number also needs a card word (카드, 결제, card) before it: unlabelled 16-digit runs on
    the web are order, tracking and member numbers far more often than card numbers. A number
    labelled as something else (쿠폰번호, 상품권 PIN, 주문번호) is that something else."""

    type = "CARD"
    pattern = re.compile(r"(?<![\w-])(?<!\d[-.])"
                         r"(?:\d{4}(?P<sep>[- ])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{3})?"
                         r"|\d{4}(?P<sep6>[- ])\d{6}(?P=sep6)\d{4,5}"
                         r"|\d{13,19})" + _NUMBER_END, re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        digits = re.sub(r"\D", "", match[0])
        if not (13 <= len(digits) <= 19 and luhn_ok(digits) and card_issuer_ok(digits)):
            return None
        label = _label_before(CARD_KEYWORDS, text, match.start())
        return None if label == "other" or (match[0].isdigit() and label != "own") else "high"


# --- Bank accounts -------------------------------------------------------------------------

BANK_NAMES = (r"국민|신한|우리|하나|농협|기업|카카오\s?뱅크|카카오|토스\s?뱅크|토스|케이\s?뱅크"
              r"|수협|신협|우체국|새마을|산업|씨티|제일|은행|뱅크|금고|KB|NH|IBK|KDB|SC")
ACCOUNT_BEFORE = re.compile(BANK_NAMES + r"|계좌|입금|송금|이체|예금주|무통장|account", re.I)
ACCOUNT_AFTER = re.compile(BANK_NAMES + r"|예금주", re.I)


def distinctive_account_layout(groups: list[str]) -> bool:
    """3-4 groups, 11-14 digits, a first group of 3+ digits and a group of 6+ digits: 3-3-6,
    3-2-6, 6-2-6, 3-6-5, 4-2-7, 4-3-6, 3-6-2-3. No other hyphenated number common in Korean
    text is grouped so (tracking and coupon numbers 4-4-4(-4), phones, BRN 3-2-5, ISBN-10
    2-x-x-1, dates)."""
    lengths = [len(g) for g in groups]
    return 3 <= len(groups) <= 4 and 11 <= sum(lengths) <= 14 and lengths[0] >= 3 and max(lengths) >= 6


class BankAccountNumber(PiiDetector):
    """Hyphenated account numbers of 10-14 digits in 3-4 groups: 3-2-6, 3-3-6 (신한, 케이뱅크),
    3-6-5 (하나), 4-2-7 (카카오뱅크), 4-3-6 (우리), 4-4-4 (토스뱅크), 6-2-6 (국민, 우체국),
    3-4-4-2 (농협), 3-6-2-3 (기업) and the like.

    Bare digit runs are not matched (too ambiguous). A hyphenated one needs a bank name or an
    account word (계좌, 입금, 예금주, ...) before it in its sentence (20 characters), or a bank
    name / 예금주 after it (15) ("110-123-456789 (신한, 예금주 홍길동)"), or a layout no other
    common number has (`distinctive_account_layout`): 4-4-4 and 4-4-4-1 (토스뱅크, 새마을금고),
    3-4-4-2 (농협) and 3-2-4-3 (국민, old) are also tracking, coupon and phone-like numbers and
    need the context. A number labelled as something else (송장, 쿠폰, ISBN) is never an account."""

    type = "ACCOUNT"
    pattern = re.compile(r"(?<![\w-])(?<!\d\.)\d{2,6}(?:-\d{1,7}){2,3}" + _NUMBER_END, re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        if not 10 <= sum(c.isdigit() for c in match[0]) <= 14:
            return None
        label = _label_before(ACCOUNT_BEFORE, text, match.start())
        if label == "other":
            return None
        if label == "own" or _label_after(ACCOUNT_AFTER, text, match.end()):
            return "high"
        return "medium" if distinctive_account_layout(match[0].split("-")) else None


# --- Business registration numbers ---------------------------------------------------------

BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)
BRN_KEYWORDS = re.compile(r"사업자|사업\s?등록|등록\s?번호|business", re.I)


def brn_check_digit_ok(digits: str) -> bool:
    total = sum(weight * int(digit) for weight, digit in zip(BRN_WEIGHTS, digits))
    total += int(digits[8]) * 5 // 10
    return (10 - total % 10) % 10 == int(digits[9])


class BusinessRegistrationNumber(PiiDetector):
    """사업자등록번호 XXX-XX-XXXXX with its official check digit (1 in 10 random numbers pass).
    The tax office code (first group) starts at 101 and the type code (middle) is not 00. The
    bare 10-digit form needs a keyword (사업자, 등록번호) before it; one labelled as another
    number is not a BRN."""

    type = "BRN"
    pattern = re.compile(_NUMBER_START + r"(\d{3})(-?)(\d{2})\2(\d{5})" + _NUMBER_END, re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        digits = match[1] + match[3] + match[4]
        if int(match[1]) < 101 or match[3] == "00" or not brn_check_digit_ok(digits):
            return None
        label = _label_before(BRN_KEYWORDS, text, match.start())
        if label == "other" or (not match[2] and label != "own"):
            return None
        return "high"


# --- Passports -----------------------------------------------------------------------------

PASSPORT_KEYWORDS = re.compile(r"여권|passport", re.I)


class PassportNumber(PiiDetector):
    """Korean passport: a type letter (M, S, R, O, D, G) and 8 digits, or since December 2021
    a letter, 3 digits, a letter and 4 digits (M123A4567). The old form is the shape of many
    order, part and serial numbers (S20240115), so it needs 여권/passport before it in its
    sentence (30 characters); the new form is distinctive enough alone, unless labelled as
    another number."""

    type = "PASSPORT"
    pattern = re.compile(r"(?<![\w-])[MSRODG](?:\d{8}|(?P<new>\d{3}[A-Z]\d{4}))(?![\w-])", re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        label = _label_before(PASSPORT_KEYWORDS, text, match.start(), width=30)
        if label == "other":  # 주문번호 S24011534, 부품번호 M12345678
            return None
        return "high" if match["new"] else ("medium" if label == "own" else None)


# --- IP addresses --------------------------------------------------------------------------

# A version word right before or after a dotted quad makes it a version: "버전 1.2.3.4",
# "v1.2.3.4" (a letter before it), "2.1.0.3 버전으로".
VERSION_BEFORE = re.compile(r"(?:버전|version|ver\.?|빌드|build|릴리스|release|펌웨어|firmware)\s?[:：]?\s?$", re.I)
VERSION_AFTER = re.compile(r"\s?(?:버전|version|ver\b|빌드|build|릴리스|release)", re.I)
IP_KEYWORDS = re.compile(r"(?<![A-Za-z])(?:IP|DNS|ping|host|gateway)(?![A-Za-z])"
                         r"|아이피|주소|서버|게이트웨이|접속|로그인", re.I)


class IPv4Address(PiiDetector):
    """Dotted quads with octets 0-255 and no leading zeros, not part of a longer dotted number
    (1.2.3.4.5) nor preceded by a letter (v1.2.3.4), and not right after or before a version
    word ("버전 1.2.3.4", "2.1.0.3 버전으로"). Four single-digit octets (3.1.2.1) are far more
    often section or version numbers than addresses, so they need an address word (IP, 주소,
    DNS, 서버, 접속...) before or after them in their sentence."""

    type = "IP"
    trigger = "."
    pattern = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\.?\d)(?![A-Za-z_])", re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        octets = match.groups()
        if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
            return None
        start, end = match.span()
        if VERSION_BEFORE.search(text, max(0, start - 12), start) or VERSION_AFTER.match(text, end):
            return None
        if all(len(o) == 1 for o in octets) and not _near(IP_KEYWORDS, text, start, end, before=20, after=12):
            return None
        return "high"


class IPv6Address(PiiDetector):
    """Full and compressed IPv6 (also with an embedded IPv4), validated by `ipaddress`; at least
    two non-empty groups, so that "::" and "::1" in code are left alone. Clock times (12:30:45)
    and MAC addresses (6 groups, no "::") are not valid IPv6. A label's colon may precede it
    ("IP:fe80::1"), a hex group's colon may not (that would start inside an address)."""

    type = "IP"
    trigger = ":"
    pattern = re.compile(r"(?<![\w.])(?<![0-9A-Fa-f]:)(?:[0-9A-Fa-f]{0,4}:){2,7}"
                         r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:])(?!\.\d)", re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        if sum(1 for group in re.split("[:.]", match[0]) if group) < 2:
            return None
        try:
            ipaddress.IPv6Address(match[0])
        except ValueError:
            return None
        return "high"


# --- Redaction -----------------------------------------------------------------------------

# In priority order: at equal length, an overlapping match of an earlier type wins (a checksum-
# validated ID over the context-validated account shape).
DETECTORS: dict[str, tuple[PiiDetector, ...]] = {
    "RRN": (ResidentRegistrationNumber(),),
    "FRN": (ForeignerRegistrationNumber(),),
    "BRN": (BusinessRegistrationNumber(),),
    "CARD": (CardNumber(),),
    "PHONE": (PhoneNumber(),),
    "PASSPORT": (PassportNumber(),),
    "EMAIL": (EmailAddress(),),
    "IP": (IPv4Address(), IPv6Address()),
    "ACCOUNT": (BankAccountNumber(),),
}
PII_TYPES: tuple[str, ...] = tuple(DETECTORS)
PLACEHOLDERS = {pii_type: detectors[0].placeholder for pii_type, detectors in DETECTORS.items()}
_PRIORITY = {pii_type: rank for rank, pii_type in enumerate(PII_TYPES)}
_DIGIT_OR_AT = re.compile(r"[0-9０-９@＠]")


def _candidate_pattern() -> str:
    """An RE2 pattern that matches every text in which any detector can find anything: each
    detector's shape without its look-arounds and validation, over ASCII and full-width forms
    (what `_ASCII_FORM` maps). A superset by construction, checked by the tests against every
    planted and hard-negative case; texts it does not match (most prose, whose numbers are
    years, prices and counts) skip the per-text detectors."""
    d = "[0-9０-９]"
    hyphen = "[-－‐‑–]"
    dot = "[.．]"
    shapes = [
        "[@＠]",  # e-mail
        "[:：][0-9A-Fa-f０-９]{0,4}[:：]",  # IPv6: at least two colons with at most 4 hex digits between
        f"{d}{{1,3}}{dot}{d}{{1,3}}{dot}{d}{{1,3}}{dot}{d}",  # IPv4
        f"{d}{{2}}{hyphen}{d}{{1,7}}{hyphen}{d}",  # account groups (and BRN with hyphens)
        f"{d}{{3}}[-－‐‑–.． ]?{d}{{4}}",  # phone tails, RRN/FRN, BRN, cards, passports: 7 digits, <= 1 separator
        f"{d}{{4}}[-－‐‑– ]{d}{{4}}",  # cards in 4-digit groups (a space-separated phone tail too)
        f"[MSRODG]{d}{{3}}[A-Z]{d}{{4}}",  # passports of the new layout
    ]
    return "|".join(shapes)


PII_CANDIDATE = _candidate_pattern()


def _type_key(types: Iterable[str] | None) -> tuple[str, ...] | None:
    if isinstance(types, str):
        types = (types,)
    return None if types is None else tuple(sorted(set(types)))


@cache
def _selected(types: tuple[str, ...] | None) -> tuple[PiiDetector, ...]:
    chosen = PII_TYPES if types is None else types
    unknown = sorted(set(chosen) - set(PII_TYPES))
    if unknown:
        raise ValueError(f"unknown PII type(s) {unknown}; known: {list(PII_TYPES)}")
    return tuple(detector for pii_type in PII_TYPES if pii_type in chosen for detector in DETECTORS[pii_type])


def find_pii(text: str, types: Iterable[str] | None = None) -> list[PiiSpan]:
    """Non-overlapping PII spans in text order; of overlapping matches the longest wins, then
    the type listed first in `PII_TYPES`."""
    detectors = _selected(_type_key(types))
    if not _DIGIT_OR_AT.search(text):  # every PII type but e-mail contains digits
        return []
    ascii_text = text.translate(_ASCII_FORM)
    candidates = [span for detector in detectors for span in detector.find(ascii_text)]
    chosen: list[PiiSpan] = []  # non-overlapping, in text order
    starts: list[int] = []
    for span in sorted(candidates, key=lambda s: (s.start - s.end, _PRIORITY[s.type], s.start)):
        at = bisect.bisect_left(starts, span.start)
        if (at == 0 or chosen[at - 1].end <= span.start) and (at == len(chosen) or span.end <= chosen[at].start):
            chosen.insert(at, span)
            starts.insert(at, span.start)
    return chosen


def redact(text: str, types: Iterable[str] | None = None) -> tuple[str, Counter]:
    """The text with every PII match replaced by its placeholder (<RRN>, <PHONE>, ...), and the
    number of matches by type."""
    pieces: list[str] = []
    last = 0
    spans = find_pii(text, types)
    for span in spans:
        pieces += [text[last:span.start], PLACEHOLDERS[span.type]]
        last = span.end
    pieces.append(text[last:])
    return "".join(pieces), Counter(span.type for span in spans)


REDACTIONS_PREFIX = "redactions."


def redaction_metadata(extra: Counter) -> dict:
    """A partition's PII counters as metadata: redactions by type, documents with any."""
    by_type = {k.removeprefix(REDACTIONS_PREFIX): v for k, v in extra.items() if k.startswith(REDACTIONS_PREFIX)}
    return {"pii_redactions_by_type": dict(sorted(by_type.items())),
            "documents_with_pii": extra.get("documents_with_pii", 0)}


class PiiRedactor(DocumentStage):
    """Replaces the text with its redacted form and adds `pii_redactions`, a JSON object of
    counts by type ({"PHONE": 2, "RRN": 1}; "{}" when none). Keeps every document: a document
    with PII is still training data once the PII is gone. Null texts stay null."""

    name = "pii_redacted"

    def __init__(self, types: Iterable[str] | None = None) -> None:
        self.types = _type_key(types)
        _selected(self.types)  # unknown types fail here, before any batch

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        column = batch.column("text").cast(pa.string()).combine_chunks()
        # Only texts the candidate pattern matches (RE2, over the whole column) can hold PII;
        # the others are returned as they are, without leaving Arrow.
        candidates = np.flatnonzero(pc.match_substring_regex(column, PII_CANDIDATE).fill_null(False)
                                    .to_numpy(zero_copy_only=False))
        counts = np.full(len(column), "{}", dtype=object)
        if not len(candidates):
            return {"text": column, "pii_redactions": pa.array(counts, pa.string())}
        redacted_texts = []
        for position, text in zip(candidates, column.take(candidates).to_pylist()):
            redacted, found = redact(text, self.types)
            redacted_texts.append(redacted)
            counts[position] = json.dumps(dict(sorted(found.items())))
        mask = np.zeros(len(column), dtype=bool)
        mask[candidates] = True
        texts = pc.replace_with_mask(column, pa.array(mask), pa.array(redacted_texts, pa.string()))
        return {"text": texts, "pii_redactions": pa.array(counts, pa.string())}

    def batch_extra(self, scores: dict[str, pa.Array]) -> Counter:
        """`documents_with_pii`, and `redactions.TYPE` per type: read back from the column, so
        the counts of a batch travel with its result and nothing accumulates on the stage."""
        extra: Counter = Counter()
        column = scores["pii_redactions"]
        for counts in column.filter(pc.not_equal(column, "{}")).to_pylist():
            extra["documents_with_pii"] += 1
            for kind, n in json.loads(counts).items():
                extra[REDACTIONS_PREFIX + kind] += n
        return extra

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        n = len(scores["pii_redactions"])
        return Decision(keep=np.ones(n, dtype=bool), reasons=[None] * n, details=[None] * n)
