"""Personal data the outside audit found slipping past redaction (issue 16, item 8), and what must
stay: statute wording that looks like it (同様, 様式, 氏名, 普通地方公共団体, 施行日 …)."""

from __future__ import annotations

import re

import pytest

from bot import redaction
from bot.redaction import Finding, mynumber_check_digit, redact, redact_payload

VALID = "123456789018"  # check digit 8 (see test_redaction.py)
WRONG = "123456789019"  # the same number with a wrong check digit: a typo is still a My Number
KANJI = str.maketrans("0123456789", "〇一二三四五六七八九")

MYNUMBERS = [
    VALID, WRONG,
    "1234.5678.9018", "1234/5678/9018", "1234 5678 9018", "1234-5678-9018", "1234・5678・9018",
    "123-456-789-018", "123 456 789 018", "123.456.789.018",
    VALID.translate(KANJI), "一二三四ー五六七八ー九〇一八", "１２３４．５６７８．９０１９",
    "1234-5678-9019",
]
PHONES = [
    "03.1234.5678", "090.1234.5678", "+81-90-1234-5678", "+81 90 1234 5678", "+81-090-1234-5678",
    "TEL+81-90-1234-5678", "TEL03-1234-5678", "tel.03-1234-5678", "(+81)90-1234-5678",
    "〇三―一二三四―五六七八", "〇九〇ー一二三四ー五六七八", "〇九〇一二三四五六七八",
    "○九○-一二三四-五六七八",
    "０３．１２３４．５６７８", "+８１ー９０ー１２３４ー５６７８",
]


def digits_left(text: str) -> str:
    """Every digit of ``text``, kanji digits included, in order."""
    return "".join(re.findall(r"[0-9〇○一二三四五六七八九]", text.translate(KANJI)))


@pytest.mark.parametrize("written", MYNUMBERS)
def test_every_my_number_variant_is_masked(written: str) -> None:
    result = redact(f"マイナンバーは{written}です。住民税の扱いは？")
    assert result.text == "マイナンバーは［個人番号］です。住民税の扱いは?", written
    assert result.kinds == ("mynumber",)


def test_a_my_number_in_a_sentence_without_any_cue_is_masked_whatever_its_check_digit() -> None:
    body = "31415926535"
    for last in range(10):
        assert redact(f"{body}{last}の件").text == "［個人番号］の件"
    assert str(mynumber_check_digit(body)) in "0123456789"


@pytest.mark.parametrize("written", PHONES)
def test_every_phone_variant_is_masked(written: str) -> None:
    result = redact(f"連絡先は{written}です。")
    assert "［電話番号］" in result.text, written
    assert digits_left(result.text) == "", result.text
    assert result.kinds == ("phone",)


@pytest.mark.parametrize(("text", "expected"), [
    ("住民の山田太郎様から相談がありました", "住民の［氏名］様から相談がありました"),
    ("田中さんが窓口に来ました", "［氏名］さんが窓口に来ました"),
    ("佐藤氏の申請について", "［氏名］氏の申請について"),
    ("鈴木 一郎 様の件", "［氏名］ 様の件"),
    ("高橋花子さんと渡辺健太郎氏", "［氏名］さんと［氏名］氏"),
    ("小鳥遊様宛て", "［氏名］様宛て"),
    ("ヤマダタロウ様", "［氏名］様"),
    ("中村くんの扶養", "［氏名］くんの扶養"),
    # a name found once is the person's wherever else it is written, with the given name after it
    ("中村さん（中村 浩二）の件", "［氏名］さん(［氏名］)の件"),
    ("井上さんという方（井上 達也、42歳）", "［氏名］さんという方(［氏名］、42歳)"),
    # what the dictionary splits off a name it half knows: a kanji read as a counter, a surname as a place
    ("菅原 優斗さん", "［氏名］さん"),
    ("千葉 真由美さん", "［氏名］さん"),
    ("千葉県の真由美さん", "千葉県の［氏名］さん"),
    # relations and a former surname as labels; a reading in brackets; kanji the dictionary cannot read
    ("元夫 青木 隆、元妻 青木 理恵", "元夫 ［氏名］、元妻 ［氏名］"),
    ("旧姓：小川", "旧姓:［氏名］"),
    ("菊地 貴之さん（キクチ タカユキ）", "［氏名］さん(［氏名］)"),
    ("前田 勝（まえだ まさる）様", "［氏名］(［氏名］)様"),
    ("ふりがな：やまざき ゆい", "ふりがな:［氏名］"),
    ("伊藤くん（伊藤 蒼空、小学3年）", "［氏名］くん(［氏名］、小学3年)"),
    ("田中さんの件を田中 課長に", "［氏名］さんの件を［氏名］ 課長に"),  # a title after it is no given name
    # after a label, and a bank account's holder in katakana
    ("相談者は佐藤花子、折り返し希望", "相談者は［氏名］、折り返し希望"),
    ("名義 ヤマダ タロウ", "名義 ［氏名］"),
])
def test_names_with_an_honorific_are_masked(text: str, expected: str) -> None:
    result = redact(text)
    assert result.text == expected
    assert set(result.kinds) == {"name"}


