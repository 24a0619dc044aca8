import pytest

from smartcustoms.manifests import codes


@pytest.mark.parametrize("number,ok", [("CSQU3054383", True), ("CSQU3054384", False), ("CSQ3054383", False)])
def test_container_numbers_are_checked_by_their_iso_6346_check_digit(number, ok):
    assert (codes.container_problem(number) is None) is ok


@pytest.mark.parametrize("number,ok", [("UN9074729", True), ("9074729", True), ("UN9074728", False)])
def test_imo_ship_numbers_are_checked_by_their_check_digit(number, ok):
    assert (codes.imo_problem(number) is None) is ok


@pytest.mark.parametrize("number,ok", [("176-12345675", True), ("17612345675", True), ("176-12345670", False),
                                       ("176-1234567", False)])
def test_air_waybill_serial_mod_7_equals_its_check_digit(number, ok):
    assert (codes.awb_problem(number) is None) is ok


def test_air_waybill_refusal_names_the_expected_check_digit():
    assert "should be 5" in codes.awb_problem("176-12345670")


@pytest.mark.parametrize("code,ok", [("CNSHA", True), ("NLRTM", True), ("XXABC", False), ("CNSH", False),
                                     ("CNSH1", False)])
def test_un_locode_is_a_country_and_three_letters_or_digits_2_to_9(code, ok):
    assert (codes.locode_problem(code) is None) is ok


def test_usci_party_ids_are_checked_as_unified_social_credit_codes_other_schemes_kept():
    assert codes.party_id_problem("USCI+91310000MA1FL8XQ37") is None
    assert "unified social credit code" in codes.party_id_problem("USCI+91310000MA1FL8XQ3A")
    assert codes.party_id_problem("AEO+DE1234567") is None


def test_un_numbers_are_four_digits_with_or_without_the_un_prefix():
    assert codes.un_number("UN1203") == "1203" and codes.un_number("3480") == "3480"
    assert codes.un_number("0000") is None and codes.un_number("12") is None
