"""Labelled questions with personal data for the redaction benchmark, generated deterministically.

Each case is a staff question (the phrasing municipal staff use in chat) with the personal data it
holds: ``Case(text, spans)`` where a span is ``(kind, value)`` and ``value`` occurs in ``text``.
The forms are those issue 16 found slipping through (My Number with dots, slashes, 4-4-4 / 3-3-3-3
grouping, kanji digits, a wrong check digit; phones as 03.1234.5678, +81-90-…, kanji; names with
様 / さん / 氏; addresses; birth dates; bank accounts) and their everyday neighbours.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.redaction.digits import mynumber_check_digit

KANJI = str.maketrans("0123456789", "〇一二三四五六七八九")
WIDE = str.maketrans("0123456789-.", "０１２３４５６７８９－．")

SURNAMES = ("山田", "田中", "佐藤", "鈴木", "高橋", "伊藤", "渡辺", "中村", "小林", "加藤", "吉田", "山本",
            "松本", "井上", "木村", "斎藤", "清水", "山口", "森", "池田", "橋本", "石川", "前田", "藤田")
GIVEN = ("太郎", "花子", "一郎", "健太", "美咲", "大輔", "陽子", "翔太", "由美", "誠", "直樹", "恵子")
HONORIFICS = ("様", "さん", "氏", "殿", "くん", "ちゃん")
PLACES = (
    ("神奈川県", "横須賀市", "小川町"), ("神奈川県", "三浦郡葉山町", "堀内"),
    ("東京都", "千代田区", "霞が関"), ("埼玉県", "さいたま市浦和区", "高砂"),
    ("大阪府", "大阪市北区", "中之島"), ("北海道", "札幌市中央区", "北1条西"),
    ("福岡県", "福岡市中央区", "天神"), ("愛知県", "名古屋市中区", "三の丸"),
    ("宮城県", "仙台市青葉区", "国分町"),
)
TOPICS = ("住民税の減免", "児童手当の申請", "介護保険料の徴収", "国民健康保険の資格", "住民票の写しの交付",
          "生活保護の申請", "固定資産税の課税", "転入届の受理", "印鑑登録", "障害者手帳の交付")
ACCOUNT_CUES = ("普通預金", "口座番号", "当座", "普通", "口座：", "総合口座 ")


# Written by hand, not generated: everyday forms beside the audit's list, some of which the detectors
# are known to miss (a name with no cue, names in hiragana, rare surnames, Kyoto street directions).
HARDER: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("氏名：山田太郎　住民税の件", (("name", "山田太郎"),)),
    ("名前は佐藤花子です。児童手当の申請は？", (("name", "佐藤花子"),)),
    ("田中課長から指示がありました", (("name", "田中"),)),
    ("申請者 高橋一郎 の転入届", (("name", "高橋一郎"),)),
    ("市民の鈴木が来庁しました", (("name", "鈴木"),)),  # no cue: known miss
    ("やまだたろう様から電話", (("name", "やまだたろう"),)),  # hiragana: known miss
    ("四十八願さんの住民票", (("name", "四十八願"),)),  # rare surname: known miss
    ("横須賀市小川町11番地1に転入", (("address", "横須賀市小川町11番地1"),)),
    ("横浜市中区山下町1-2-3-405号室の世帯", (("address", "横浜市中区山下町1-2-3-405号室"),)),
    ("横浜市西区みなとみらい2-3-1の事業所", (("address", "横浜市西区みなとみらい2-3-1"),)),
    ("京都市中京区寺町通御池上る上本能寺前町488番地",  # Kyoto street directions: known miss
     (("address", "京都市中京区寺町通御池上る上本能寺前町488番地"),)),
    ("TEL 03 1234 5678 まで", (("phone", "03 1234 5678"),)),
    ("(090)1234-5678に折り返し", (("phone", "(090)1234-5678"),)),
    ("０９０（１２３４）５６７８の方", (("phone", "０９０（１２３４）５６７８"),)),
    ("生年月日 H2年3月4日 の児童", (("birth_date", "H2年3月4日"),)),
    ("平成元年5月6日生まれ", (("birth_date", "平成元年5月6日"),)),
    ("みずほ銀行横須賀支店 普通 7654321 へ", (("bank_account", "7654321"),)),
    ("口座番号：１２３４５６７", (("bank_account", "１２３４５６７"),)),
    ("個人番号 1234 5678 9018 の提示", (("mynumber", "1234 5678 9018"),)),
    ("番号は一二三四　五六七八　九〇一八です", (("mynumber", "一二三四　五六七八　九〇一八"),)),
)


@dataclass(frozen=True)
class Case:
    text: str
    spans: tuple[tuple[str, str], ...]  # (kind, value as written in text)


def _mynumbers(rng: random.Random) -> Iterator[str]:
    for _ in range(6):
        body = "".join(rng.choice("0123456789") for _ in range(11))
        good = body + str(mynumber_check_digit(body))
        bad = body + str((int(good[-1]) + rng.randint(1, 9)) % 10)
        for number in (good, bad):
            yield number
            for sep in ("-", " ", ".", "/", "・", "ー"):
                yield sep.join((number[:4], number[4:8], number[8:]))
            yield "-".join((number[:3], number[3:6], number[6:9], number[9:]))
            yield " ".join((number[:3], number[3:6], number[6:9], number[9:]))
            yield number.translate(KANJI)
            yield "-".join((number[:4], number[4:8], number[8:])).translate(WIDE)


def _phones(rng: random.Random) -> Iterator[str]:
    for _ in range(4):
        area = rng.choice(("03", "045", "046", "06", "0467", "011"))
        rest = "".join(rng.choice("0123456789") for _ in range(10 - len(area)))
        mid, last = rest[: len(rest) - 4], rest[-4:]
        mobile = rng.choice(("090", "080", "070")) + "".join(rng.choice("0123456789") for _ in range(8))
        yield from (f"{area}-{mid}-{last}", f"{area}.{mid}.{last}", f"({area}){mid}-{last}", area + rest)
        yield from (f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}", f"{mobile[:3]}.{mobile[3:7]}.{mobile[7:]}")
        yield f"+81-{mobile[1:3]}-{mobile[3:7]}-{mobile[7:]}"
        yield f"+81 {mobile[1:3]} {mobile[3:7]} {mobile[7:]}"
        yield f"+81-{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
        yield f"{area}-{mid}-{last}".translate(KANJI).replace("-", "―")
        yield f"{mobile[:3]}ー{mobile[3:7]}ー{mobile[7:]}".translate(KANJI)
        yield f"{area}.{mid}.{last}".translate(WIDE)


def _addresses(rng: random.Random) -> Iterator[str]:
    for pref, city, town in PLACES:
        a, b, c = rng.randint(1, 9), rng.randint(1, 40), rng.randint(1, 30)
        yield f"{pref}{city}{town}{a}丁目{b}番{c}号"
        yield f"{city}{town}{a}-{b}-{c}"
        yield f"{city}{town}{b * 37}番地"
        yield f"{pref}{city}{town}{b * 11}番地の{a}"
        yield f"{city}{town}{str(a).translate(KANJI)}丁目{b}番地"


def _birth_dates(rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(before, date, after): the date with the words that make it a birth date."""
    for _ in range(4):
        year, month, day = rng.randint(1935, 2020), rng.randint(1, 12), rng.randint(1, 28)
        showa = year - 1925
        yield "生年月日 ", f"{year}年{month}月{day}日", "の方"
        yield "生年月日：", f"{year}/{month:02d}/{day:02d}", "、"
        yield "", f"{year}年{month}月{day}日", "生まれの方"
        yield "", f"{year}.{month}.{day}", "生、"
        yield "誕生日は", f"{year}-{month:02d}-{day:02d}", "です"
        if 1 <= showa <= 63:
            yield "", f"昭和{showa}年{month}月{day}日", "生まれ"
            yield "生年月日は", f"S{showa}.{month}.{day}", "で"