@pytest.mark.parametrize("text", [
    "前項の規定は、同様の場合について準用する。",
    "行為の態様に応じて",
    "別記様式第一号による",
    "皆様へのお知らせ",
    "お客様の個人情報",
    "担当者様宛てに送付",
    "職員さんに聞いた",
    "氏名及び住所を記載した書面",
    "婚姻前の氏に復する",
    "市長さんの権限",
    "知事殿",
    "父母の一方が共同の名義でした行為",  # a hiragana word after 名義 is no name
    "債務名義のある債権",
])
def test_words_that_look_like_names_are_kept(text: str) -> None:
    assert redact(text).findings == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("神奈川県横須賀市小川町11番地に住む", "［住所］に住む"),
    ("住所は横須賀市小川町11-1です", "住所は［住所］です"),
    ("東京都千代田区霞が関二丁目1番2号", "［住所］"),
    ("千代田区霞が関2-1-2の建物", "［住所］の建物"),
    ("横須賀市小川町1丁目2番3号", "［住所］"),
    ("札幌市中央区北1条西2丁目1番地", "［住所］"),
    ("三浦郡葉山町堀内2135番地の1", "［住所］"),
    # the building and room after the block number, and a postal code
    ("豊島区東池袋3-1-1 サンシャインハイツ405号室在住", "［住所］在住"),
    ("〒238-0041 横須賀市本町2丁目1番地 コーポ高砂201", "［住所］ ［住所］"),
    ("〒1700013", "［住所］"),
    ("横須賀市小川町11番地 県営住宅3号棟", "［住所］棟"),
    ("横須賀市小川町11番地 令和6年4月に転入", "［住所］ 令和6年4月に転入"),
    ("名古屋市中区栄3丁目5番地の1 ハイツ栄405", "［住所］"),
    ("広島市中区基町10番52号 基町アパート3号棟1204号室", "［住所］"),
    ("さいたま市浦和区高砂1丁目2番3号 市営高砂団地2-305", "［住所］"),
])
def test_addresses_down_to_the_block_number_are_masked(text: str, expected: str) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.kinds == ("address",)


@pytest.mark.parametrize("text", [
    "横須賀市では、市町村長が指定する。",
    "特別区の区長は、第二百八十一条の二第一項の規定により",
    "指定都市の区の区域",
    "同法第2条第1号に掲げる",
    "市町村は、第十条第二項第三号に規定する",
])
def test_place_names_without_a_block_number_are_kept(text: str) -> None:
    assert redact(text).findings == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("横須賀市小川町11番地 TEL 046-822-4000", "［住所］ TEL ［電話番号］"),  # no building "TEL 046"
    ("横須賀市小川町11番地 Sハイツ 090 1234 5678", "［住所］ Sハイツ ［電話番号］"),  # no room "090"
    ("横須賀市小川町11番地 Sハイツ 203 090-1234-5678", "［住所］ ［電話番号］"),
])
def test_an_address_followed_by_a_phone_number_masks_both(text: str, expected: str) -> None:
    assert redact(text).text == expected


