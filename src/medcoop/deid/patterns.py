"""Identifiers recognised by their form alone, whoever they belong to.

:func:`clean_text` in :mod:`medcoop.deid.residuals` removes an object's own identifying
values; this module owns what does not depend on knowing a value: dates in any common
notation (digits, month names in several languages, Korean, Japanese and Chinese forms),
runs and groups of digits (reformatted IDs, telephone numbers), e-mail addresses, national
identity numbers, street addresses, caret-joined names, titled names and names after
words that introduce a person ("seen by", "mother"), CJK names with honorifics, and
labelled identifiers (:func:`scrub`). :func:`national_id_kinds` and :data:`EMAIL` are the
strict subset the residual gate also checks in every output: forms with a check digit or
an ``@``, which ordinary clinical text never holds.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["EMAIL", "national_id_kinds", "scrub", "strict_hits"]

_MONTHS = (
    "jan|january|janv|janvier|januar|januari|enero|ene|gennaio|tammikuu|tammikuuta"
    "|feb|february|febr|fevr|fevrier|februar|februari|febrero|febbraio|helmikuu|helmikuuta"
    "|mar|march|mars|marz|maerz|marzo|maart|maaliskuu|maaliskuuta"
    "|apr|april|avr|avril|abril|aprile|huhtikuu|huhtikuuta"
    "|may|mai|maj|mayo|maggio|mei|toukokuu|toukokuuta"
    "|jun|june|juin|juni|junio|giugno|kesakuu|kesakuuta"
    "|jul|july|juil|juillet|juli|julio|luglio|heinakuu|heinakuuta"
    "|aug|august|aout|augusti|agosto|augustus|elokuu|elokuuta"
    "|sep|sept|september|septembre|septiembre|settembre|syyskuu|syyskuuta"
    "|oct|october|okt|oktober|octobre|octubre|ottobre|lokakuu|lokakuuta"
    "|nov|november|novembre|noviembre|marraskuu|marraskuuta"
    "|dec|december|dez|dezember|decembre|diciembre|dicembre|joulukuu|joulukuuta"
)
_MONTH = rf"(?:{_MONTHS})\.?"
_YEAR = r"(?:1[89]|20)\d{2}"
_NAME_WORD = r"[^\W\d_][\w'’^-]*"
_CAPITAL_WORD = r"[^\W\d_a-z][\w'’^-]*"
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"

_STREET_SUFFIXES = (
    "straße", "strasse", "str.", "gasse", "weg", "allee", "platz", "ring", "damm", "gatan",
    "vägen", "vagen", "gränd", "katu", "tie", "kuja", "laan", "straat", "gracht", "plein",
    "vej", "gade", "veien",
)

#: Forms that hold a digit: dates, numbers, addresses with a house number, labelled IDs.
_WITH_DIGITS = re.compile(
    "|".join(
        [
            # national IDs first (a personnummer starts like a date): 19851203-1234,
            # 850312+1234, 131052-308T
            r"(?<![\d.])(?:19|20)?\d{6}[-+]\d{4}(?![\d.]\d)",
            r"(?<![\w.])\d{6}[-+A-F]\d{3}[0-9A-Y](?!\w)",
            # dates: 1985-12-03, 19851203, 03.12.1985, 12/03/85
            rf"(?<![\d.]){_YEAR}[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])(?![\d])",
            r"(?<![\d.])(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)?\d{2}(?!\d)",
            # 3 Dec 1985, 3rd of December 1985, December 3, 1985, Dec-1985
            rf"(?i:\b\d{{1,2}}(?:st|nd|rd|th)?\.?\s*(?:of\s+)?[-/ ]?{_MONTH}[-/ ,]*"
            rf"(?:{_YEAR}|'?\d{{2}})?\b)",
            rf"(?i:\b{_MONTH}[-/ ]+\d{{1,2}}(?:st|nd|rd|th)?,?\s+{_YEAR}\b)",
            rf"(?i:\b{_MONTH}[-/ ]+{_YEAR}\b)",
            # 1985년 12월 3일, 1985年12月3日, 昭和60年12月3日
            r"\d{2,4}\s*[년年]\s*\d{1,2}\s*[월月]\s*(?:\d{1,2}\s*[일日])?",
            r"(?:明治|大正|昭和|平成|令和)\s*\d{1,2}\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?",
            # digits: long runs, groups separated by - . / (2086828 as 208-6828, a BSN as
            # 1505.87.706), telephone numbers
            r"(?<![\d.])\d{6,}(?![\d.]\d)",
            r"(?<![\d.])\d{2,}(?:[-./]\d{2,}){2,4}(?![\d.]\d)",
            r"(?<![\d.])\d{3,}[-/]\d{3,}(?![\d.]\d)",
            r"\+?\(?\d[\d ()-]{8,}\d",
            # street addresses: 12 Juniper Crescent
            r"(?i:\b\d{1,5}[a-z]?,?\s+(?:[^\W\d_][\w'.-]*\s+){0,3}(?:street|st|road|rd|avenue"
            r"|ave|lane|ln|crescent|cres|drive|way|court|ct|place|pl|boulevard|blvd|terrace"
            r"|close|gardens|square|sq|hill|row|walk|grove|park)\b\.?)",
            # labelled identifiers: MRN: 123, DOB 3/12, Personnummer 19851203-1234
            r"(?i:\b(?:MRN|NHS|DOB|SSN|PID|BSN|HETU|CPR|PESEL|NIN|NINO|AHV|DNI|NIE|NIR|SIN"
            r"|personnummer|henkilötunnus|burgerservicenummer|patient\s+id|id)\b\s*"
            r"(?:no\.?|nr\.?|number)?\s*[:#=]?\s*[\w./-]*\d[\w./-]*)",
        ]
    )
)
#: A word and a house number (Wolfsgarten Weg 7): an address when the word is a street's.
_WORD_NUMBER = re.compile(r"\b(?:[^\W\d_][\w'-]*\s+)?([^\W\d_][\w'.-]*)\s*\d{1,4}[a-z]?\b")
#: Names in text: caret-joined, titled, after a word that introduces a person; addresses
#: introduced by a street word (Calle Almendro 4).
_NAMES = re.compile(
    "|".join(
        [
            # caret-joined names (DICOM PN written into text): SMITH^ANNA, wu^li^^dr
            r"[^\W\d_][\w'’-]*(?:\^[\w'’-]*)+",
            # titled names: Dr Li Wu, dr. yu, Prof. Nakamura, Herr Müller (DR CHEST stays)
            rf"\b(?:Dr|Prof|Mr|Mrs|Ms|Miss|Herr|Frau|Mme|Mlle|Sr|Sra|Dott|Doz|Fr|Hr)\.?\s+"
            rf"(?:{_CAPITAL_WORD}\s*){{1,3}}",
            rf"(?i:\b(?:dr|prof|mr|mrs|ms|sr|sra|dott)\.\s*(?:{_NAME_WORD}\s*){{1,2}})",
            # names after words that introduce a person
            r"(?i:\b(?:seen|referred|reported|dictated|signed|called|accompanied|verified"
            r"|approved|read|typed|booked|requested|ordered|performed|examined|scanned)\s+by)"
            rf"\s+(?:{_NAME_WORD}\.?\s*){{1,2}}",
            r"(?i:\b(?:mother|father|wife|husband|son|daughter|brother|sister|relative"
            r"|next\s+of\s+kin|guardian|spouse|partner|contact|carer|caregiver)\b)[:\s]+"
            rf"(?:{_NAME_WORD}\s*){{1,3}}",
            r"(?i:\b(?:calle|c/|avenida|avda\.?|av\.|paseo|plaza|via|viale|piazza|rua|rue"
            r"|boulevard|chemin|impasse|ulica|ul\.)\s+(?:[^\W\d_][\w'.-]*\s*){1,4}"
            r"(?:,?\s*\d{1,4}[a-z]?)?)",
        ]
    )
)
_NAME_CUES = re.compile(
    r"\^|(?i:\b(?:dr|prof|mr|mrs|ms|miss|herr|frau|mme|mlle|sr|sra|dott|doz|fr|hr|by|mother"
    r"|father|wife|husband|son|daughter|brother|sister|relative|kin|guardian|spouse|partner"
    r"|contact|carer|caregiver|calle|c/|avenida|avda|av|paseo|plaza|via|viale|piazza|rua|rue"
    r"|boulevard|chemin|impasse|ulica|ul)\b)"
)
#: CJK names with an honorific (山田太郎様, 김민준 님, 王伟先生), and an honorific left alone
#: once the name before it is removed.
_CJK_NAMES = re.compile(
    rf"[{_CJK}]{{1,5}}\s*(?:様|さま|さん|殿|先生|氏|くん|ちゃん|씨|님|선생님|환자|女士|小姐|医生|醫生)"
    r"|(?:(?<=\s)|^)(?:様|さま|さん|殿|氏|씨|님|선생님|先生|女士|小姐)(?=\s|$|[,.;:])"
)


def _street_or_keep(match: re.Match[str]) -> str:
    return " " if match.group(1).casefold().endswith(_STREET_SUFFIXES) else match.group(0)


@lru_cache(maxsize=65536)
def scrub(text: str) -> str:
    """Return ``text`` with every value-independent identifier form replaced by a space.

    Each family of forms runs only when the text holds what the family needs (a digit, an
    ``@``, a caret or a word that introduces a name, a non-ASCII character). Results are
    cached whoever the text came from: protocol names and code meanings recur across
    patients (the cache lives in the process's memory only, as the scanners' do).
    """
    if any(ch.isdigit() for ch in text):
        text = _WITH_DIGITS.sub(" ", text)
        text = _WORD_NUMBER.sub(_street_or_keep, text)
    if "@" in text:
        text = EMAIL.sub(" ", text)
    if _NAME_CUES.search(text):
        text = _NAMES.sub(" ", text)
    if not text.isascii():
        text = _CJK_NAMES.sub(" ", text)
    return text


#: E-mail addresses (the gate refuses any in an output).
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

_PERSONNUMMER = re.compile(r"(?<![\d.])((?:19|20)?\d{6})([-+]?)(\d{4})(?![\d.]\d)")
_HETU = re.compile(r"(?<![\w.])(\d{6})([-+A-FU-Y])(\d{3})([0-9A-Y])(?!\w)")
_BSN = re.compile(r"(?<![\d.])(\d{4})\.?(\d{2})\.?(\d{3})(?![\d.]\d)")
_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def national_id_kinds(text: str) -> list[str]:
    """Return which national identity numbers (with valid check digits) ``text`` holds.

    Swedish personnummer (Luhn over the ten digits, with a valid month and day), Finnish
    henkilötunnus (modulo 31 check character) and Dutch BSN (the eleven test), each
    however grouped. The kind is returned, never the number.
    """
    found = []
    for match in _PERSONNUMMER.finditer(text):
        ten = match.group(1)[-6:] + match.group(3)
        month, day = int(ten[2:4]), int(ten[4:6])
        if 1 <= month <= 12 and 1 <= day <= 91 and _luhn(ten):
            found.append("personnummer")
            break
    for match in _HETU.finditer(text):
        number = int(match.group(1) + match.group(3))
        if _HETU_CHECK[number % 31] == match.group(4):
            found.append("henkilötunnus")
            break
    for match in _BSN.finditer(text):
        digits = "".join(match.groups())
        weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
        total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
        if digits[0] != "0" and total % 11 == 0:
            found.append("BSN")
            break
    return found


def strict_hits(text: str) -> list[str]:
    """Return the kinds of identifier that no de-identified text may hold (e-mail, national ID)."""
    kinds = national_id_kinds(text)
    if "@" in text and EMAIL.search(text):
        kinds.append("e-mail")
    return kinds
