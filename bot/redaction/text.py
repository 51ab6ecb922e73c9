"""Detectors for e-mail addresses, birth dates and street addresses in NFKC text. Pure.

- ``email``: ``local@domain.tld``.
- ``birth_date``: a date (元号 or western year, kanji or arabic numerals, 年月日 or / . -) right
  after 生年月日 / 誕生日, or a date or a year alone right before 生まれ / 生 / 出生 / 誕生. Other dates
  (施行日, 通知の日付) are kept: a date is personal only as someone's birth date.
- ``address``: a street address down to its block number: an optional prefecture, one or two
  municipalities (…市 / 区 / 郡 / 町 / 村), a town name, and a block number (2丁目3番4号, 11番地の1,
  1-2-3, 二丁目一番地), with the building and room written after it (サンシャインハイツ405号室); and a
  postal code after 〒. A place name without a block number (横須賀市では …) is kept.
"""

from __future__ import annotations

import re

from bot.redaction.findings import Finding

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)

# Birth dates are read on ``digit_view`` (kanji digits as ASCII): what is left of kanji numerals
# is 十 (五十五年 → 5十5年).
_VN = "[0-9十]{1,4}"
_ERA_YEAR = f"(?:明治|大正|昭和|平成|令和)(?:{_VN}|元)"
_ERA_INITIAL_YEAR = "[MTSHR][0-9]{1,2}"  # S55
_WESTERN_YEAR = "(?:1[89]|20)[0-9]{2}"
_DATE = (
    f"(?:(?:{_ERA_YEAR}|{_ERA_INITIAL_YEAR}|{_WESTERN_YEAR})年{_VN}月{_VN}日"
    f"|{_WESTERN_YEAR}(?P<s1>[/.-])[0-9]{{1,2}}(?P=s1)[0-9]{{1,2}}"
    f"|{_ERA_INITIAL_YEAR}(?P<s2>[./])[0-9]{{1,2}}(?P=s2)[0-9]{{1,2}})"
)
_BIRTH_BEFORE = re.compile(f"(?:生年月日|誕生日|生年)\\s*(?:は|:)?\\s*({_DATE})")
_BORN = "\\s*(?:生まれ|出生|誕生|生(?=[\\s,、。)の・/]|$))"
_BIRTH_AFTER = re.compile(f"(?<![0-9])({_DATE})(?={_BORN})")
# A birth year, or year and month, says as much of a resident as an age does (1958年生まれ, 平成元年生,
# 昭和14年7月生まれ).
_YEAR = f"(?:{_ERA_YEAR}|{_WESTERN_YEAR})年(?:{_VN}月)?"
_BIRTH_YEAR = re.compile(f"(?<![0-9年月])({_YEAR})(?={_BORN})")

# Block numbers are read on the NFKC text (town names hold kanji digits: 三浦郡, 五反田).
_N = "[0-9〇一二三四五六七八九十百千]{1,6}"
_PREFECTURE = (
    "(?:北海道|東京都|京都府|大阪府|(?:青森|岩手|宮城|秋田|山形|福島|茨城|栃木|群馬|埼玉|千葉|神奈川|新潟|富山|"
    "石川|福井|山梨|長野|岐阜|静岡|愛知|三重|滋賀|兵庫|奈良|和歌山|鳥取|島根|岡山|広島|山口|徳島|香川|愛媛|高知|"
    "福岡|佐賀|長崎|熊本|大分|宮崎|鹿児島|沖縄)県)"
)
# Municipality names: kanji and katakana (hiragana would let 「住所は横須賀市」 swallow 「住所は」),
# plus the cities whose official names are in hiragana.
_HIRAGANA_CITIES = (
    "さいたま|つくばみらい|つくば|いわき|ひたちなか|かすみがうら|いすみ|みどり|あきる野|南あわじ|あわら|"
    "かほく|えびの|いちき串木野|うきは|みやま|たつの|きよす|みよし|さくら|うるま|にかほ|むつ|つがる"
)
_NAME_CHAR = "[一-鿿々〆ヶァ-ヴー]"
_MUNICIPALITY = f"(?:(?:{_HIRAGANA_CITIES})市|{_NAME_CHAR}{{1,6}}?[市区郡町村])"
_TOWN = f"(?:[一-鿿々〆ヶぁ-んァ-ヴー]|{_N}条){{0,10}}?"
_BLOCK = (
    f"(?<!第)(?:{_N}丁目{_N}番地?(?:の?{_N}号?)?|{_N}丁目[0-9]+(?:-[0-9]+)?|{_N}丁目"
    f"|{_N}番地(?:の?{_N}){{0,2}}|{_N}番{_N}号|[0-9]+(?:-[0-9]+){{1,3}}(?:号室?)?)(?![0-9])"
)
# A building after the block number and its room: a name with katakana or Latin letters in it (コーポ高砂,
# Sハイツ) or a kanji one ending in a word for a building (青葉荘, 県営住宅), then the room or floor number.
# A date after an address (令和6年…) is no building.
_BUILDING_NAME = "(?=[一-鿿々]*[ァ-ヴーA-Za-z]|[一-鿿々]{0,18}(?:荘|棟|館|寮|団地|住宅)[ 　]?[0-9])"
# The room: 405, 405号室, 3F, 2-305 (building and room), 3号棟1204号室; never the start of a phone number
# (0…, 046-…).
_ROOM_NUMBER = "[1-9][0-9]{0,4}"
_ROOM = f"[ 　]?{_ROOM_NUMBER}(?:-{_ROOM_NUMBER}|(?:号棟|棟)[ 　]?{_ROOM_NUMBER})?(?:号室|号|F|階)?(?![0-9-])"
_BUILDING = f"(?:[ 　]?{_BUILDING_NAME}[一-鿿々ァ-ヴーA-Za-z]{{2,20}}?{_ROOM})?"
_ADDRESS = re.compile(f"(?:{_PREFECTURE})?{_MUNICIPALITY}{{1,2}}{_TOWN}{_BLOCK}{_BUILDING}")
_POSTAL = re.compile("〒[ 　]?[0-9]{3}-?[0-9]{4}(?![0-9])")
_BLOCK_HINT = re.compile(f"{_N}(?:丁目|番)|[0-9]-[0-9]")


def find_emails(text: str) -> list[Finding]:
    return [Finding("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]


def find_birth_dates(view: str) -> list[Finding]:
    """On ``digit_view`` of the text."""
    found = [Finding("birth_date", m.start(1), m.end(1)) for m in _BIRTH_BEFORE.finditer(view)]
    found += [Finding("birth_date", m.start(1), m.end(1)) for m in _BIRTH_AFTER.finditer(view)]
    found += [Finding("birth_date", m.start(1), m.end(1)) for m in _BIRTH_YEAR.finditer(view)]
    return found


def find_addresses(text: str) -> list[Finding]:
    postal = [Finding("address", m.start(), m.end()) for m in _POSTAL.finditer(text)]
    if not _BLOCK_HINT.search(text):  # most texts hold no block number: skip the costly pattern
        return postal
    return postal + [Finding("address", m.start(), m.end()) for m in _ADDRESS.finditer(text)]
