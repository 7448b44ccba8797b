"""GS1 element strings to scans and item keys: any text is a scan or a bad code, and generated
element strings give back the GTIN, serial, lot and expiry they were made of."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from ingest.epc import encode_sgtin96, item_key
from ingest.errors import InvalidInput
from ingest.gs1 import MAX_KEY_CHARS, Scan, parse_code, scan_key
from tests.unit.property.shared import (
    GS,
    ITEM_KEY_PREFIXES,
    SYMBOLOGY_IDS,
    Code,
    element_strings,
    gtins,
)

URI_ESCAPES = {c: f"%{ord(c):02X}" for c in '"%&/<>?'}
# Characters that make up element strings, to reach deeper into the parser than random text.
GS1_ALPHABET = "0123456789" + GS + "]CdQ1234" + "()/:%"
CODE_REASONS = {"bad_code", "oversized"}


def _check_scan(text: str) -> None:
    """What every code must give: a scan and a key, or a bad code with its reason."""
    try:
        scan = parse_code(text)
    except InvalidInput as error:
        assert error.reason in CODE_REASONS
        return
    assert scan.raw == text
    assert scan.gtin is not None or scan.sscc is not None
    try:
        key = scan_key(scan)
    except InvalidInput as error:
        assert error.reason == "bad_code"
        return
    assert key.startswith(ITEM_KEY_PREFIXES) and len(key) <= MAX_KEY_CHARS


@given(st.text())
@example("]")
@example("]C1")
@example("https://id.gs1.org/01/00614141000012/21/%")
@example("01" + "00614141000012" + "17" + "999999")
def test_any_text_is_a_scan_or_a_bad_code(text: str) -> None:
    _check_scan(text)


@given(st.text(GS1_ALPHABET, max_size=60))
def test_text_made_of_element_string_characters_is_a_scan_or_a_bad_code(text: str) -> None:
    _check_scan(text)


@given(st.binary(max_size=80))
def test_any_bytes_as_text_are_a_scan_or_a_bad_code(raw: bytes) -> None:
    _check_scan(raw.decode("latin-1"))
    _check_scan(raw.decode("utf-8", errors="replace"))


@given(element_strings(), st.integers(0, 80), st.text(max_size=3))
def test_element_strings_with_one_change_are_a_scan_or_a_bad_code(code: Code, at: int, change: str) -> None:
    _check_scan(code.text[:at] + change + code.text[at + 1 :])


@given(element_strings())
def test_element_strings_give_back_what_they_were_made_of(code: Code) -> None:
    scan = parse_code(code.text)

    assert scan == Scan(code.text, gtin=code.gtin, serial=code.serial, lot=code.lot, expiry=code.expiry)


def _escaped(value: str) -> str:
    return "".join(URI_ESCAPES.get(c, c) for c in value)


@given(element_strings(), st.integers(6, 12))
def test_a_serial_or_lot_names_the_item_with_or_without_a_known_company(code: Code, prefix: int) -> None:
    scan = parse_code(code.text)
    if code.serial is None and code.lot is None:
        try:
            scan_key(scan)
        except InvalidInput as error:
            assert error.reason == "bad_code"  # a GTIN alone names a product, not an item
            return
        raise AssertionError(f"{code.text!r}: a GTIN alone made a key")
    ai, value = ("21", code.serial) if code.serial is not None else ("10", code.lot)
    assert value is not None
    company, item_ref = code.gtin[1 : 1 + prefix], code.gtin[0] + code.gtin[1 + prefix : 13]
    kind = "urn:epc:id:sgtin:" if ai == "21" else "urn:epc:class:lgtin:"

    assert scan_key(scan) == f"gs1:01/{code.gtin}/{ai}/{_escaped(value)}"
    assert scan_key(scan, {code.gtin: prefix}) == f"{kind}{company}.{item_ref}.{_escaped(value)}"


@given(gtins(), st.integers(6, 12), st.integers(1, 2**38 - 1), st.sampled_from(SYMBOLOGY_IDS))
def test_a_barcode_and_a_tag_of_one_item_have_one_key(gtin: str, prefix: int, serial: int, sid: str) -> None:
    company, item_ref = gtin[1 : 1 + prefix], gtin[0] + gtin[1 + prefix : 13]
    scan = parse_code(f"{sid}01{gtin}21{serial}")

    assert scan_key(scan, {gtin: prefix}) == item_key(encode_sgtin96(company, item_ref, serial))
