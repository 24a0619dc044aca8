"""A seeded simulator of import declarations with labelled offences.

Importers have a propensity to offend (most are honest, a few are not; AEO enterprises less,
discredited ones more), favourite HS codes and origins; unit prices follow a log-normal law per
HS code. An offending declaration carries one offence type and the true values it hides:

* ``undervaluation``: unit price declared at 25–60 % of the real one;
* ``misclassification``: a lower-taxed neighbour HS code declared for the real one;
* ``false_origin``: a third country declared for the real (higher-risk) origin;
* ``quantity``: 50–80 % of the real quantity declared, net mass left true;
* ``prohibited``: goods under a prohibited HS code (critical).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

OFFENCE_TYPES = ("undervaluation", "misclassification", "false_origin", "quantity", "prohibited")


@dataclass(frozen=True, slots=True)
class Product:
    """A simulated traded product: HS code, unit, unit-price spread, mass per unit and usual origins."""
    hs_code: str
    description: str
    unit: str
    unit_price_usd: float  # median
    sigma: float
    kg_per_unit: float
    origins: tuple[str, ...]


CATALOGUE: tuple[Product, ...] = (
    Product("0201300000", "Boneless beef, chilled", "035", 9.0, 0.25, 1.0, ("AU", "BR", "AR", "NZ")),
    Product("0303550000", "Frozen jack mackerel", "035", 1.6, 0.3, 1.0, ("NO", "CL", "RU")),
    Product("0402210000", "Milk powder, unsweetened", "035", 4.2, 0.2, 1.0, ("NZ", "AU", "NL", "FR")),
    Product("0901210000", "Roasted coffee beans", "035", 9.5, 0.35, 1.0, ("BR", "CO", "ET", "VN")),
    Product("1001990000", "Wheat", "035", 0.28, 0.15, 1.0, ("AU", "CA", "US")),
    Product("1201900000", "Soya beans", "035", 0.52, 0.12, 1.0, ("BR", "US", "AR")),
    Product("2204210000", "Red wine, bottled 750 ml", "095", 8.0, 0.6, 1.3, ("FR", "AU", "CL", "IT", "ES")),
    Product("2208300000", "Whisky", "095", 30.0, 0.6, 1.5, ("GB", "US", "JP")),
    Product("3004900000", "Medicaments, packaged", "035", 45.0, 0.8, 1.0, ("DE", "US", "CH", "IN")),
    Product("3304990000", "Skin-care preparations", "035", 60.0, 0.7, 1.0, ("FR", "JP", "KR", "US")),
    Product("3926909000", "Articles of plastics", "035", 6.0, 0.5, 1.0, ("CN", "VN", "DE", "JP")),
    Product("4011100000", "New car tyres", "007", 55.0, 0.3, 9.0, ("JP", "KR", "TH", "DE")),
    Product("4403230000", "Spruce logs", "035", 0.15, 0.2, 1.0, ("RU", "NZ", "DE")),
    Product("6109100000", "Cotton T-shirts", "011", 3.5, 0.5, 0.2, ("BD", "VN", "KH", "TR")),
    Product("6403990000", "Leather footwear", "012", 38.0, 0.6, 0.9, ("IT", "VN", "ID", "ES")),
    Product("6907220000", "Ceramic wall tiles", "035", 0.6, 0.3, 1.0, ("ES", "IT", "VN")),
    Product("7113190000", "Gold jewellery", "035", 52000.0, 0.3, 1.0, ("IT", "CH", "HK")),
    Product("7208390000", "Hot-rolled steel coils", "035", 0.6, 0.15, 1.0, ("JP", "KR", "RU")),
    Product("8471300000", "Laptop computers", "001", 650.0, 0.4, 2.0, ("VN", "MY", "TH", "US")),
    Product("8517130000", "Smartphones", "001", 420.0, 0.5, 0.3, ("VN", "IN", "KR", "US")),
    Product("8528520000", "Computer monitors", "001", 160.0, 0.4, 5.0, ("KR", "MY", "MX")),
    Product("8542310000", "Processors and controllers", "007", 18.0, 0.9, 0.005, ("KR", "MY", "US", "PH")),
    Product("8703230000", "Passenger cars, 1.5–3 litre", "003", 32000.0, 0.3, 1500.0, ("DE", "JP", "US", "GB")),
    Product("8708299000", "Car body parts", "035", 12.0, 0.5, 1.0, ("DE", "JP", "MX", "KR")),
    Product("9018909000", "Medical instruments", "001", 900.0, 0.9, 3.0, ("US", "DE", "JP")),
    Product("9102110000", "Wrist-watches, electric", "007", 180.0, 0.9, 0.1, ("CH", "JP")),
    Product("9403600000", "Wooden furniture", "011", 120.0, 0.5, 25.0, ("VN", "MY", "IT", "ID")),
    Product("9503009000", "Toys", "035", 7.0, 0.5, 1.0, ("VN", "ID", "DE")),
)

# A lower-taxed code an offender declares instead of the real one.
MISCLASSIFY = {
    "8703230000": ("8708299000", "Car body parts"),
    "2208300000": ("2204210000", "Red wine, bottled 750 ml"),
    "3304990000": ("3926909000", "Articles of plastics"),
    "9102110000": ("9503009000", "Toys"),
    "7113190000": ("7208390000", "Hot-rolled steel coils"),
    "0201300000": ("0303550000", "Frozen jack mackerel"),
}
PROHIBITED = (
    Product("0507100000", "Ivory, unworked", "035", 900.0, 0.4, 1.0, ("NG", "CD", "KE")),
    Product("2903710000", "Chlorodifluoromethane (HCFC-22)", "035", 3.0, 0.3, 1.0, ("IN", "RU")),
)
PROHIBITED_HS = frozenset(p.hs_code for p in PROHIBITED)
FALSE_ORIGIN_COVER = ("MY", "VN", "TH", "SG", "KH")
CURRENCY = {"JP": ("JPY", 150.0), "KR": ("KRW", 1350.0), "DE": ("EUR", 0.92), "FR": ("EUR", 0.92),
            "IT": ("EUR", 0.92), "ES": ("EUR", 0.92), "NL": ("EUR", 0.92), "GB": ("GBP", 0.79),
            "HK": ("HKD", 7.8), "CH": ("CHF", 0.88), "AU": ("AUD", 1.52)}
TRANSPORT = {"035": "2", "001": "5", "007": "5", "095": "2", "011": "2", "012": "2", "003": "2"}
OFFICES = ("2201", "2248", "2233", "5301", "5316", "5141", "0101", "3101", "4201", "2901")
GRADES = ("advanced_certified", "general_certified", "general", "discredited")


@dataclass(frozen=True, slots=True)
class SimulatedEnterprise:
    """A simulated enterprise with its roles, credit grade and offending propensity."""
    code: str
    name: str
    roles: tuple[str, ...]
    credit_grade: str
    propensity: float


@dataclass(slots=True)
class SimulatedDeclaration:
    """A lodgeable payload (``DeclarationIn`` as JSON-ready dict) and its hidden truth."""

    payload: dict
    offence: str | None = None
    critical: bool = False
    truth: dict = field(default_factory=dict)

    @property
    def offending(self) -> bool:
        """Whether the simulated declaration carries an offence."""
        return self.offence is not None


def _money(x: float, places: str = "0.01") -> Decimal:
    return Decimal(repr(x)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


class DeclarationSimulator:
    """Seeded generator: ``enterprises`` once, then ``generate`` declarations in time order."""

    def __init__(self, seed: int = 7, *, importers: int = 200, declarants: int = 20,
                 offence_rate: float = 0.08, offence_mix: dict[str, float] | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.offence_rate = offence_rate
        mix = offence_mix or {"undervaluation": 0.4, "misclassification": 0.2, "false_origin": 0.2,
                              "quantity": 0.15, "prohibited": 0.05}
        total = sum(mix.values())
        self.offence_types = list(mix)
        self.offence_p = np.array([mix[k] / total for k in self.offence_types])
        self.importers = [self._enterprise(i, "importer") for i in range(importers)]
        self.declarants = [self._enterprise(i, "declarant") for i in range(declarants)]
        self._favourites = {e.code: self.rng.choice(len(CATALOGUE), size=3, replace=False) for e in self.importers}
        self._broker = {e.code: self.declarants[int(self.rng.integers(len(self.declarants)))].code
                        for e in self.importers}
        self._counter = 0

    def _code(self) -> str:
        chars = np.array(list(string.digits + string.ascii_uppercase))
        body = "".join(self.rng.choice(chars, size=9))
        return f"9131{int(self.rng.integers(0, 10000)):04d}{body}{int(self.rng.integers(0, 10))}"

    def _enterprise(self, i: int, role: str) -> SimulatedEnterprise:
        grade = str(self.rng.choice(GRADES, p=[0.08, 0.17, 0.7, 0.05])) if role == "importer" else "general"
        base = float(self.rng.beta(0.6, 8.0))  # mostly honest, a long tail of habitual offenders
        factor = {"advanced_certified": 0.3, "general_certified": 0.6, "general": 1.0, "discredited": 2.5}[grade]
        name = f"{'Importer' if role == 'importer' else 'Customs Broker'} {i + 1:03d} Co., Ltd."
        roles = ("importer",) if role == "importer" else ("declarant",)
        return SimulatedEnterprise(self._code(), name, roles, grade, min(0.9, base * factor))

    @property
    def enterprises(self) -> list[SimulatedEnterprise]:
        """All simulated enterprises: importers, then declarants."""
        return self.importers + self.declarants

    @property
    def mandates(self) -> list[tuple[str, str]]:
        """(declarant, importer): each importer's customs broker lodges in its name under a mandate."""
        return [(broker, importer) for importer, broker in self._broker.items()]

    def generate(self, n: int, start: datetime, end: datetime) -> list[SimulatedDeclaration]:
        """``n`` declarations with declared times spread over [start, end), in time order."""
        span = (end - start).total_seconds()
        offsets = np.sort(self.rng.uniform(0, span, size=n))
        weights = np.array([1.0 + 4.0 * self.rng.random() for _ in self.importers])
        picks = self.rng.choice(len(self.importers), size=n, p=weights / weights.sum())
        return [self._one(self.importers[int(k)], start + timedelta(seconds=float(s)))
                for k, s in zip(picks, offsets, strict=True)]

    def _one(self, imp: SimulatedEnterprise, at: datetime) -> SimulatedDeclaration:
        rng = self.rng
        self._counter += 1
        fav = self._favourites[imp.code]
        n_items = int(min(5, 1 + rng.poisson(0.4)))
        products = [CATALOGUE[int(rng.choice(fav))] if rng.random() < 0.8 else
                    CATALOGUE[int(rng.integers(len(CATALOGUE)))] for _ in range(n_items)]
        p_offend = min(0.95, self.offence_rate * 0.3 + imp.propensity)
        offence = None
        if rng.random() < p_offend:
            offence = self.offence_types[int(rng.choice(len(self.offence_types), p=self.offence_p))]
        origin = products[0].origins[int(rng.integers(len(products[0].origins)))]
        currency, per_usd = CURRENCY.get(origin, ("USD", 1.0))
        truth: dict = {}
        items = []
        for idx, prod in enumerate(products):
            hs, desc, item_origin = prod.hs_code, prod.description, origin if idx == 0 else \
                prod.origins[int(rng.integers(len(prod.origins)))]
            unit_price = prod.unit_price_usd * float(np.exp(rng.normal(0, prod.sigma))) * per_usd
            qty = float(max(1, round(float(rng.lognormal(np.log(200 if prod.unit == "035" else 40), 1.0)))))
            if prod.unit == "003":
                qty = float(rng.integers(1, 6))
            mass = qty * prod.kg_per_unit * float(rng.uniform(0.95, 1.05))
            if offence and idx == 0:
                if offence == "undervaluation":
                    truth["unit_price"] = unit_price
                    unit_price *= float(rng.uniform(0.25, 0.6))
                elif offence == "misclassification" and hs in MISCLASSIFY:
                    truth["hs_code"] = hs
                    hs, desc = MISCLASSIFY[hs]
                elif offence == "misclassification":
                    truth["unit_price"] = unit_price  # no neighbour to hide behind: undervalue instead
                    unit_price *= float(rng.uniform(0.3, 0.6))
                    offence = "undervaluation"
                elif offence == "false_origin":
                    truth["origin_country"] = item_origin
                    item_origin = str(rng.choice([c for c in FALSE_ORIGIN_COVER if c != item_origin]))
                elif offence == "quantity":
                    qty = max(qty, 2.0)
                    mass = qty * prod.kg_per_unit * float(rng.uniform(0.95, 1.05))
                    truth["quantity"] = qty
                    qty = float(min(qty - 1, max(1, int(qty * float(rng.uniform(0.5, 0.8))))))
                elif offence == "prohibited":
                    prod = PROHIBITED[int(rng.integers(len(PROHIBITED)))]
                    hs, desc = prod.hs_code, prod.description
                    unit_price = prod.unit_price_usd * per_usd
                    truth["prohibited"] = hs
            price = _money(unit_price, "0.0001")
            quantity = Decimal(int(qty))
            items.append({
                "hs_code": hs, "description": desc, "model_spec": "", "quantity": str(quantity),
                "unit": prod.unit, "net_mass_kg": str(_money(mass, "0.001")), "unit_price": str(price),
                "total_value": str((quantity * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
                "origin_country": item_origin,
            })
        total = sum(Decimal(i["total_value"]) for i in items)
        net = sum(Decimal(i["net_mass_kg"]) for i in items)
        incoterm = str(rng.choice(["CIF", "FOB", "CFR"], p=[0.5, 0.35, 0.15]))
        freight = _money(float(total) * float(rng.uniform(0.01, 0.06))) if incoterm != "CIF" else Decimal(0)
        payload = {
            "client_message_id": f"sim-{self._counter:08d}",
            "declarant_code": self._broker[imp.code], "importer_code": imp.code,
            "seller_name": f"Seller {int(rng.integers(1, 400)):03d} ({origin})",
            "trade_mode": "0110", "transport_mode": TRANSPORT.get(products[0].unit, "2"),
            "office_code": str(rng.choice(OFFICES)), "departure_country": origin if rng.random() < 0.85 else "SG",
            "origin_country": items[0]["origin_country"], "currency": currency, "incoterm": incoterm,
            "freight": str(freight), "insurance": None if rng.random() < 0.5 else str(_money(float(total) * 0.003)),
            "gross_mass_kg": str(_money(float(net) * 1.08, "0.001")), "net_mass_kg": str(net),
            "packages": max(1, len(items) * int(rng.integers(1, 40))), "total_value": str(total),
            "declared_at": at.isoformat(), "items": items,
        }
        critical = offence == "prohibited"
        return SimulatedDeclaration(payload, offence, critical, truth)
