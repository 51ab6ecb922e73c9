from __future__ import annotations

import pytest

from bot.redaction import (
    BLOCKED_MESSAGE,
    Finding,
    RedactionPolicy,
    corporate_check_digit,
    is_valid_corporate_number,
    is_valid_mynumber,
    mynumber_check_digit,
    redact,
)
from manifest.loader import load_manifest_text

# --- check digits -------------------------------------------------------------------------------

# My Number 12345678901?, by hand: digits from the right P1..P11 = 1,0,9,8,7,6,5,4,3,2,1 and weights
# Q1..Q11 = 2,3,4,5,6,7,2,3,4,5,6 give 2+0+36+40+42+42+10+12+12+10+6 = 212; 212 mod 11 = 3;
# check digit = 11 - 3 = 8  →  123456789018.
HAND_MYNUMBER = "123456789018"
# 法人番号 of 国税庁 (published): 7000012050002. By hand, the body 000012050002 from the right is
# 2,0,0,0,5,0,2,1,0,0,0,0 with weights 1,2,1,2,…: 2+0+0+0+5+0+2+2 = 11; 11 mod 9 = 2; 9 - 2 = 7.
HAND_CORPORATE = "7000012050002"


def test_mynumber_check_digit_matches_hand_computation() -> None:
    assert mynumber_check_digit("12345678901") == 8
    assert is_valid_mynumber(HAND_MYNUMBER)
    assert not is_valid_mynumber("123456789019")
    assert not is_valid_mynumber("12345678901")  # 11 digits
    assert not is_valid_mynumber("１２３４５６７８９０１８")  # not ASCII (redact normalises first)


def test_mynumber_check_digit_remainders_zero_and_one_give_zero() -> None:
    # 00000000001: P1 = 1, Q1 = 2 → 2 mod 11 = 2 → 9;  00000000050: P2 = 5, Q2 = 3 → 15 mod 11 = 4 → 7
    assert mynumber_check_digit("00000000001") == 9
    assert mynumber_check_digit("00000000050") == 7
    # 00000000000: remainder 0 → 0;  00000000600: P3 = 6, Q3 = 4 → 24 mod 11 = 2 → 9
    assert mynumber_check_digit("00000000000") == 0
    assert mynumber_check_digit("00000000600") == 9
    # remainder 1: P1 = 6 → 12 mod 11 = 1 → 0
    assert mynumber_check_digit("00000000006") == 0


def test_corporate_check_digit_matches_hand_computation() -> None:
    assert corporate_check_digit("000012050002") == 7
    assert is_valid_corporate_number(HAND_CORPORATE)
    assert not is_valid_corporate_number("8000012050002")
    # sum a multiple of 9 gives 9: body 000000000009 → 9 mod 9 = 0 → 9
    assert corporate_check_digit("000000000009") == 9


@pytest.mark.parametrize("bad", ["", "12345678901a", "1234567890"])
def test_check_digit_functions_reject_malformed_bodies(bad: str) -> None:
    with pytest.raises(ValueError, match="exactly 11 ASCII digits"):
        mynumber_check_digit(bad)


# --- My Number and 法人番号 in text --------------------------------------------------------------


def _valid_mynumber(body: str) -> str:
    return body + str(mynumber_check_digit(body))


@pytest.mark.parametrize("written", [
    "123456789018", "1234 5678 9018", "1234-5678-9018", "１２３４－５６７８－９０１８", "1234ー5678ー9018",
])
def test_mynumber_forms_are_masked(written: str) -> None:
    result = redact(f"個人番号{written}の方の住民票について")
    assert result.text == "個人番号［個人番号］の方の住民票について"
    assert [f.kind for f in result.findings] == ["mynumber"]
    assert not result.blocked


def test_mynumber_computed_numbers_and_wrong_check_digits_are_all_masked() -> None:
    # A mistyped My Number is still personal data (issue 16): the check digit does not decide.
    for body in ("98765432101", "00000000001", "31415926535"):
        good = _valid_mynumber(body)
        bad = body + str((int(good[-1]) + 1) % 10)
        result = redact(f"番号 {good} と {bad}")
        assert result.text == "番号 ［個人番号］ と ［個人番号］", body


def test_twelve_digit_account_number_is_masked_as_a_possible_mynumber() -> None:
    # Twelve digits may be a My Number typed wrong; masking a 会計番号 by mistake costs the answer nothing.
    assert not is_valid_mynumber("202400001234")
    result = redact("会計番号202400001234の支出負担行為")
    assert result.text == "会計番号［個人番号］の支出負担行為"


def test_longer_digit_runs_are_not_split_into_a_mynumber() -> None:
    assert redact(f"9{HAND_MYNUMBER}").findings == ()  # 13 digits, not a valid 法人番号 either
    assert redact(f"{HAND_MYNUMBER}5").findings == ()


def test_corporate_number_masked_and_invalid_kept() -> None:
    result = redact(f"法人番号{HAND_CORPORATE}、登録番号T{HAND_CORPORATE}、誤り8000012050002")
    assert result.text == "法人番号［法人番号］、登録番号T［法人番号］、誤り8000012050002"
    assert [f.kind for f in result.findings] == ["corporate_number", "corporate_number"]


