"""China customs code tables and their ISO mapping; both forms are accepted on input."""

from __future__ import annotations

import pycountry

from smartcustoms.codes import china


def test_customs_country_codes_map_to_iso_and_back():
    assert china.country_iso("116") == "JP" and china.country_iso("142") == "CN" and china.country_iso("502") == "US"
    assert china.country_customs("JP") == china.country_customs("jpn") == china.country_customs("116") == "116"
    assert china.country_customs("ZZ") is None and china.country_iso("199") is None  # other Asia: no ISO code


def test_every_iso_mapping_is_a_real_iso_country():
    for entry in china.countries().values():
        if entry.iso:
            assert pycountry.countries.get(alpha_2=entry.iso) is not None, entry
    isos = [e.iso for e in china.countries().values() if e.iso]
    assert len(isos) == len(set(isos)) and len(isos) > 200


def test_currencies_units_transport_modes_and_id_types():
    assert china.currency_customs("CNY") == "142" and china.currency_iso("110") == "HKD"
    assert china.currency_iso("502") == "USD" and china.currency_iso("300") == "EUR"
    assert china.unit_customs("7") == "007" and china.units()["035"].name_zh == "千克"
    assert china.transport_mode_customs("5") == "5" and china.transport_mode_customs("air") == "5"
    assert china.transport_modes()["2"].iso == "1"  # waterway -> UN/ECE Rec. 19 maritime
    assert china.id_type_valid("1") and not china.id_type_valid("9")
