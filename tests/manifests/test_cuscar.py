from smartcustoms.manifests import intake
from smartcustoms.manifests.schemas import FilingFunction, TransportMode
from smartcustoms.simulate.manifests import Cons, Item, cuscar


def parse(text):
    return list(intake.parse_stream(text.encode()))


def test_cuscar_in_an_interchange_with_ung_une_groups_reads_each_consignment():
    [(part, p)] = parse(cuscar([Cons(), Cons(doc="COSU2", house="HB1",
                                             items=[Item(description="LITHIUM BATTERIES", un="3480")])]))
    assert p.problems == [] and p.message_type == "CUSCAR" and part.data.startswith(b"UNH+M1+CUSCAR")
    m = p.manifest
    assert m.function is FilingFunction.ORIGINAL and m.conveyance.mode is TransportMode.WATER
    assert (m.conveyance.journey_id, m.conveyance.conveyance_id) == ("0123E", "9074729")
    first, house = m.consignments
    assert (first.transport_document_no, first.loading_place, first.discharge_place) == (
        "COSU6123456780", "NLRTM", "CNSHA")
    assert first.containers[0].number == "CSQU3054383" and first.items[0].hs_code == "610910"
    assert first.consignee.id == "USCI+91310000MA1FL8XQ37" and first.shipper.country == "NL"
    assert (house.transport_document_no, house.master_document_no) == ("HB1", "COSU2")
    assert house.items[0].un_number == "3480"


def test_interchanges_without_groups_read_the_same():
    [(_, p)] = parse(cuscar([Cons()], groups=False))
    assert p.manifest is not None


def test_bad_container_and_place_are_named_by_message_consignment_and_segment():
    text = cuscar([Cons(containers=["CSQU3054384"], loading="XXABC")])
    [(_, p)] = parse(text)
    fields = {e.field: e for e in p.problems}
    assert "ISO 6346" in fields["UNH[1]/CNI[1]/EQD"].message
    assert "ISO 3166" in fields["UNH[1]/CNI[1]/LOC"].message and fields["UNH[1]/CNI[1]/LOC"].line > 1


def test_a_broken_message_does_not_stop_the_next_one():
    good = cuscar([Cons()], reference="M2", document="MAN2")
    broken = cuscar([Cons()], reference="M1", document="MAN1").replace("UNT+", "UNX?")  # never closed
    parsed = parse(broken + good.removeprefix("UNA:+.? '"))
    assert [p.manifest is not None for _, p in parsed][-1] is True
    assert any(p.manifest is None for _, p in parsed)


def test_replacement_and_cancellation_functions():
    [(_, p)] = parse(cuscar([Cons()], function_code="5"))
    assert p.manifest.function is FilingFunction.AMENDMENT
    [(_, p)] = parse(cuscar([Cons()], function_code="1"))
    assert p.manifest.function is FilingFunction.WITHDRAWAL
    [(_, p)] = parse(cuscar([Cons()], function_code="7"))
    assert "UNH[1]/BGM" in {e.field for e in p.problems}


def test_a_goods_item_without_a_description_is_refused():
    [(_, p)] = parse(cuscar([Cons(items=[Item(description="")])]).replace("FTX+AAA+++'", ""))
    assert p.manifest is None and "FTX+AAA" in p.problems[0].message
