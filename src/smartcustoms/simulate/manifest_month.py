"""A seeded, labelled month of simulated sea manifests (MT1101) for the pre-loading targeting replay.

Everything here is synthetic. A population of shippers (each with its port, usual goods, usual consignees and
usual route; a few are bad actors) files original manifests week by week; new shippers and consignees keep
appearing. Offences are injected at a low base rate (about 3 %) and their labels are kept aside (``labels``,
keyed by transport document number), never written into the messages:

* ``misdeclared_goods`` — electronics described as cheap goods (textiles, toys, plastics); the HS code given is
  sometimes the true one (a description/HS mismatch), sometimes the described goods' one, sometimes absent; the
  weight per package is the true goods' and the value is the described goods'.
* ``undeclared_dangerous_goods`` — lithium batteries described as electronic or phone accessories, no UN number.
* ``weight_anomaly`` — the shipper's usual goods at a weight per package far from (or, subtly, 1.35-1.8x off)
  the goods' usual weight.
* ``high_risk_route`` — the shipper's goods transshipped through a hub it never used; some of those hubs are on
  the analysts' list (:data:`ANALYST_HIGH_RISK_PLACES`), some not.

Noise keeps the rules imperfect: offences without a rule signature (a misdeclaration with a plausible weight,
a route through an unlisted hub), and innocent filings that trip rules (water-based paint and perfume without
a UN number, vague descriptions, first-time shippers, data-entry weight errors, late filings, innocent traffic
through listed and unlisted hubs). The first ``history_weeks`` weeks are the history before the month.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from smartcustoms.simulate.manifests import Cons, Item, container_number, message

#: (description, Chinese description or None, HS subheading, usual kg per package, USD per kg, category)
GOODS: list[tuple[str, str | None, str, float, float, str]] = [
    ("LADIES COTTON KNITTED T-SHIRTS", "女式棉制针织T恤", "610910", 12.0, 9.0, "cheap"),
    ("MENS DENIM TROUSERS", "男式牛仔裤", "620342", 15.0, 11.0, "cheap"),
    ("BED LINEN OF COTTON", "棉制床上用品", "630231", 10.0, 7.0, "cheap"),
    ("PLASTIC TOYS", "塑料玩具", "950300", 7.0, 6.0, "cheap"),
    ("PLASTIC STORAGE BOXES", "塑料收纳箱", "392490", 6.0, 3.0, "cheap"),
    ("FOOTWEAR WITH RUBBER SOLES", "橡胶底鞋", "640299", 9.0, 10.0, "cheap"),
    ("POLYESTER YARN", "涤纶纱线", "540233", 30.0, 2.0, "cheap"),
    ("STAINLESS STEEL KITCHEN SINKS", "不锈钢厨房水槽", "732410", 9.0, 5.0, "home"),
    ("CERAMIC FLOOR TILES", "陶瓷地砖", "690721", 25.0, 0.8, "home"),
    ("OFFICE CHAIRS", "办公椅", "940130", 14.0, 6.0, "home"),
    ("CANNED TUNA IN OIL", "油浸金枪鱼罐头", "160414", 18.0, 4.0, "food"),
    ("FROZEN SHRIMP", "冻虾", "030617", 12.0, 9.0, "food"),
    ("AUTOMOBILE BRAKE PADS", "汽车刹车片", "870830", 20.0, 6.0, "auto"),
    ("TYRES FOR CARS", "汽车轮胎", "401110", 40.0, 3.0, "auto"),
    ("MACHINE PARTS FOR TEXTILE LOOMS", "纺织机械零件", "844849", 35.0, 12.0, "machinery"),
    ("SOLAR PANELS", "太阳能电池板", "854143", 25.0, 8.0, "machinery"),
    ("LED LIGHT BULBS", "LED灯泡", "853950", 6.0, 15.0, "electronics"),
    ("MOBILE PHONES", "手机", "851713", 8.0, 120.0, "electronics"),
    ("LAPTOP COMPUTERS", "笔记本电脑", "847130", 9.0, 90.0, "electronics"),
    ("BLUETOOTH SPEAKERS", "蓝牙音箱", "851822", 7.0, 30.0, "electronics"),
    ("ELECTRONIC ACCESSORIES", "电子配件", "854442", 5.0, 20.0, "electronics"),
    ("LITHIUM ION BATTERIES", "锂离子电池", "850760", 20.0, 25.0, "dangerous"),
    ("WATER BASED WALL PAINT", "水性墙面漆", "320910", 22.0, 2.5, "paint"),
    ("PERFUME", "香水", "330300", 8.0, 40.0, "paint"),
]
_BY_CAT: dict[str, list[int]] = {}
for _i, _g in enumerate(GOODS):
    _BY_CAT.setdefault(_g[5], []).append(_i)
ELECTRONICS = [i for i in _BY_CAT["electronics"] if GOODS[i][0] != "ELECTRONIC ACCESSORIES"]
BATTERIES = _BY_CAT["dangerous"][0]
DG_DISGUISES = [("ELECTRONIC ACCESSORIES", "854442"), ("电子配件", "854442"), ("PHONE ACCESSORIES", "851779")]

ORIGINS = [("NLRTM", "NL"), ("DEHAM", "DE"), ("BEANR", "BE"), ("USLAX", "US"), ("USNYC", "US"), ("JPTYO", "JP"),
           ("JPOSA", "JP"), ("KRPUS", "KR"), ("VNSGN", "VN"), ("THLCH", "TH"), ("INNSA", "IN"), ("BRSSZ", "BR"),
           ("AUSYD", "AU"), ("ITGOA", "IT"), ("ESVLC", "ES"), ("GBFXT", "GB")]
DISCHARGE = ["CNSHA", "CNNGB", "CNSZX", "CNTAO", "CNTSN", "CNXMN"]
USUAL_HUBS = ["SGSIN", "MYPKG", "LKCMB", "KRPUS", "AEJEA"]
OFFENCE_HUBS = ["OMSLL", "DJJIB", "TRMER", "LKCMB"]
#: the analysts' high-risk list for the rules in the replay: one hub innocent traffic also uses a lot
ANALYST_HIGH_RISK_PLACES = ["OMSLL", "LKCMB"]
OFFENCES = ("misdeclared_goods", "undeclared_dangerous_goods", "weight_anomaly", "high_risk_route")


@dataclass
class _Shipper:
    name: str
    origin: tuple[str, str]
    goods: list[int]
    consignees: list[int]
    hub: str | None
    rate: float  # filings per week (mean)
    risk: float  # offence probability per filing
    first_week: int


@dataclass
class LabelledMonth:
    """The simulated messages in filing order with their week, and the labels kept aside."""
    weeks: int
    history_weeks: int
    messages: list[tuple[int, datetime, bytes]] = field(default_factory=list)
    labels: dict[str, str | None] = field(default_factory=dict)  # transport document -> offence or None
    week_of: dict[str, int] = field(default_factory=dict)  # transport document -> week
    high_risk_places: list[str] = field(default_factory=lambda: list(ANALYST_HIGH_RISK_PLACES))


def _kg(pk: int, per: float, rng: random.Random, factor: float = 1.0) -> str:
    return f"{pk * per * factor * math.exp(rng.gauss(0, 0.12)):.2f}"


def labelled_month(seed: int = 11, weeks: int = 7, history_weeks: int = 3, per_week: int = 2000,
                   per_message: int = 20, start: datetime | None = None) -> LabelledMonth:
    """``weeks`` weeks of about ``per_week`` consignments each (the first ``history_weeks`` are the history
    before the replayed month), in messages of up to ``per_message`` consignments, seeded."""
    rng = random.Random(seed)
    start = start or datetime(2026, 10, 4)
    consignee_names = [f"{rng.choice(['SHANGHAI', 'NINGBO', 'SHENZHEN', 'QINGDAO', 'TIANJIN', 'XIAMEN'])} "
                       f"{rng.choice(['HUAXIN', 'JINLONG', 'MINGDA', 'HENGTAI', 'YUANFENG', 'XINGYE'])} "
                       f"TRADING {i} CO LTD" for i in range(900)]
    shippers: list[_Shipper] = []

    def new_shipper(week: int, newcomer: bool) -> _Shipper:
        cats = rng.choices(["cheap", "home", "food", "auto", "machinery", "electronics", "paint", "dangerous"],
                           [30, 14, 10, 10, 10, 16, 6, 4])[0]
        pool = _BY_CAT[cats]
        goods = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
        bad = rng.random() < 0.04
        risk = 0.35 if bad else (0.08 if newcomer else 0.01)
        return _Shipper(name=f"{rng.choice(['GLOBAL', 'PACIFIC', 'ATLAS', 'NORDIC', 'SUMMIT', 'ORIENT'])} "
                             f"{rng.choice(['EXPORT', 'TRADING', 'SUPPLY', 'LOGISTICS', 'MANUFACTURING'])} "
                             f"{len(shippers)} {rng.choice(['LTD', 'GMBH', 'BV', 'INC', 'SA'])}",
                        origin=rng.choice(ORIGINS), goods=goods,
                        consignees=rng.sample(range(len(consignee_names)), rng.randint(1, 4)),
                        hub=rng.choice(USUAL_HUBS) if rng.random() < 0.3 else None,
                        rate=math.exp(rng.gauss(0.8, 1.0)), risk=risk, first_week=week)

    for _ in range(500):
        shippers.append(new_shipper(0, False))
    out = LabelledMonth(weeks=weeks, history_weeks=history_weeks)
    seq = 0
    for week in range(weeks):
        if week:
            for _ in range(25):  # newcomers every week
                s = new_shipper(week, True)
                s.rate = math.exp(rng.gauss(0.3, 0.7))
                shippers.append(s)
        week_start = start + timedelta(days=7 * week)
        batch: list[Cons] = []
        msg_no = 0
        for k in range(per_week):
            s = rng.choices(shippers, [sh.rate for sh in shippers])[0] if rng.random() > 0.04 \
                else new_shipper(week, True)  # 4 % first-time one-off shippers
            if s not in shippers:
                shippers.append(s)
                s.rate = 0.0
            at = week_start + timedelta(seconds=k * 7 * 86400 / per_week)
            offence = rng.choices(OFFENCES, [0.3, 0.25, 0.25, 0.2])[0] if rng.random() < s.risk else None
            seq += 1
            doc = f"SM{seed:02d}{rng.randrange(10**6):06d}{seq:06d}"
            cons = _consignment(rng, s, doc, at, offence, consignee_names)
            out.labels[doc] = offence
            out.week_of[doc] = week
            batch.append(cons)
            if len(batch) >= per_message or k == per_week - 1:
                msg_no += 1
                out.messages.append((week, at, message(batch, message_id=f"SMM{seed}W{week}N{msg_no}", sent_at=at,
                                                       journey=f"{week:02d}{msg_no % 97:02d}E")))
                batch = []
    return out


def _consignment(rng: random.Random, s: _Shipper, doc: str, at: datetime, offence: str | None,
                 consignee_names: list[str]) -> Cons:
    ci = rng.choice(s.consignees) if rng.random() > 0.05 else rng.randrange(len(consignee_names))
    consignee = (None, consignee_names[ci], "CN")
    transit = [s.hub] if s.hub else []
    if offence is None and rng.random() < 0.02:  # innocent one-off transshipment, some via offence hubs
        transit = [rng.choice(OFFENCE_HUBS + USUAL_HUBS)]
    items: list[Item] = []
    value = 0.0
    n_items = 1 if rng.random() < 0.75 else 2
    for j in range(n_items):
        g = GOODS[rng.choice(s.goods)]
        pk = rng.randint(20, 600)
        desc = g[1] if g[1] and rng.random() < 0.15 else g[0]
        hs: str | None = g[2] if rng.random() < 0.8 else None
        un = "3480" if g[5] == "dangerous" else None
        kg = _kg(pk, g[3], rng)
        usd = float(kg) * g[4]
        if offence is None:
            r = rng.random()
            if r < 0.01:  # data-entry error: tonnes or pounds for kilograms
                kg = _kg(pk, g[3], rng, rng.choice([0.25, 0.3, 3.0, 4.0]))
            elif r < 0.04:
                desc = rng.choice(["GENERAL CARGO", "SAID TO CONTAIN GOODS", "SPARE PARTS", "普通货物"])
        elif j == 0 and offence == "misdeclared_goods":
            true = GOODS[rng.choice(ELECTRONICS)]
            shown = g if g[5] == "cheap" else GOODS[rng.choice(_BY_CAT["cheap"])]
            desc = shown[0]
            hs = rng.choices([true[2], shown[2], None], [0.45, 0.35, 0.2])[0]
            kg = _kg(pk, true[3], rng)
            usd = float(kg) * shown[4]
        elif j == 0 and offence == "undeclared_dangerous_goods":
            desc, disguise_hs = rng.choice(DG_DISGUISES)
            hs = rng.choices(["850760", disguise_hs, None], [0.4, 0.3, 0.3])[0]
            un = None
            kg = _kg(pk, GOODS[BATTERIES][3], rng)
            usd = float(kg) * 22.0
        elif j == 0 and offence == "weight_anomaly":
            strong = rng.random() < 0.6
            f = rng.uniform(2.5, 5.0) if strong else rng.uniform(1.35, 1.8)
            kg = _kg(pk, g[3], rng, f if rng.random() < 0.5 else 1 / f)
        if offence == "high_risk_route" and j == 0:
            transit = [rng.choice(OFFENCE_HUBS)]
        value += usd * math.exp(rng.gauss(0, 0.25))
        items.append(Item(description=desc, packages=pk, gross_kg=kg, hs=hs, un=un, container=None))
    loading_at = at + timedelta(days=2) if rng.random() > 0.03 else at + timedelta(hours=rng.uniform(2, 20))
    return Cons(doc=doc, loading=s.origin[0], discharge=rng.choice(DISCHARGE), loading_at=loading_at,
                transit=transit, shipper=(None, s.name, s.origin[1]), consignee=consignee,
                containers=[container_number(rng)], items=items, value=f"{value:.2f}")
