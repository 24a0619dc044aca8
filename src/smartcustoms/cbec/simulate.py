"""Seeded generator of realistic CBEC parcels as CEB messages (order, payment, waybill, inventory).

Used by tests and by ``bench/cbec.py``. A share of parcels is deliberately wrong: mismatching documents,
missing documents, goods off the positive list, over-limit parcels and heavy buyers that run past the
annual quota; a share of messages is re-sent (duplicate guid) and arrival order is shuffled within a
window so documents come in any order.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from smartcustoms.cbec.ceb.emit import emit_message
from smartcustoms.cbec.ceb.signature import SigningKey, sign
from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER, PAYMENT, WAYBILL
from smartcustoms.tax.retail import RateTable, TaxItem, assess

# (10-digit code, name, unit, typical unit price CNY)
CATALOGUE: list[tuple[str, str, str, int]] = [
    ("3304990099", "Face cream", "011", 180), ("3304100000", "Lipstick", "011", 220),
    ("3303000020", "Perfume", "142", 600), ("1901101000", "Infant formula milk powder", "122", 260),
    ("2106909090", "Dietary supplement", "142", 150), ("6403990090", "Leather shoes", "025", 700),
    ("4202210090", "Leather handbag", "011", 1500), ("6109100022", "Cotton T-shirt", "011", 90),
    ("9503008900", "Toy", "011", 120), ("3401300000", "Facial cleanser", "011", 80),
    ("2204210000", "Red wine", "142", 300), ("8509800000", "Electric toothbrush", "001", 400),
    ("9102110000", "Wrist-watch", "007", 2500), ("3306100010", "Toothpaste", "011", 40),
]
OFF_LIST = ("2402100000", "Cigars", "007", 500)
PLATFORMS = [("1101980001", "Global Mall Platform"), ("3120960002", "Sea Cross Platform"),
             ("4403960003", "South Gate Platform")]
SELLERS = [("1101960101", "Tokyo Goods Ltd"), ("3120960102", "Euro Beauty Ltd"), ("4403960103", "Kids World Ltd")]
LOGISTICS = [("1101980201", "Swift Express"), ("3120980202", "Blue Whale Logistics")]
PAYERS = [("1101990301", "Easy Pay"), ("3120990302", "Cloud Pay")]
ORIGINS = ["116", "133", "502", "304", "305", "601", "110"]


def sender_codes() -> list[tuple[str, str]]:
    """``(code, kind)`` of every party the simulator sends for: platforms (ebp), sellers (ebc), payment (pay) and
    logistics firms; a trader that sends its traffic registers them (``enterprises.sender_codes``)."""
    return ([(c, "ebp") for c, _ in PLATFORMS] + [(c, "ebc") for c, _ in SELLERS]
            + [(c, "pay") for c, _ in PAYERS] + [(c, "logistics") for c, _ in LOGISTICS])
CITIES = ["北京市朝阳区", "上海市浦东新区", "广州市天河区", "深圳市南山区", "杭州市西湖区", "成都市武侯区"]
STREETS = ["人民路", "解放路", "中山路", "建设路", "和平路", "长江路", "黄河路", "新华路", "友谊路", "光明路"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


@dataclass
class SimConfig:
    """Shares of deliberately wrong input."""

    mismatch: float = 0.02
    missing: float = 0.005
    off_list: float = 0.003
    over_limit: float = 0.003
    duplicate: float = 0.01
    heavy_buyers: float = 0.01    # share of parcels bought by a few heavy buyers (they run over quota)
    window: int = 64              # arrival shuffling window, in parcels
    year: int = 2026
    buyers: int = 200_000
    extra: dict[str, Any] = field(default_factory=dict)


def _id_number(rng: random.Random) -> str:
    return f"{rng.randint(110000, 659999)}{rng.randint(1950, 2006)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" \
           f"{rng.randint(100, 999)}{rng.choice('0123456789X')}"


def _address(rng: random.Random) -> str:
    return (f"{rng.choice(CITIES)}{rng.choice(STREETS)}{rng.randint(1, 999)}号"
            f"{rng.randint(1, 30)}栋{rng.randint(101, 2999)}室")


def make_parcel(order_no: str, *, rng: random.Random | None = None, buyer: tuple[str, str, str, str] | None = None,
                items: list[tuple[str, str, str, Decimal, int]] | None = None, year: int = 2026,
                freight: Decimal = Decimal("10.00"), discount: Decimal = Decimal("0.00"),
                platform: tuple[str, str] = PLATFORMS[0], table: RateTable | None = None
                ) -> dict[str, tuple[str, dict[str, str], list[dict[str, str]], dict[str, str]]]:
    """The four documents of one consistent parcel: ``kind -> (message guid, head, lines, base)``.

    ``buyer`` is ``(id number, name, telephone, address)``; ``items`` are
    ``(hs code, name, unit, unit price, qty)``.
    """
    rng = rng or random.Random(order_no)
    if buyer is None:
        buyer = (_id_number(rng), rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                 f"13{rng.randint(100000000, 999999999)}", _address(rng))
    if items is None:
        items = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            hs, name, unit, list_price = rng.choice(CATALOGUE)
            p = (Decimal(list_price) * Decimal(rng.randint(70, 130)) / 100).quantize(Decimal("0.01"))
            items.append((hs, name, unit, p, 1 if list_price >= 1000 else rng.choice((1, 1, 1, 2, 3))))
    id_number, name, tel, address = buyer
    ebp_code, ebp_name = platform
    ebc_code, ebc_name = rng.choice(SELLERS)
    lc, ln_name = rng.choice(LOGISTICS)
    pay_code, pay_name = rng.choice(PAYERS)
    logistics_no = f"LN{order_no}"
    app_time = f"{year}0{rng.randint(1, 9)}{rng.randint(10, 28)}{rng.randint(10, 23)}{rng.randint(10, 59)}" \
               f"{rng.randint(10, 59)}"
    origin = rng.choice(ORIGINS)
    lines_o, lines_i, tax_items = [], [], []
    goods = Decimal(0)
    for g, (hs, iname, unit, price, qty) in enumerate(items, 1):
        total = (price * qty).quantize(Decimal("0.01"))
        goods += total
        tax_items.append(TaxItem(hs, total, Decimal(qty)))
        lines_o.append({"gnum": str(g), "itemNo": f"SKU{hs[:6]}{g}", "itemName": iname, "gmodel": "standard",
                        "unit": unit, "qty": str(qty), "price": str(price), "totalPrice": str(total),
                        "currency": "142", "country": origin})
        lines_i.append({"gnum": str(g), "itemRecordNo": "", "itemNo": f"SKU{hs[:6]}{g}", "itemName": iname,
                        "gcode": hs, "gname": iname, "gmodel": "standard; brand N/A", "country": origin,
                        "currency": "142", "qty": str(qty), "unit": unit, "qty1": str(Decimal("0.2") * qty),
                        "unit1": "035", "price": str(price), "totalPrice": str(total)})
    tax = assess(tax_items, freight, Decimal(0), table or _TABLE).total
    paid = goods + freight + tax - discount
    pay_tx = f"PAY{order_no}"
    guid = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()  # noqa: E731
    base = {"copCode": ebp_code, "copName": ebp_name, "dxpMode": "DXP", "dxpId": "DXPENT0000012345"}
    order = {"guid": guid(), "appType": "1", "appTime": app_time, "appStatus": "2", "orderType": "I",
             "orderNo": order_no, "ebpCode": ebp_code, "ebpName": ebp_name, "ebcCode": ebc_code, "ebcName": ebc_name,
             "goodsValue": str(goods), "freight": str(freight), "discount": str(discount), "taxTotal": str(tax),
             "acturalPaid": str(paid), "currency": "142", "buyerRegNo": f"U{id_number[-8:]}", "buyerName": name,
             "buyerTelephone": tel, "buyerIdType": "1", "buyerIdNumber": id_number, "payCode": pay_code,
             "payName": pay_name, "payTransactionId": pay_tx, "consignee": name, "consigneeTelephone": tel,
             "consigneeAddress": address}
    payment = {"guid": guid(), "appType": "1", "appTime": app_time, "appStatus": "2", "payCode": pay_code,
               "payName": pay_name, "payTransactionId": pay_tx, "orderNo": order_no, "ebpCode": ebp_code,
               "ebpName": ebp_name, "payerIdType": "1", "payerIdNumber": id_number, "payerName": name,
               "telephone": tel, "amountPaid": str(paid), "currency": "142", "payTime": app_time}
    waybill = {"guid": guid(), "appType": "1", "appTime": app_time, "appStatus": "2", "logisticsCode": lc,
               "logisticsName": ln_name, "logisticsNo": logistics_no, "orderNo": order_no, "freight": str(freight),
               "insuredFee": "0", "currency": "142", "weight": str(Decimal("0.3") * len(items)), "packNo": "1",
               "goodsInfo": items[0][1], "consignee": name, "consigneeAddress": address, "consigneeTelephone": tel}
    inventory = {"guid": guid(), "appType": "1", "appTime": app_time, "appStatus": "2", "orderNo": order_no,
                 "ebpCode": ebp_code, "ebpName": ebp_name, "ebcCode": ebc_code, "ebcName": ebc_name,
                 "logisticsNo": logistics_no, "logisticsCode": lc, "logisticsName": ln_name,
                 "copNo": f"COP{order_no}", "preNo": "", "invtNo": "", "ieFlag": "I", "declTime": app_time[:8],
                 "customsCode": "2244", "portCode": "2244", "buyerIdType": "1", "buyerIdNumber": id_number,
                 "buyerName": name, "buyerTelephone": tel, "consigneeAddress": address, "agentCode": "3120980999",
                 "agentName": "Port Customs Broker", "assureCode": ebc_code, "areaCode": "3120980888",
                 "tradeMode": "9610", "trafMode": "5", "country": origin, "freight": str(freight), "insuredFee": "0",
                 "currency": "142", "packNo": "1", "grossWeight": str(Decimal("0.3") * len(items)),
                 "netWeight": str(Decimal("0.2") * len(items))}
    return {ORDER: (guid(), order, lines_o, base), PAYMENT: (guid(), payment, [], base),
            WAYBILL: (guid(), waybill, [], base), INVENTORY: (guid(), inventory, lines_i, base)}


_TABLE = RateTable()


def emit_parcel(docs: dict[str, tuple[str, dict, list, dict]]) -> dict[str, bytes]:
    """Serialise each CEB document of a simulated parcel to its XML message bytes."""
    return {k: emit_message(k, g, [(h, lines)], b) for k, (g, h, lines, b) in docs.items()}


def _spoil(docs: dict, rng: random.Random) -> str:
    """Make one document disagree with the others; returns the spoiled check's name."""
    what = rng.choice(["payer", "amount", "line", "consignee", "ebc"])
    if what == "payer":
        docs[PAYMENT][1]["payerIdNumber"] = docs[PAYMENT][1]["payerIdNumber"][:-1] + "7"
    elif what == "amount":
        docs[PAYMENT][1]["amountPaid"] = str(Decimal(docs[PAYMENT][1]["amountPaid"]) + 1)
    elif what == "line":
        docs[INVENTORY][2][0]["qty"] = str(int(docs[INVENTORY][2][0]["qty"]) + 1)
    elif what == "consignee":
        docs[WAYBILL][1]["consignee"] = "李四"
    else:
        docs[INVENTORY][1]["ebcCode"] = "9999960999"
    return what


