"""Barcodes to item keys: GS1 element strings as scanners send them, and the keys they make
with and without a known company prefix (the EPC URI an RFID tag of the same item gives)."""

from __future__ import annotations

from datetime import date

import pytest
from epcpy.epc_schemes.sgtin import SGTIN
from epcpy.epc_schemes.sscc import SSCC

from ingest.epc import encode_sgtin96, gtin_of, item_key
from ingest.errors import InvalidInput
from ingest.gs1 import Scan, check_company_prefixes, company_prefix_length, parse_code, scan_key
from ingest.wire import ITEM_KEY_PREFIXES

GS = "\x1d"
PART = "00614141000012"  # company prefix 0614141, item reference 00001
PREFIXES = {PART: 7}


@pytest.mark.parametrize(
    ("code", "scan"),
    [
        pytest.param(
            "]C1" + "01" + PART + "21" + "12345",
            Scan("]C10100614141000012" + "2112345", gtin=PART, serial="12345"),
            id="GS1-128 GTIN and serial",
        ),
        pytest.param(
            "]C1" + "01" + PART + "21" + "A-7" + GS + "10" + "LOT1" + GS + "17" + "251231",
            Scan("", gtin=PART, serial="A-7", lot="LOT1", expiry=date(2025, 12, 31)),
            id="GS1-128 with GS after variable-length fields",
        ),
        pytest.param(
            "]d2" + "01" + PART + "17" + "260600" + "10" + "LOT42",
            Scan("", gtin=PART, lot="LOT42", expiry=date(2026, 6, 30)),
            id="GS1 DataMatrix lot and expiry, day 00 is the month's last",
        ),
        pytest.param("]Q3" + "01" + PART + "21" + "X1", Scan("", gtin=PART, serial="X1"), id="GS1 QR code"),
        pytest.param("01" + PART + "21" + "9", Scan("", gtin=PART, serial="9"), id="no symbology identifier"),
        pytest.param(
            "]C1" + "00" + "106141412345678908", Scan("", sscc="106141412345678908"), id="SSCC in AI 00"
        ),
        pytest.param("106141412345678908", Scan("", sscc="106141412345678908"), id="bare SSCC"),
        pytest.param("0614141000012", Scan("", gtin=PART), id="EAN-13"),
        pytest.param("]E00614141000012", Scan("", gtin=PART), id="EAN-13 with symbology identifier"),
        pytest.param(
            "https://id.gs1.org/01/" + PART + "/21/AB%2F1",
            Scan("", gtin=PART, serial="AB/1"),
            id="Digital Link",
        ),
        pytest.param(
            "]Q1https://id.gs1.org/01/" + PART + "/21/12345",
            Scan("", gtin=PART, serial="12345"),
            id="Digital Link in a plain QR code, AIM identifier on",
        ),
        pytest.param(
            "]d1https://id.gs1.org/01/" + PART + "/10/L7",
            Scan("", gtin=PART, lot="L7"),
            id="Digital Link in a plain Data Matrix",
        ),
        pytest.param(
            "]Q3https://example.com/01/" + PART + "/21/X1?17=261231",
            Scan("", gtin=PART, serial="X1", expiry=date(2026, 12, 31)),
            id="Digital Link in a GS1 QR code, expiry in the query",
        ),
        pytest.param(
            "HTTPS://example.com/shop/00/106141412345678908",
            Scan("", sscc="106141412345678908"),
            id="Digital Link of an SSCC after a path stem",
        ),
        pytest.param(
            "https://example.com/gtin/" + PART + "/lot/L1/ser/S9",
            Scan("", gtin=PART, serial="S9", lot="L1"),
            id="Digital Link 1.1 convenience alphas",
        ),
        pytest.param(
            "(01)" + PART + "(21)A/7(10)L1",
            Scan("", gtin=PART, serial="A/7", lot="L1"),
            id="human-readable form, as keyed or sent by a handheld app",
        ),
        pytest.param(
            "(00)106141412345678908",
            Scan("", sscc="106141412345678908"),
            id="human-readable SSCC",
        ),
        pytest.param(
            "(01)" + PART + "(235)XYZ(17)261231(10)B7",
            Scan("", gtin=PART, lot="B7", expiry=date(2026, 12, 31)),
            id="human-readable with AIs linetrace does not use",
        ),
        pytest.param(
            "]J1" + "01" + PART + "21" + "S5",
            Scan("", gtin=PART, serial="S5"),
            id="GS1 DotCode",
        ),
    ],
)
def test_codes_as_scanners_send_them(code: str, scan: Scan) -> None:
    parsed = parse_code(code)
    assert parsed.raw == code
    assert (parsed.gtin, parsed.serial, parsed.lot, parsed.expiry, parsed.sscc) == (
        scan.gtin,
        scan.serial,
        scan.lot,
        scan.expiry,
        scan.sscc,
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        pytest.param("hello", "bad_code", id="not a GS1 code"),
        pytest.param("", "bad_code", id="empty"),
        pytest.param("   ", "bad_code", id="blank"),
        pytest.param("]", "bad_code", id="a bare symbology flag"),
        pytest.param("]C1", "bad_code", id="symbology identifier only"),
        pytest.param("0100614141000013" + "211", "bad_code", id="GTIN check digit wrong"),
        pytest.param("01" + PART + "17" + "999999", "bad_code", id="impossible expiry"),
        pytest.param("00" + "106141412345678907", "bad_code", id="SSCC check digit wrong"),
        pytest.param("10" + "LOT1", "bad_code", id="lot without GTIN"),
        pytest.param("01" + PART + " 21X", "bad_code", id="space instead of GS"),
        pytest.param("01" + PART + "21" + "9" * 2000, "oversized", id="absurdly long"),
        pytest.param("]Q1https://example.com/products/42", "bad_code", id="a URI that is no Digital Link"),
        pytest.param("(01)" + PART + "1(10)L", "bad_code", id="human-readable, fixed-length AI too long"),
        pytest.param("(01)00614141000013(21)1", "bad_code", id="human-readable, bad check digit"),
        pytest.param("(10)LOT1", "bad_code", id="human-readable lot without GTIN"),
        pytest.param("(01" + PART, "bad_code", id="human-readable, bracket not closed"),
        pytest.param(
            "]Q1https://id.gs1.org/01/00614141000013/21/1", "bad_code", id="Digital Link, bad check digit"
        ),
        pytest.param("]d1https://id.gs1.org/414/0614141000012", "bad_code", id="Digital Link of a GLN"),
    ],
)
def test_codes_that_say_nothing_usable_are_bad_codes(code: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_code(code)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("code", "known", "unknown"),
    [
        pytest.param(
            "]C1" + "01" + PART + "21" + "1",
            "urn:epc:id:sgtin:0614141.000001.1",
            "gs1:01/00614141000012/21/1",
            id="SGTIN",
        ),
        pytest.param(
            "]C1" + "01" + "10614141000019" + "21" + "77",
            "urn:epc:id:sgtin:0614141.100001.77",
            "gs1:01/10614141000019/21/77",
            id="SGTIN of another GTIN of the company, indicator 1",
        ),
        pytest.param(
            "]d2" + "01" + PART + "10" + "COIL-7",
            "urn:epc:class:lgtin:0614141.000001.COIL-7",
            "gs1:01/00614141000012/10/COIL-7",
            id="LGTIN",
        ),
        pytest.param(
            "]C1" + "01" + PART + "21" + "S1" + GS + "10" + "L1",
            "urn:epc:id:sgtin:0614141.000001.S1",
            "gs1:01/00614141000012/21/S1",
            id="serial and lot: the serial names the item",
        ),
        pytest.param(
            "]C1" + "00" + "106141412345678908",
            "urn:epc:id:sscc:0614141.1234567890",
            "gs1:00/106141412345678908",
            id="SSCC",
        ),
        pytest.param(
            "]C1" + "01" + PART + "21" + 'A/B"%&<>?',
            "urn:epc:id:sgtin:0614141.000001.A%2FB%22%25%26%3C%3E%3F",
            "gs1:01/00614141000012/21/A%2FB%22%25%26%3C%3E%3F",
            id="URI characters of the serial escaped",
        ),
    ],
)
def test_keys_with_and_without_a_known_company_prefix(code: str, known: str, unknown: str) -> None:
    scan = parse_code(code)
    assert scan_key(scan, PREFIXES) == known
    assert scan_key(scan) == unknown
    assert known.startswith(ITEM_KEY_PREFIXES) and unknown.startswith(ITEM_KEY_PREFIXES)


