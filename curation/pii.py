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

import ipaddress
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

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


def _near(keywords: re.Pattern, text: str, start: int, end: int, before: int = 20, after: int = 0) -> bool:
    """A keyword within `before` characters before the match or `after` characters after it."""
    return bool(keywords.search(text, max(0, start - before), start) or (after and keywords.search(text, end, end + after)))


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
ID_KEYWORDS = re.compile(r"주민|등록\s*번호|외국인|신분증|resident|registration|RRN|ARN", re.I)
# Corporate registration numbers (법인등록번호, 110111-1234567) have the same 6-7 shape and
# their first six digits often read as a date.
CORPORATE_KEYWORDS = re.compile(r"법인")


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
    separator (hyphen or space): it only lowers the confidence. Two exceptions, for precision:
    a bare 13-digit run (order numbers, barcodes and unhyphenated account numbers are 13 digits
    too, and about 4 % of random ones hold a valid date) needs a valid check digit or an ID
    keyword just before it; and G = 9/0 needs a valid check digit, since everyone born in the
    1800s was numbered long before 2020."""

    type = "RRN"
    gender_digits = "123490"
    pattern = re.compile(_NUMBER_START + r"(\d{6})( ?- ?| )?(\d{7})" + _NUMBER_END, re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        digits = match[1] + match[3]
        if digits[6] not in self.gender_digits or birth_date(digits) is None:
            return None
        if _near(CORPORATE_KEYWORDS, text, match.start(), match.end(), before=15):
            return None
        if registration_check_digit_ok(digits):
            return "high"
        if digits[6] in "90":
            return None
        if not match[2] and not _near(ID_KEYWORDS, text, match.start(), match.end(), before=20):
            return None
        return "medium"


class ForeignerRegistrationNumber(ResidentRegistrationNumber):
    """외국인등록번호: the same layout and rules with G = 5-8 (1900s/2000s births)."""

    type = "FRN"
    gender_digits = "5678"


# --- Phone numbers -------------------------------------------------------------------------

# A representative number (1588-1234) reads like a year or amount range when a unit follows:
# "1592-1598년", "1500-2000원", "1600-1800m", document numbers "제1588-1234호".
UNIT_AFTER = re.compile(r" ?(?:년|원|명|개|회|건|호|세|평|대|차|m|km|kg|g|%|~)", re.I)


class PhoneNumber(PiiDetector):
    """Mobile (010, 011, 016-019), landline (02, 031-033, 041-044, 051-055, 061-064), 070 VoIP,
    080 toll-free and 0502-0508 safe numbers, with -, ., space or no separator, a 3-4 digit
    middle and a 4 digit last group; the +82 form drops the trunk 0 ("+82 10-1234-5678",
    "+82 (0)2 ..."); an area code may sit in parentheses. Representative numbers 15xx/16xx/18xx
    need their hyphen (bare, "15881234" is any 8-digit number).

    A local number without an area code (123-4567) is not matched: it is indistinguishable from
    other 3-4 digit pairs. Validation: a landline exchange never starts with 0 or 1 and a
    mobile middle group never with 0, which rejects many digit runs that only look the part."""

    type = "PHONE"
    pattern = re.compile(_NUMBER_START + r"""
        (?:
            (?P<trunk>\+82[-. ]?(?:\(0\)[-. ]?)?|\(?0)
            (?P<code>1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|80|50[2-8])\)?
            [-. ]?(?P<middle>\d{3,4})[-. ]?\d{4}
          | (?P<national>1[568]\d{2})-\d{4}
        )""" + _NUMBER_END, re.A | re.X)

    def confidence(self, match: re.Match, text: str) -> str | None:
        if match["national"]:
            return None if UNIT_AFTER.match(text, match.end()) else "medium"
        first = match["middle"][0]
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


class CardNumber(PiiDetector):
    """13-19 digits grouped 4-4-4-4(-3), 4-6-5 (Amex) or 4-6-4 (Diners) with hyphens or spaces,
    or contiguous. The Luhn check passes for 1 in 10 random numbers, so the issuer prefix must
    also fit the length (a random 16-digit number passes both about 1 time in 30)."""

    type = "CARD"
    pattern = re.compile(r"(?<![\w-])(?<!\d[-.])"
                         r"(?:\d{4}(?P<sep>[- ])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{3})?"
                         r"|\d{4}(?P<sep6>[- ])\d{6}(?P=sep6)\d{4,5}"
                         r"|\d{13,19})" + _NUMBER_END, re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        digits = re.sub(r"\D", "", match[0])
        return "high" if 13 <= len(digits) <= 19 and luhn_ok(digits) and card_issuer_ok(digits) else None


# --- Bank accounts -------------------------------------------------------------------------

BANK_NAMES = (r"국민|신한|우리|하나|농협|기업|카카오\s?뱅크|카카오|토스\s?뱅크|토스|케이\s?뱅크|수협|신협|우체국|새마을"
              r"|산업|씨티|제일|은행|뱅크|금고|KB|NH|IBK|KDB|SC")
ACCOUNT_BEFORE = re.compile(BANK_NAMES + r"|계좌|입금|송금|이체|예금주|무통장|account", re.I)
ACCOUNT_AFTER = re.compile(BANK_NAMES + r"|예금주", re.I)
# Fixed bank prefixes that identify the bank on their own: KakaoBank 3333-XX-XXXXXXX and
# Woori 1002-XXX-XXXXXX.
DISTINCTIVE_ACCOUNT = re.compile(r"3333-\d{2}-\d{7}|1002-\d{3}-\d{6}")


class BankAccountNumber(PiiDetector):
    """Hyphenated account numbers of 10-14 digits in 3-4 groups: 3-2-6, 3-3-6 (신한, 케이뱅크),
    3-6-5 (하나), 4-2-7 (카카오뱅크), 4-3-6 (우리), 4-4-4 (토스뱅크), 6-2-6 (국민, 우체국),
    3-4-4-2 (농협), 3-6-2-3 (기업) and the like.

    Bare digit runs are not matched, and a hyphenated one needs a bank name or an account word
    (계좌, 입금, 예금주, ...) within 20 characters before it, or a bank name / 예금주 within 15
    after it ("110-123-456789 (신한, 예금주 홍길동)"): the same groupings serve tracking numbers
    (4-4-4), order and coupon numbers. Only the fixed KakaoBank and Woori prefixes stand alone."""

    type = "ACCOUNT"
    pattern = re.compile(r"(?<![\w-])(?<!\d\.)\d{2,6}(?:-\d{1,7}){2,3}" + _NUMBER_END, re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        if not 10 <= sum(c.isdigit() for c in match[0]) <= 14:
            return None
        if DISTINCTIVE_ACCOUNT.fullmatch(match[0]):
            return "high"
        return "medium" if _near(ACCOUNT_BEFORE, text, match.start(), match.end(), before=20) or _near(
            ACCOUNT_AFTER, text, match.start(), match.end(), before=0, after=15) else None


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
    bare 10-digit form needs a keyword (사업자, 등록번호) just before it."""

    type = "BRN"
    pattern = re.compile(_NUMBER_START + r"(\d{3})(-?)(\d{2})\2(\d{5})" + _NUMBER_END, re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        digits = match[1] + match[3] + match[4]
        if int(match[1]) < 101 or match[3] == "00" or not brn_check_digit_ok(digits):
            return None
        if not match[2] and not _near(BRN_KEYWORDS, text, match.start(), match.end(), before=20):
            return None
        return "high"


# --- Passports -----------------------------------------------------------------------------

PASSPORT_KEYWORDS = re.compile(r"여권|passport", re.I)


class PassportNumber(PiiDetector):
    """Korean passport: a type letter (M, S, R, O, D, G) and 8 digits, or since December 2021
    a letter, 3 digits, a letter and 4 digits (M123A4567). The old form is the shape of many
    order, part and serial numbers (S20240115), so it needs 여권/passport within 30 characters
    before it; the new form is distinctive enough alone."""

    type = "PASSPORT"
    pattern = re.compile(r"(?<![\w-])[MSRODG](?:\d{8}|(?P<new>\d{3}[A-Z]\d{4}))(?![\w-])", re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        if match["new"]:
            return "high"
        return "medium" if _near(PASSPORT_KEYWORDS, text, match.start(), match.end(), before=30) else None


# --- IP addresses --------------------------------------------------------------------------

VERSION_KEYWORDS = re.compile(r"버전|version|ver\b|빌드|build|릴리스|release|펌웨어|firmware", re.I)
IP_KEYWORDS = re.compile(r"IP|아이피|주소|DNS|서버|게이트웨이|gateway|ping|host|접속", re.I)


class IPv4Address(PiiDetector):
    """Dotted quads with octets 0-255 and no leading zeros, not part of a longer dotted number
    (1.2.3.4.5) nor preceded by a letter (v1.2.3.4) or a version word within 15 characters.
    Four single-digit octets (3.1.2.1) are far more often section or version numbers than
    addresses, so they need an address word (IP, 주소, DNS, 서버...) before them."""

    type = "IP"
    trigger = "."
    pattern = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\.?\d)(?![A-Za-z_])", re.A)

    def confidence(self, match: re.Match, text: str) -> str | None:
        octets = match.groups()
        if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
            return None
        if _near(VERSION_KEYWORDS, text, match.start(), match.end(), before=15):
            return None
        if all(len(o) == 1 for o in octets) and not _near(IP_KEYWORDS, text, match.start(), match.end(), before=20):
            return None
        return "high"


class IPv6Address(PiiDetector):
    """Full and compressed IPv6 (also with an embedded IPv4), validated by `ipaddress`; at least
    two non-empty groups, so that "::" and "::1" in code are left alone. Clock times (12:30:45)
    and MAC addresses (6 groups, no "::") are not valid IPv6."""

    type = "IP"
    trigger = ":"
    pattern = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
                         r"(?![\w:])(?!\.\d)", re.A)

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
_PRIORITY = {pii_type: rank for rank, pii_type in enumerate(PII_TYPES)}
_DIGIT_OR_AT = re.compile(r"[0-9０-９@＠]")