def generate(n: int, seed: int = 42, config: SimConfig | None = None,
             signer: SigningKey | None = None) -> Iterator[bytes]:
    """``n`` parcels' messages in arrival order (shuffled within a window, some re-sent); with ``signer``, every
    message carries an enveloped ``ds:Signature`` made with that key (a re-sent message the same bytes)."""
    cfg = config or SimConfig()
    rng = random.Random(seed)
    buyer_pool_rng = random.Random(seed + 1)
    heavy = [(_id_number(buyer_pool_rng), "赵重", "13900000000", "上海市黄浦区1号") for _ in range(5)]
    buyers: dict[int, tuple[str, str, str, str]] = {}
    window: list[bytes] = []
    for i in range(n):
        order_no = f"O{seed:04d}{i:09d}"
        kw: dict[str, Any] = {"rng": random.Random(rng.getrandbits(64)), "year": cfg.year,
                              "platform": PLATFORMS[i % len(PLATFORMS)]}
        r = rng.random()
        if r < cfg.heavy_buyers:
            kw["buyer"] = rng.choice(heavy)
            kw["items"] = [(*CATALOGUE[6][:3], Decimal("1800.00"), 1)]
        else:
            b = rng.randrange(cfg.buyers)
            if b not in buyers and len(buyers) < 50_000:
                br = random.Random(seed * 7919 + b)
                buyers[b] = (_id_number(br), br.choice(SURNAMES) + br.choice(GIVEN),
                             f"13{br.randint(10**8, 10**9 - 1)}", _address(br))
            if b in buyers:
                kw["buyer"] = buyers[b]
        r2 = rng.random()
        if r2 < cfg.over_limit:
            kw["items"] = [(*CATALOGUE[12][:3], Decimal("2600.00"), 2)]
        elif r2 < cfg.over_limit + cfg.off_list:
            kw["items"] = [(*OFF_LIST[:3], Decimal(OFF_LIST[3]), 1)]
        docs = make_parcel(order_no, **kw)
        if rng.random() < cfg.mismatch:
            _spoil(docs, rng)
        msgs = list(emit_parcel(docs).values())
        if signer is not None:
            msgs = [sign(m, signer) for m in msgs]
        if rng.random() < cfg.missing:
            msgs.pop(rng.randrange(3))  # order, payment or waybill never arrives
        if rng.random() < cfg.duplicate:
            msgs.append(msgs[rng.randrange(len(msgs))])
        window.extend(msgs)
        if len(window) >= cfg.window * 4:
            rng.shuffle(window)
            half = len(window) // 2
            yield from window[:half]
            window = window[half:]
    rng.shuffle(window)
    yield from window