def test_a_scanned_item_and_its_rfid_tag_have_one_key() -> None:
    tag = item_key(encode_sgtin96("0614141", "000001", 4711))
    scanned = scan_key(parse_code("]C1" + "01" + PART + "21" + "4711"), PREFIXES)
    assert scanned == tag
    assert gtin_of(scanned) == PART


@pytest.mark.parametrize(
    ("element_string", "key"),
    [
        pytest.param("(01)00614141000012(21)A/1", "]C1" + "01" + PART + "21" + "A/1", id="sgtin"),
        pytest.param("(00)106141412345678908", "]C1" + "00" + "106141412345678908", id="sscc"),
    ],
)
def test_keys_agree_with_epcpy(element_string: str, key: str) -> None:
    scheme = SGTIN if element_string.startswith("(01)") else SSCC
    expected = scheme.from_gs1_element_string(element_string, 7).epc_uri
    assert scan_key(parse_code(key), PREFIXES) == expected


def test_a_gtin_alone_names_no_item() -> None:
    with pytest.raises(InvalidInput) as caught:
        scan_key(parse_code("0614141000012"), PREFIXES)
    assert caught.value.reason == "bad_code"
    assert "GTIN 00614141000012 alone" in caught.value.detail


def test_a_scan_with_nothing_is_a_bad_code() -> None:
    with pytest.raises(InvalidInput, match="bad_code"):
        scan_key(Scan("x"))


def test_company_prefix_length_is_checked_against_the_gtin() -> None:
    assert company_prefix_length(PART, "0614141") == 7
    with pytest.raises(ValueError, match="does not carry"):
        company_prefix_length(PART, "0614142")
    with pytest.raises(ValueError, match="6 to 12 digits"):
        company_prefix_length(PART, "06141")
    check_company_prefixes(PREFIXES)
    with pytest.raises(ValueError):
        check_company_prefixes({PART: 13})
    with pytest.raises(ValueError):
        check_company_prefixes({"614141000012": 7})