@lru_cache(maxsize=None)
def _selected(types: tuple[str, ...] | None) -> tuple[PiiDetector, ...]:
    chosen = PII_TYPES if types is None else types
    unknown = sorted(set(chosen) - set(PII_TYPES))
    if unknown:
        raise ValueError(f"unknown PII type(s) {unknown}; known: {list(PII_TYPES)}")
    return tuple(detector for pii_type in PII_TYPES if pii_type in chosen for detector in DETECTORS[pii_type])


def find_pii(text: str, types: Iterable[str] | None = None) -> list[PiiSpan]:
    """Non-overlapping PII spans in text order; of overlapping matches the longest wins, then
    the type listed first in `PII_TYPES`."""
    detectors = _selected(None if types is None else tuple(sorted(set(types))))
    if not _DIGIT_OR_AT.search(text):  # every PII type but e-mail contains digits
        return []
    ascii_text = text.translate(_ASCII_FORM)
    candidates = [span for detector in detectors for span in detector.find(ascii_text)]
    chosen: list[PiiSpan] = []
    for span in sorted(candidates, key=lambda s: (s.start - s.end, _PRIORITY[s.type], s.start)):
        if all(span.end <= kept.start or span.start >= kept.end for kept in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def redact(text: str, types: Iterable[str] | None = None) -> tuple[str, Counter]:
    """The text with every PII match replaced by its placeholder (<RRN>, <PHONE>, ...), and the
    number of matches by type."""
    pieces: list[str] = []
    last = 0
    spans = find_pii(text, types)
    for span in spans:
        pieces += [text[last:span.start], f"<{span.type}>"]
        last = span.end
    pieces.append(text[last:])
    return "".join(pieces), Counter(span.type for span in spans)


class PiiRedactor(DocumentStage):
    """Replaces the text with its redacted form and adds `pii_redactions`, a JSON object of
    counts by type ({"PHONE": 2, "RRN": 1}; "{}" when none). Keeps every document: a document
    with PII is still training data once the PII is gone. Null texts stay null."""

    name = "pii_redactor"

    def __init__(self, types: Iterable[str] | None = None) -> None:
        super().__init__()
        self.types = None if types is None else tuple(sorted(set(types)))
        _selected(self.types)  # unknown types fail here, before any batch

    def score_batch(self, batch: pa.Table) -> dict[str, pa.Array]:
        texts: list[str | None] = []
        counts: list[str] = []
        for text in batch.column("text").cast(pa.string()).to_pylist():
            redacted, found = redact(text, self.types) if text else (text, Counter())
            texts.append(redacted)
            counts.append(json.dumps(dict(sorted(found.items()))))
        return {"text": pa.array(texts, pa.string()), "pii_redactions": pa.array(counts, pa.string())}

    def decide(self, scores: dict[str, pa.Array]) -> Decision:
        n = len(scores["pii_redactions"])
        return Decision(keep=np.ones(n, dtype=bool), reasons=[None] * n, details=[None] * n)