def test_finding_offsets_refer_to_normalised_text() -> None:
    result = redact("ＴＥＬ：０３－１２３４－５６７８")  # NFKC: "TEL:03-1234-5678"
    assert result.findings == (Finding("phone", 4, 16),)
    assert result.text == "TEL:［電話番号］"


# --- phones and e-mail ---------------------------------------------------------------------------


@pytest.mark.parametrize("phone", [
    "03-1234-5678", "0312345678", "(03)1234-5678", "(03) 1234-5678", "03(1234)5678",
    "045-123-4567", "0467-12-3456", "090-1234-5678", "09012345678", "080 1234 5678",
    "050-1234-5678", "0120-123-456", "0120123456", "0800-123-4567", "0570-012-345",
    "+81-3-1234-5678", "+81 3 1234 5678", "+81-90-1234-5678", "+819012345678", "+81(0)3-1234-5678",
    "０９０ー１２３４ー５６７８", "03−1234−5678",
])
def test_phone_forms_are_masked(phone: str) -> None:
    result = redact(f"連絡先は{phone}です。")
    assert result.text == "連絡先は［電話番号］です。", phone
    assert [f.kind for f in result.findings] == ["phone"]


@pytest.mark.parametrize("text", [
    "令和6年4月1日施行",
    "第238条の4第2項",
    "予算額は0.5億円",
    "090-1234-567",  # 10 digits with a mobile prefix
    "03-1234-567",  # 9 digits
    "00-1234-5678",
])
def test_non_phones_are_kept(text: str) -> None:
    assert redact(text).findings == ()


def test_phone_in_brackets_keeps_the_brackets() -> None:
    assert redact("担当（090-1234-5678）まで").text == "担当(［電話番号］)まで"
    assert redact("担当（03）1234-5678まで").text == "担当［電話番号］まで"


def test_phone_followed_by_other_numbers_ends_at_its_last_group() -> None:
    assert redact("電話 03-1234-5678 2件").text == "電話 ［電話番号］ 2件"


@pytest.mark.parametrize("email", [
    "taro.yamada@city.yokosuka.kanagawa.jp", "soumu+kairan@example.lg.jp", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ",
])
def test_email_forms_are_masked(email: str) -> None:
    result = redact(f"{email}まで")
    assert result.text == "［メールアドレス］まで"
    assert [f.kind for f in result.findings] == ["email"]


def test_digits_inside_an_email_are_part_of_the_email() -> None:
    result = redact("user-0312345678@example.jp へ")
    assert result.text == "［メールアドレス］ へ"
    assert [f.kind for f in result.findings] == ["email"]


def test_several_kinds_in_one_question() -> None:
    text = f"山田さん（{HAND_MYNUMBER}、090-1234-5678、yamada@example.jp）の扶養控除は？"
    result = redact(text)
    # NFKC turns the full-width brackets and question mark into ASCII ones.
    assert result.text == "［氏名］さん(［個人番号］、［電話番号］、［メールアドレス］)の扶養控除は?"
    assert result.kinds == ("name", "mynumber", "phone", "email")


# --- policy --------------------------------------------------------------------------------------


def test_block_mode_blocks_only_when_something_is_found() -> None:
    policy = RedactionPolicy(mode="block")
    blocked = redact(f"{HAND_MYNUMBER}の課税状況", policy)
    assert blocked.blocked
    assert blocked.text == "［個人番号］の課税状況"  # still masked, so the refusal can be logged
    clean = redact("地方自治法第238条の4の趣旨は？", policy)
    assert not clean.blocked and clean.findings == ()
    assert "個人情報" in BLOCKED_MESSAGE and "マイナンバー" in BLOCKED_MESSAGE


def test_disabled_kinds_are_kept() -> None:
    policy = RedactionPolicy(phone=False, corporate_number=False)
    result = redact(f"03-1234-5678 {HAND_CORPORATE} {HAND_MYNUMBER} a@example.jp", policy)
    assert result.text == f"03-1234-5678 {HAND_CORPORATE} ［個人番号］ ［メールアドレス］"


def test_policy_from_manifest() -> None:
    manifest = load_manifest_text("redaction:\n  mode: block\n  phone: false\n", "m.yaml")
    policy = RedactionPolicy.from_config(manifest.redaction)
    assert policy == RedactionPolicy(
        mode="block", mynumber=True, corporate_number=True, phone=False, email=True,
        bank_account=True, birth_date=True, address=True, name=True,
    )
    off = load_manifest_text("redaction:\n  name: false\n  address: false\n", "m.yaml")
    assert RedactionPolicy.from_config(off.redaction) == RedactionPolicy(name=False, address=False)
    assert RedactionPolicy.from_config(load_manifest_text("", "m.yaml").redaction) == RedactionPolicy()


def test_manifest_rejects_unknown_redaction_mode() -> None:
    from manifest.loader import ManifestError

    with pytest.raises(ManifestError, match=r"redaction\.mode"):
        load_manifest_text("redaction:\n  mode: hide\n", "m.yaml")
