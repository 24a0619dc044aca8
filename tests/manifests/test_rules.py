import math
from datetime import datetime, timedelta

from smartcustoms.manifests.rules import History, ManifestSettings, WeightStats, assess, goods_key, party_key
from smartcustoms.manifests.schemas import (
    Consignment,
    Conveyance,
    GoodsItem,
    MessageKind,
    Outcome,
    Party,
    TransportMode,
)

LOADING = datetime(2026, 12, 5, 6, 0)
EARLY = LOADING - timedelta(hours=48)
SHIPPER = Party(name="ROTTERDAM TEXTILE EXPORTS BV", country="NL")
CONSIGNEE = Party(id="USCI+91310000MA1FL8XQ37", name="SHANGHAI EXAMPLE", country="CN")
KNOWN = History(party_filings={party_key(SHIPPER): 5, party_key(CONSIGNEE): 9})
SEA = Conveyance(mode=TransportMode.WATER, journey_id="0123E", conveyance_id="UN9074729")


def cons(description="LADIES COTTON KNITTED T-SHIRTS", un=None, packages=100, kg="1200", hs="610910", **kw):
    item = GoodsItem(sequence=1, description=description, hs_code=hs, packages=packages, gross_mass_kg=kg,
                     un_number=un)
    return Consignment(transport_document_no="COSU1", loading_place="NLRTM", loading_at=LOADING,
                       discharge_place="CNSHA", shipper=SHIPPER, consignee=CONSIGNEE, items=[item], **kw)


def run(c, history=KNOWN, received=EARLY, conveyance=SEA, settings=None, kind=MessageKind.ORIGINAL):
    return assess(c, conveyance, kind, received, history, settings or ManifestSettings())


def test_a_plain_timely_consignment_of_known_parties_is_assessment_complete():
    a = run(cons())
    assert a.outcome is Outcome.ASSESSMENT_COMPLETE and a.reasons == [] and not a.late


def test_vague_goods_description_asks_for_information():
    for vague in ("GENERAL CARGO", "FAK", "said to contain 20 cartons", "货物"):
        a = run(cons(description=vague))
        assert a.outcome is Outcome.REQUEST_FOR_INFORMATION, vague
        assert "too vague" in a.reasons[0]


def test_parties_never_seen_before_ask_for_information():
    a = run(cons(), history=History())
    assert a.outcome is Outcome.REQUEST_FOR_INFORMATION and "never filed" in a.reasons[0]


def test_sea_filing_later_than_24_hours_before_loading_is_late():
    a = run(cons(), received=LOADING - timedelta(hours=10))
    assert a.late and a.outcome is Outcome.REQUEST_FOR_INFORMATION and "14.0 h after" in a.reasons[0]


def test_air_filing_window_closes_at_departure_and_land_at_arrival():
    air = Conveyance(mode=TransportMode.AIR, departure_at=LOADING)
    assert not run(cons(), conveyance=air, received=LOADING - timedelta(minutes=5)).late
    assert run(cons(), conveyance=air, received=LOADING + timedelta(minutes=5)).late
    road = Conveyance(mode=TransportMode.ROAD, arrival_at=LOADING)
    assert run(cons(), conveyance=road, received=LOADING + timedelta(hours=1)).late


def test_arrival_reports_are_not_held_to_the_filing_window():
    assert not run(cons(), received=LOADING + timedelta(days=3), kind=MessageKind.ARRIVAL).late


def test_dangerous_goods_words_without_a_un_number_ask_for_screening():
    a = run(cons(description="LITHIUM ION BATTERIES", hs="850760"))
    assert a.outcome is Outcome.REQUEST_FOR_SCREENING and "without a UN number" in a.reasons[0]
    assert run(cons(description="LITHIUM ION BATTERIES", hs="850760", un="3480")).outcome \
        is Outcome.ASSESSMENT_COMPLETE


def test_high_risk_transshipment_place_asks_for_screening():
    s = ManifestSettings(high_risk_places=["XYABC", "IR"])
    a = run(cons(transit_places=["IRBND"]), settings=s)
    assert a.outcome is Outcome.REQUEST_FOR_SCREENING and "transshipment place IRBND" in a.reasons[0]


def test_weight_far_from_the_usual_weight_of_the_goods_asks_for_screening():
    usual = WeightStats(n=50, mean=math.log(12.0), m2=49 * 0.1 ** 2)
    history = History(party_filings=KNOWN.party_filings, weights={"hs:610910": usual})
    assert run(cons(kg="1250"), history=history).outcome is Outcome.ASSESSMENT_COMPLETE
    a = run(cons(kg="6000"), history=history)  # 60 kg a carton of T-shirts
    assert a.outcome is Outcome.REQUEST_FOR_SCREENING and "usual for these goods 12.0 kg" in a.reasons[0]
    few = History(party_filings=KNOWN.party_filings, weights={"hs:610910": WeightStats(5, usual.mean, 0.04)})
    assert run(cons(kg="6000"), history=few).outcome is Outcome.ASSESSMENT_COMPLETE  # too little history


def test_prohibited_goods_or_a_denied_party_mean_do_not_load_and_outrank_other_reasons():
    a = run(cons(description="DETONATOR ASSEMBLIES"), history=History())
    assert a.outcome is Outcome.DO_NOT_LOAD and "detonator" in a.reasons[0]
    assert len(a.reasons) == 2  # the new-parties reason is kept, after the most severe
    s = ManifestSettings(denied_parties=["ROTTERDAM TEXTILE EXPORTS BV"])
    assert run(cons(), settings=s).outcome is Outcome.DO_NOT_LOAD


def test_goods_key_is_the_hs_subheading_else_the_description_words():
    assert goods_key(GoodsItem(sequence=1, description="x", hs_code="6109100010")) == "hs:610910"
    assert goods_key(GoodsItem(sequence=1, description="Office Chairs, black")) == "desc:office chairs black"


def test_every_reason_is_given_in_english_and_chinese():
    a = run(cons(description="LITHIUM ION BATTERIES", hs="850760"), history=History(),
            received=LOADING - timedelta(hours=1))
    assert len(a.reasons) == len(a.reasons_zh) == 3
    assert a.reasons_zh[0] == "第1项：含危险品词语“lithium”，但未申报联合国危险货物编号"
    assert "发货人和收货人此前均无舱单申报记录" in a.reasons_zh
    assert "晚于水路舱单申报时限23.0小时申报" in a.reasons_zh