def _accounts(rng: random.Random) -> Iterator[tuple[str, str]]:
    for cue in ACCOUNT_CUES:
        number = "".join(rng.choice("0123456789") for _ in range(7))
        yield cue, number
        yield cue, number.translate(KANJI)
    yield "ゆうちょ銀行 記号番号 ", f"1{rng.randint(1000, 9999)}-{rng.randint(10000000, 99999999)}"


def labelled_cases(seed: int = 16) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    topic = lambda: rng.choice(TOPICS)  # noqa: E731
    for number in _mynumbers(rng):
        cases.append(Case(f"マイナンバー{number}の方の{topic()}について", (("mynumber", number),)))
        cases.append(Case(f"{number}の番号で{topic()}を確認したい", (("mynumber", number),)))
    for phone in _phones(rng):
        cases.append(Case(f"連絡先は{phone}です。{topic()}の件で折り返したい", (("phone", phone),)))
        cases.append(Case(f"TEL {phone} の方から{topic()}の問い合わせ", (("phone", phone),)))
    for surname in SURNAMES:
        honorific, given = rng.choice(HONORIFICS), rng.choice(GIVEN)
        full = rng.choice((surname + given, f"{surname} {given}", surname))
        cases.append(Case(f"住民の{full}{honorific}から{topic()}の相談がありました", (("name", full),)))
    for address in _addresses(rng):
        cases.append(Case(f"{address}にお住まいの方の{topic()}の扱いは？", (("address", address),)))
    for before, date, after in _birth_dates(rng):
        cases.append(Case(f"{before}{date}{after}{topic()}の対象になりますか", (("birth_date", date),)))
    for cue, number in _accounts(rng):
        cases.append(Case(f"{cue}{number}への振込で{topic()}の還付はできますか", (("bank_account", number),)))
    cases += [Case(text, spans) for text, spans in HARDER]
    name, phone = "山田太郎", "090.1234.5678"
    cases.append(Case(
        f"住民の{name}様（昭和55年1月2日生、神奈川県横須賀市小川町11番地、TEL {phone}、"
        "マイナンバー1234.5678.9019、普通預金1234567）から住民税の減免の申請がありました",
        (("name", name), ("birth_date", "昭和55年1月2日"), ("address", "神奈川県横須賀市小川町11番地"),
         ("phone", phone), ("mynumber", "1234.5678.9019"), ("bank_account", "1234567")),
    ))
    return cases


WRITTEN_APART = Path(__file__).resolve().parent / "data" / "redaction_written_apart.jsonl"
ASKED = "国保の保険料は減免できますか？"  # what stands for the question ({Q}) in the messages written apart


def written_apart_cases(path: Path = WRITTEN_APART) -> list[Case]:
    """100 staff messages about residents, with the personal data each holds, written and labelled by
    writers who saw neither the detectors nor the generated cases: 60 by a first writer (labelled by a
    second), 40 by a third, each set measured before any rule was written for it."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        spans = tuple((str(kind), str(value)) for kind, value in raw["spans"])
        cases.append(Case(raw["text"].replace("{Q}", ASKED), spans))
    return cases
