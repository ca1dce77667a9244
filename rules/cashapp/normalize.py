"""Normalisation of the things people type differently: bank accounts, document numbers, names."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate

_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
_NOT_DIGIT = re.compile(r"\D+")
# Deleting every ASCII non-digit with str.translate is faster than a regex on a million numbers.
_KEEP_DIGITS = {c: None for c in range(128) if not chr(c).isdigit()}

# Dates and money amounts in a remittance text are digits too; removing them first keeps
# "paid 06.03.2024 EUR 1.190,00 inv 1001" from offering 2024 or 1190 as invoice numbers.
_DATES = re.compile(
    r"(?<!\d)(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)?\d{2}|(?:19|20)\d{2}-\d{2}-\d{2})(?!\d)"
)
_MONEY = re.compile(r"(?<![\d/])\d{1,3}(?:[.,' ]\d{3})*[.,]\d{2}(?![\d/])")
# A run of digit groups joined by one separator: "2024-00042", "1001/1002", "1001 1002", and a
# number a line break split in two ("INV-1001\n05" when a bank wraps the reference field).
_DIGIT_RUN = re.compile(r"\d+(?:(?:[-/. ]|\r?\n)\d+)*")
# Keyed or scanned references mistake O for 0 and l or I for 1 inside a number ("INV-1OO1O5");
# only a run that is mostly digits is read that way, so words like "INVOICE" or "OIL" stay words.
_OCR_RUN = re.compile(r"(?<![A-Za-z])[0-9OoIl|]*\d[0-9OoIl|]*(?![A-Za-z])")
_OCR_DIGITS = str.maketrans("OoIl|", "00111")
_OCR_LETTERS = frozenset("OoIl|")
# A run of digits and look-alike letters that holds both has a letter beside a digit somewhere; a
# reference without one ("Payment for INV 203460") has nothing to read as digits.
_OCR_BESIDE_DIGIT = re.compile(r"[OoIl|]\d|\d[OoIl|]")

_LEGAL_FORMS = frozenset((
    "gmbh", "ag", "kg", "ohg", "ug", "mbh", "gbr", "ek", "inc", "incorporated", "llc", "ltd", "limited",
    "co", "corp", "corporation", "company", "plc", "lp", "llp", "sa", "sas", "sarl", "srl", "spa", "bv",
    "nv", "ab", "oy", "as", "aps", "pty", "pte", "kk", "the", "and", "und", "et", "of",
))
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "&": " ", "æ": "ae", "ø": "o"})


def normalize_account(account: str | None) -> str:
    """Compare bank accounts the way a bank does: case, spaces, dashes and an 'IBAN' label ignored.

    >>> normalize_account("iban: DE89 3704-0044 0532.0130 00")
    'DE89370400440532013000'
    """
    if not account:
        return ""
    value = _NOT_ALNUM.sub("", account.upper())
    if value.startswith("IBAN") and len(value) > 8 and value[4:6].isalpha():
        value = value[4:]
    return value


def number_key(number: str | None) -> str:
    """The digits of a document number without leading zeros, as Odoo compares numeric tokens.

    >>> number_key("INV/2024/00042")
    '202400042'
    """
    if not number:
        return ""
    value = number.translate(_KEEP_DIGITS)
    if not value.isascii() or not value.isdigit():
        value = _NOT_DIGIT.sub("", value)
    return value.lstrip("0")


# Every byte but the ASCII digits and the line break that separates numbers in number_keys().
_NON_DIGIT_BYTES = bytes(c for c in range(256) if not (48 <= c <= 57 or c == 10))
_LEADING_ZEROS = re.compile(r"^0+", re.MULTILINE)


def number_keys(numbers: list[str]) -> list[str]:
    """:func:`number_key` of many numbers at once: one pass over all of them instead of one call each.

    >>> number_keys(["INV-0042", "2024/17"])
    ['42', '202417']
    """
    joined = "\n".join(numbers)
    if not joined.isascii() or joined.count("\n") != len(numbers) - 1:
        return [number_key(n) for n in numbers]
    digits = joined.encode("ascii").translate(None, _NON_DIGIT_BYTES).decode("ascii")
    if digits.startswith("0") or "\n0" in digits:
        digits = _LEADING_ZEROS.sub("", digits)
    return digits.split("\n") if numbers else []


def extract_number_keys(text: str | None, min_digits: int = 3, max_group: int = 3) -> list[str]:
    """Candidate document-number keys found anywhere in free text, in order of appearance.

    Each digit group is a candidate, and so are up to ``max_group`` consecutive groups joined, so
    ``/INV/2024/0042/`` offers ``2024``, ``42`` and ``202400042`` and the index decides which is real.

    Args:
        text: A payment reference, memo or remittance line.
        min_digits: Shorter candidates are ignored (house numbers, counts).
        max_group: How many consecutive digit groups may form one number.

    Returns:
        Distinct keys, first occurrence first.
    """
    if not text:
        return []
    return list(_keys_of_one(text, min_digits, max_group))


# Texts are joined at a character no pattern below matches and every lookaround reads like the
# text's start or end, so one regex pass over the joined texts finds what one pass each would.
_SEPARATOR = "\x00"
_DIGIT_RUN_OR_SEPARATOR = re.compile(_SEPARATOR + "|" + _DIGIT_RUN.pattern)
# A look-alike letter beside a digit, or a digit, a separator and a digit in a row: every text with
# something to read as digits or a date or money amount to remove has one; most texts have none.
_NEEDS_READING = re.compile(r"[OoIl|]\d|\d[OoIl|]|\d[./,-]\d")
# The same search over ASCII text, cheaper as literals over each byte's class: d a digit, o a
# look-alike letter, p a separator, a space anything else.
_CHAR_CLASS = bytes(
    ord("d") if chr(c).isdigit() else ord("o") if chr(c) in "OoIl|" else ord("p") if chr(c) in "./,-" else 32
    for c in range(128)
) + bytes([32] * 128)
_NEEDS_READING_BY_CLASS = re.compile(rb"do|od|dpd")


def extract_number_keys_all(texts: Sequence[str | None], min_digits: int = 3,
                            max_group: int = 3) -> list[tuple[str, ...]]:
    """:func:`extract_number_keys` of many texts, each as a tuple: the regex passes made over all at once."""
    if any(t and _SEPARATOR in t for t in texts):
        return [_keys_of_one(t, min_digits, max_group) for t in texts]
    pieces = [t or "" for t in texts]
    joined = _SEPARATOR.join(pieces)
    if joined.isascii():
        hits = [m.start() for m in _NEEDS_READING_BY_CLASS.finditer(joined.encode().translate(_CHAR_CLASS))]
    else:
        hits = [m.start() for m in _NEEDS_READING.finditer(joined)]
    ends = list(accumulate(len(p) + 1 for p in pieces))
    needing = {bisect_right(ends, h) for h in hits}
    if needing:
        for i in needing:
            pieces[i] = _readable(pieces[i])
        joined = _SEPARATOR.join(pieces)
    found: list[tuple[str, ...]] = []
    seen: dict[str, None] = {}
    for run in _DIGIT_RUN_OR_SEPARATOR.findall(joined):
        if run == _SEPARATOR:
            found.append(tuple(seen))
            seen = {}
        elif run.isdigit():
            key = run.lstrip("0")
            if len(key) >= min_digits:
                seen.setdefault(key, None)
        else:
            _add_group_keys(run, seen, min_digits, max_group)
    found.append(tuple(seen))
    return found if texts else []


def _keys_of_one(text: str | None, min_digits: int, max_group: int) -> tuple[str, ...]:
    if not text:
        return ()
    seen: dict[str, None] = {}
    for run in _DIGIT_RUN.findall(_readable(text)):
        _add_group_keys(run, seen, min_digits, max_group)
    return tuple(seen)


def _readable(text: str) -> str:
    """``text`` with look-alike letters in a number read as digits and dates and money amounts removed."""
    if not _OCR_LETTERS.isdisjoint(text) and _OCR_BESIDE_DIGIT.search(text):
        text = _OCR_RUN.sub(_ocr_digits, text)
    return _MONEY.sub(" ", _DATES.sub(" ", text))


def _add_group_keys(run: str, seen: dict[str, None], min_digits: int, max_group: int) -> None:
    groups = _NOT_DIGIT.split(run)
    n = len(groups)
    for i in range(n):
        joined = ""
        for j in range(i, min(n, i + max_group)):
            joined += groups[j]
            key = joined.lstrip("0")
            if len(key) >= min_digits:
                seen.setdefault(key, None)


def _ocr_digits(match: re.Match[str]) -> str:
    run = match.group()
    digits = sum(c.isdigit() for c in run)
    if digits == len(run) or digits < 2 or digits < len(run) - digits:
        return run
    return run.translate(_OCR_DIGITS)


def one_typo_apart(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with one wrong digit or two adjacent digits swapped."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    if len(diff) == 2:
        i, j = diff
        return j == i + 1 and a[i] == b[j] and a[j] == b[i]
    return False


# "Harbor Freightlines Ltd t/a Blue Anchor Cafe": the legal name and the name the customer trades
# (and pays) under are both the customer's.
_TRADING_AS = re.compile(
    r"\s+(?:t/a|t\.a\.|trading\s+as|d/b/a|d\.b\.a\.|dba|doing\s+business\s+as|a/k/a|aka)\s+", re.IGNORECASE
)


def name_parts(name: str) -> list[str]:
    """A customer name split at "trading as", "t/a", "doing business as", "dba" or "aka" markers.

    >>> name_parts("Harbor Freightlines Ltd t/a Blue Anchor Cafe")
    ['Harbor Freightlines Ltd', 'Blue Anchor Cafe']
    """
    return list(_name_parts(name))


# A payer's name is looked at several times while one payment is decided (its score, the customers
# it fits as well, their namesakes), and the same payers pay again: each distinct name is read once.
@lru_cache(maxsize=1 << 16)
def _name_parts(name: str) -> tuple[str, ...]:
    parts = [p.strip() for p in _TRADING_AS.split(name)]
    return tuple(p for p in parts if p) or (name,)


@lru_cache(maxsize=1 << 16)
def normalize_name(name: str | None) -> str:
    """A company name reduced to what identifies it: lower case, ASCII, no legal form or punctuation.

    >>> normalize_name("Müller Maschinenbau GmbH & Co. KG")
    'mueller maschinenbau'
    """
    if not name:
        return ""
    value = name.casefold().translate(_TRANSLIT)
    # Dotted legal forms are one word: "S.r.l." is "srl", "e.K." is "ek", "B.V." is "bv".
    tokens = _ascii_words(value).split()
    kept = [t for t in tokens if t not in _LEGAL_FORMS]
    return " ".join(kept or tokens)


# Every byte but lower-case letters, digits and the line break that separates names in
# normalize_names() becomes a space; tokens are split at whitespace, so a run of spaces is one.
_WORD_BYTES = bytes(c if (97 <= c <= 122 or 48 <= c <= 57 or c == 10) else 32 for c in range(256))


def _ascii_words(value: str) -> str:
    """``value`` decomposed to ASCII, dots deleted and everything but ``[a-z0-9\\n]`` made a space."""
    ascii_bytes = unicodedata.normalize("NFKD", value).encode("ascii", "ignore")
    return ascii_bytes.translate(_WORD_BYTES, b".").decode("ascii")


def normalize_names(names: list[str]) -> list[str]:
    """:func:`normalize_name` of many names at once: the text work done in one pass over all of them.

    >>> normalize_names(["Müller Maschinenbau GmbH & Co. KG", "B.V. Holland"])
    ['mueller maschinenbau', 'holland']
    """
    if not names:
        return []
    joined = "\n".join(names)
    if joined.count("\n") != len(names) - 1:
        # A line break inside a name (a bank wrapping a reference) parts its words as a space does.
        joined = "\n".join([name.replace("\n", " ") for name in names])
    value = joined.casefold().translate(_TRANSLIT)
    lines = _ascii_words(value).split("\n")
    if len(lines) != len(names):
        return [normalize_name(n) for n in names]
    found = []
    for line in lines:
        tokens = line.split()
        kept = [t for t in tokens if t not in _LEGAL_FORMS]
        found.append(" ".join(kept or tokens))
    return found


def name_tokens(normalized: str) -> list[str]:
    """Tokens long enough to find candidate customers by."""
    return [t for t in normalized.split() if len(t) >= 3 and not t.isdigit()]
