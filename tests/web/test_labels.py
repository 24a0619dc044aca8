"""Names beside codes, quantities and amounts (web/labels.py); the domains' sentences in Chinese (web/messages.py)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from jinja2 import Environment

from smartcustoms.codes import code_lists
from smartcustoms.core.errors import FieldError
from smartcustoms.web import labels
from smartcustoms.web.i18n import catalogue
from smartcustoms.web.labels import amount, code_name, number
from smartcustoms.web.messages import Localiser, catalogue_keys

ENGLISH_WORDS = re.compile(r"[A-Za-z]{3,}")


def english_left(text: str) -> list[str]:
    """English words left in a Chinese text (HS, AEO, CNY and codes are allowed; quoted keywords too)."""
    text = re.sub(r"“[^”]*”", "", text)
    return [w for w in ENGLISH_WORDS.findall(text) if w not in {"AEO", "CNY", "USD", "UTC"}]


# -- names beside codes --------------------------------------------------------------------------------
def test_general_trade_is_named_in_both_languages():
    codes = code_lists()
    assert code_name(codes, "trade_mode", "0110", "zh") == "一般贸易"
    assert code_name(codes, "trade_mode", "0110", "en") == "General trade"
    assert code_name(codes, "trade_mode", "0000", "zh") is None


@pytest.mark.parametrize(("kind", "code", "en", "zh"), [
    ("office", "2248", "Shanghai Yangshan Customs", "洋山海关"),
    ("unit", "035", "Kilogram", "千克"),
    ("transport_mode", "2", "Waterway", "水路运输"),
    ("country", "VN", "Viet Nam", "越南"),
    ("country", "US", "United States", "美国"),
    ("country", "USA", "United States", "美国"),  # alpha-3 is read as alpha-2
    ("currency", "USD", "US Dollar", "美元"),
    ("currency", "HKD", "Hong Kong Dollar", "港币"),  # the customs table's name before pycountry's
])
def test_code_lists_name_offices_units_modes_countries_and_currencies(kind, code, en, zh):
    codes = code_lists()
    assert code_name(codes, kind, code, "en") == en
    assert code_name(codes, kind, code, "zh") == zh


def test_an_unknown_kind_of_code_is_an_error():
    with pytest.raises(KeyError):
        code_name(code_lists(), "colour", "01", "en")


def test_the_coded_filter_puts_the_name_beside_the_code_in_the_pages_language():
    env = Environment(autoescape=True)
    labels.install(env)
    page = env.from_string("{{ code|coded('trade_mode') }} | {{ '9999'|coded('trade_mode') }} | "
                           "{{ none|coded('unit') }}")
    assert page.render(code="0110", lang="zh") == (
        '<span class="code">0110</span> <span class="name">一般贸易</span> | <span class="code">9999</span> | —')
    assert "General trade" in page.render(code="0110", lang="en")
    assert env.from_string("{{ '<b>'|coded('unit') }}").render(lang="en") == '<span class="code">&lt;b&gt;</span>'


# -- quantities and amounts ----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [
    (Decimal("18000.0000"), "18,000"),
    (Decimal("0.5000"), "0.5"),
    (Decimal("2.2500"), "2.25"),
    (Decimal("0E-4"), "0"),
    (Decimal("1E+3"), "1,000"),
    (12.0, "12"),
    (None, "—"),
])
def test_quantities_lose_their_spurious_decimals(value, text):
    assert number(value) == text


def test_amounts_have_two_decimals_and_their_currency():
    assert amount(Decimal("13000"), "usd") == "13,000.00 USD"
    assert amount(Decimal("0.005"), "CNY") == "0.01 CNY"  # half up, as customs rounds money
    assert amount(None, "CNY") == "—"
    assert amount(Decimal("7.1"), None) == "7.10"


def test_mass_is_in_kilograms():
    env = Environment()
    labels.install(env)
    assert env.from_string("{{ v|mass }}").render(v=Decimal("21000.0000")) == "21,000 kg"


# -- the domains' sentences in Chinese ---------------------------------------------------------------
def test_every_message_key_has_both_languages_and_the_english_is_the_template():
    en, zh = catalogue("en"), catalogue("zh")
    for key, template in catalogue_keys().items():
        assert key in zh and (zh[key] != template or not re.sub(r"\{\w+\}", "", template)), key
        assert set(re.findall(r"\{(\w+)\}", zh[key])) <= set(re.findall(r"\{(\w+)\}", template)) | {"label"}, key
    assert all(k in en for k in catalogue_keys())


def test_english_readers_get_the_domains_sentences_unchanged():
    say = Localiser("en")
    assert say.reason("red lane (rule)") == "red lane (rule)"
    assert say.field_error(FieldError("trade_mode", "Field required")).message == "Field required"


@pytest.mark.parametrize(("field", "message", "zh"), [
    ("items[0].hs_code", "Field required", "请填写商品编码"),
    ("gross_mass_kg", "Input should be greater than 0", "毛重（千克）必须大于 0"),
    ("trade_mode", "String should match pattern '^\\d{4}$'", "监管方式格式不正确"),
    ("items[1].quantity", "Decimal input should have no more than 4 decimal places", "数量最多保留 4 位小数"),
    ("items[0].hs_code", "999999 is not a valid HS 2022 subheading", "999999 不是有效的 HS 2022 子目编码"),
    ("office_code", "unknown customs office 9999", "未知的申报口岸（关区）代码 9999"),
    ("declared_at", "Input should be a valid datetime or date, invalid character in year",
     "申报时间应为有效的日期时间"),
    ("net_mass_kg", "10 is not the sum of the items' net mass (12)", "10 与各商品项净重之和（12）不符"),
])
def test_validation_messages_are_chinese_with_the_fields_label(field, message, zh):
    assert Localiser("zh").field_error(FieldError(field, message)) == FieldError(field, zh)


def test_a_message_the_catalogue_does_not_know_is_shown_as_it_is():
    assert Localiser("zh").field_error(FieldError("x", "the moon is made of cheese")).message == (
        "the moon is made of cheese")


@pytest.mark.parametrize(("english", "zh"), [
    ("risk score 0.94 is below office 2248's current selection threshold 0.97 (the office holds its top 5% of "
     "scores, 2% at this importer's credit grade)",
     "风险分 0.94 低于关区 2248 当前的布控阈值 0.97（该关区布控风险分最高的 5%，该收货人信用等级下为 2%）"),
    ("risk score 0.88, in the top 1.2% at office 2248", "风险分 0.88，位列关区 2248 前 1.2%"),
    ("rule 'ceramic tiles': tiles are often undervalued", "规则“ceramic tiles”：tiles are often undervalued"),
    ("mandatory hold, rule 'cites' (physical inspection)", "强制布控，规则“cites”（人工查验）"),
    ("advanced-certified enterprise (AEO): reduced inspection rate", "高级认证企业（AEO）：降低查验率"),
    ("importer's past offence rate 12% (4 inspections)", "收货人以往违规率 12%（查验 4 次）"),
    ("unit value 40% below the HS 690722 median", "每千克价值低于商品编码 690722的中位数 40%"),
    ("red lane (rule)", "红色通道（规则）"),
    ("green lane: released without inspection", "绿色通道：免查放行"),
    ("tax assessed: 1234.50 CNY", "已计税：1234.50 元"),
    ("risk score 0.71 below the selection threshold at customs office 2248 (buyer's 41th parcel this year)",
     "风险分 0.71 低于关区 2248 的布控阈值（订购人本年度第 41 个包裹）"),
    ("day of week 3", "申报日为星期几（0为星期一）：3"),
])
def test_risk_and_event_reasons_are_read_in_chinese(english, zh):
    assert Localiser("zh").reason(english) == zh


def test_every_reason_the_offence_model_can_give_has_chinese_words():
    """Each feature's sentence (risk/offence_model.describe) at several values reads in Chinese: a new sentence
    without a template in web/messages.py fails here."""
    from smartcustoms.risk.offence_model import FEATURE_NAMES, describe

    say = Localiser("zh")
    left = {}
    for name in FEATURE_NAMES:
        for v in (0.0, 1.0, 0.37, -0.6, 12.0, None):
            row = {"hs6": "690722", "hs4": "6907", "origin_country": "ES", name: v,
                   "importer_inspections": 4.0, "hs6_inspections": 4.0}
            text = describe(name, row)
            read = say.reason(text)
            if read == text or english_left(read):
                left[text] = read
    assert len(FEATURE_NAMES) > 200
    assert left == {}


def test_every_parcel_indicator_reads_in_chinese():
    from smartcustoms.risk.parcels.scoring import INDICATORS, ParcelFeatures

    f = ParcelFeatures(*[0.5] * len(ParcelFeatures._fields))
    say = Localiser("zh")
    for _, _, _, words in INDICATORS:
        text = words(f)
        assert not english_left(say.reason(text)), text


def test_error_details_read_in_chinese():
    say = Localiser("zh")
    assert say.detail("no declaration 224820260000000001") == "未找到报关单 224820260000000001"
    assert say.detail("your role does not open this page") == "您的角色无权打开此页面"
    assert say.detail("declaration 1 is released; it can no longer be cancelled") == (
        "报关单 1 当前为“已放行”，已不能撤单")