def test_a_finding_that_overlaps_an_earlier_detectors_keeps_its_parts_outside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Earlier detectors win an overlap; a later finding keeps what lies outside it, instead of being
    dropped whole (which left what it found unmasked); a part of blanks alone is not kept."""
    monkeypatch.setattr(redaction, "_DETECTORS", (
        ("phone", lambda text, view: [Finding("phone", 10, 20)]),
        ("address", lambda text, view: [Finding("address", 0, 15), Finding("address", 12, 25)]),
        ("name", lambda text, view: [Finding("name", 25, 28)]),
    ))
    assert redaction.find_personal_data("x" * 25 + "  yy") == (
        Finding("address", 0, 10), Finding("phone", 10, 20), Finding("address", 20, 25),
        Finding("name", 25, 28),
    )
    assert redaction.find_personal_data("x" * 25 + "   ") == (
        Finding("address", 0, 10), Finding("phone", 10, 20), Finding("address", 20, 25),
    )


@pytest.mark.parametrize(("text", "expected"), [
    ("生年月日 昭和55年1月2日の方", "生年月日 ［生年月日］の方"),
    ("生年月日：1980/01/02", "生年月日:［生年月日］"),
    ("平成2年3月4日生まれの子", "［生年月日］生まれの子"),
    ("1980年1月2日生、無職", "［生年月日］生、無職"),
    ("昭和五十五年一月二日生まれ", "［生年月日］生まれ"),
    ("S55.1.2生", "［生年月日］生"),
    ("誕生日は2001-12-24です", "誕生日は［生年月日］です"),
    ("昭和45年10月10日生・55歳", "［生年月日］生・55歳"),
    ("1958年生まれの67歳", "［生年月日］生まれの67歳"),  # a birth year alone
    ("平成元年生、36歳", "［生年月日］生、36歳"),
    ("昭和14年7月生まれ", "［生年月日］生まれ"),  # a year and month
])
def test_birth_dates_are_masked(text: str, expected: str) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.kinds == ("birth_date",)


@pytest.mark.parametrize("text", [
    "令和6年4月1日から施行する。",
    "令和6年4月1日生活保護法の改正",
    "昭和三十一年四月一日以前に生まれた者",
    "2024年1月2日付けの通知",
    "2024年生産分の在庫",
    "令和6年4月生産分",
])
def test_other_dates_are_kept(text: str) -> None:
    assert redact(text).findings == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("普通預金 1234567 に振り込む", "普通預金 ［口座番号］ に振り込む"),
    ("口座番号は1234567です", "口座番号は［口座番号］です"),
    ("当座 7654321", "当座 ［口座番号］"),
    ("ゆうちょ銀行 記号番号 12345-12345678", "ゆうちょ銀行 記号番号 ［口座番号］"),
    ("口座：一二三四五六七", "口座:［口座番号］"),
    ("ゆうちょ銀行 記号14050 番号12345671", "ゆうちょ銀行 ［口座番号］"),
])
def test_bank_accounts_are_masked(text: str, expected: str) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.kinds == ("bank_account",)


@pytest.mark.parametrize("text", [
    "普通地方公共団体の長は、第百四十九条に定める事務を管理する。",
    "口座振替により納付することができる。",
    "普通交付税の額は1234億円",
])
def test_account_words_without_an_account_number_are_kept(text: str) -> None:
    assert redact(text).findings == ()


def test_a_whole_resident_description_leaves_nothing_behind() -> None:
    text = ("住民の山田太郎様（昭和55年1月2日生、神奈川県横須賀市小川町11番地、TEL 090.1234.5678、"
            "マイナンバー1234.5678.9019、普通預金1234567）から、住民税の減免の申請がありました。")
    result = redact(text)
    assert digits_left(result.text) == ""
    assert "山田" not in result.text and "小川町" not in result.text
    assert set(result.kinds) == {"name", "birth_date", "address", "phone", "mynumber", "bank_account"}
    assert result.text.endswith("から、住民税の減免の申請がありました。")


def test_a_platform_payload_is_redacted_in_its_text_fields_only() -> None:
    event = {
        "type": "app_mention", "user": "U0STAFF001", "channel": "C0SOUMU001", "ts": "1715000000.000100",
        "text": f"<@U0KAIRAN> {WRONG}の方の住民票は？",
        "blocks": [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
            {"type": "user", "user_id": "U0KAIRAN"},
            {"type": "text", "text": " 03.1234.5678の方は"},
            {"type": "link", "url": "mailto:taro@example.jp", "text": "taro@example.jp"},
        ]}]}],
        "attachments": [{"contentType": "text/html", "content": "<p>山田太郎様</p>"}],
        "client_msg_id": "6f2c1a8e-0b6e-4a57-9d0c-123456789018",
    }
    redacted = redact_payload({"event": event, "body": {"event_id": "Ev0MENTION0001"}})
    stored = str(redacted)
    for secret in (WRONG, "1234.5678", "taro@example.jp", "山田"):
        assert secret not in stored, secret
    kept = redacted["event"]
    assert (kept["user"], kept["channel"], kept["ts"]) == ("U0STAFF001", "C0SOUMU001", "1715000000.000100")
    assert kept["client_msg_id"] == event["client_msg_id"]  # ids are not text: never rewritten
    assert kept["text"] == "<@U0KAIRAN> ［個人番号］の方の住民票は?"
    assert redacted["body"] == {"event_id": "Ev0MENTION0001"}


def test_numbers_side_by_side_are_each_masked_but_a_card_number_is_not_split() -> None:
    assert redact("03-1234-5678 1234-5678-9018").text == "［電話番号］ ［個人番号］"
    assert redact("1234.5678.9019 03.1234.5678").text == "［個人番号］ ［電話番号］"
    assert redact("カード 1234-5678-9012-3456").findings == ()  # 16 digits: not a My Number
