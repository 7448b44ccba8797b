"""EPC hex to item keys: any text gives a key, valid 96-bit EPCs give their pure identity."""

from __future__ import annotations

from dataclasses import dataclass

from epcpy.utils.parsers import hex_to_tag_encodable
from hypothesis import example, given
from hypothesis import strategies as st

from ingest.epc import (
    decode_giai96,
    decode_grai96,
    decode_sgln96,
    decode_sgtin96,
    decode_sscc96,
    encode_sgtin96,
    gs1_check_digit,
    gtin_of,
    item_key,
)
from tests.unit.property.shared import HEX

# Company prefix bits of partitions 0-6, the same in every 96-bit scheme (TDS §14.5).
COMPANY_BITS = (40, 37, 34, 30, 27, 24, 20)


@dataclass(frozen=True)
class Layout:
    """One scheme's 96-bit layout as the TDS tables write it, kept apart from ingest.epc's."""

    name: str
    header: int
    tail_bits: int
    ref_bits: tuple[int, ...]
    ref_digits: tuple[int, ...]  # empty for GIAI, whose reference is a plain number


LAYOUTS = {
    "sgtin": Layout("sgtin", 0x30, 38, (4, 7, 10, 14, 17, 20, 24), (1, 2, 3, 4, 5, 6, 7)),
    "sscc": Layout("sscc", 0x31, 24, (18, 21, 24, 28, 31, 34, 38), (5, 6, 7, 8, 9, 10, 11)),
    "sgln": Layout("sgln", 0x32, 41, (1, 4, 7, 11, 14, 17, 21), (0, 1, 2, 3, 4, 5, 6)),
    "grai": Layout("grai", 0x33, 38, (4, 7, 10, 14, 17, 20, 24), (0, 1, 2, 3, 4, 5, 6)),
    "giai": Layout("giai", 0x34, 0, (42, 45, 48, 52, 55, 58, 62), ()),
}
DECODERS = (decode_sgtin96, decode_sscc96, decode_sgln96, decode_grai96, decode_giai96)


def layout_epc(layout: Layout, filter_value: int, partition: int, company: int, ref: int, tail: int) -> str:
    value = (layout.header << 88) | (filter_value << 85) | (partition << 82)
    value |= company << (layout.tail_bits + layout.ref_bits[partition])
    return f"{value | (ref << layout.tail_bits) | tail:024X}"


@st.composite
def valid_epcs(draw: st.DrawFn) -> tuple[str, str]:
    """A valid 96-bit EPC of one of the five schemes and the pure identity it stands for."""
    layout = draw(st.sampled_from(list(LAYOUTS.values())))
    partition = draw(st.integers(0, 6))
    company_digits = 12 - partition
    company = draw(st.integers(0, 10**company_digits - 1))
    prefix = f"{company:0{company_digits}d}"
    filter_value = draw(st.integers(0, 7))
    if layout.name == "giai":
        ref = draw(st.integers(0, 2 ** layout.ref_bits[partition] - 1))
        return layout_epc(layout, filter_value, partition, company, ref, 0), f"urn:epc:id:giai:{prefix}.{ref}"
    digits = layout.ref_digits[partition]
    ref = draw(st.integers(0, 10**digits - 1))
    reference = f"{ref:0{digits}d}" if digits else ""
    if layout.name == "sscc":
        uri = f"urn:epc:id:sscc:{prefix}.{reference}"
        return layout_epc(layout, filter_value, partition, company, ref, 0), uri
    tail = draw(st.integers(0, 2**layout.tail_bits - 1))
    uri = f"urn:epc:id:{layout.name}:{prefix}.{reference}.{tail}"
    return layout_epc(layout, filter_value, partition, company, ref, tail), uri


@st.composite
def any_96_bits(draw: st.DrawFn) -> str:
    """96 bits with a header of the five schemes and every field filled at random, in range or not."""
    layout = draw(st.sampled_from(list(LAYOUTS.values())))
    partition = draw(st.integers(0, 7))
    ref_bits = layout.ref_bits[min(partition, 6)]
    company_bits = 82 - layout.tail_bits - ref_bits
    value = (layout.header << 88) | (draw(st.integers(0, 7)) << 85) | (partition << 82)
    value |= draw(st.integers(0, 2**company_bits - 1)) << (layout.tail_bits + ref_bits)
    value |= draw(st.integers(0, 2**ref_bits - 1)) << layout.tail_bits
    return f"{value | draw(st.integers(0, 2**layout.tail_bits - 1)):024X}"


KEY_PREFIXES = (*(f"urn:epc:id:{name}:" for name in LAYOUTS), "hex:")


@given(st.text())
@example("3074_57BF7194E4000001A85")
@example("3074257BF7194E4000001A8\uff15")
@example(" 3074257bf7194e4000001a85\n")
@example("0X74257BF7194E4000001A85")
def test_any_text_gives_an_item_key(epc: str) -> None:
    key = item_key(epc)

    assert key.startswith(KEY_PREFIXES)
    if key.startswith("hex:"):
        assert key == "hex:" + epc.strip().upper()


@given(st.text(HEX, max_size=40))
def test_hex_of_any_length_and_case_gives_the_same_key_in_either_case(epc: str) -> None:
    key = item_key(epc)

    assert key.startswith(KEY_PREFIXES)
    assert item_key(epc.lower()) == item_key(epc.upper()) == key
    assert not key.startswith("urn:") or len(epc) == 24


@given(valid_epcs())
def test_a_valid_epc_decodes_to_its_pure_identity_as_epcpy_does(case: tuple[str, str]) -> None:
    epc, uri = case

    assert item_key(epc) == uri
    assert item_key(epc.lower()) == uri
    assert str(hex_to_tag_encodable(epc).epc_uri) == uri


@given(any_96_bits())
def test_any_96_bits_of_a_known_scheme_decode_as_epcpy_does_or_stay_hex(epc: str) -> None:
    key = item_key(epc)

    if key.startswith("hex:"):
        assert key == "hex:" + epc
    else:
        assert str(hex_to_tag_encodable(epc).epc_uri) == key


@given(st.integers(min_value=-(2**100), max_value=2**100))
def test_the_decoders_take_any_integer_or_raise_value_error(value: int) -> None:
    for decode in DECODERS:
        try:
            uri = decode(value)
        except ValueError:
            continue
        assert uri.startswith("urn:epc:id:")


@given(st.text())
@example("gs1:01/0061414100001")
@example("urn:epc:id:sgtin:0614141.81234\uff15.1")
def test_gtin_of_any_text_is_none_or_a_gtin(key: str) -> None:
    gtin = gtin_of(key)

    assert gtin is None or (len(gtin) == 14 and gtin.isascii() and gtin.isdigit())
    if gtin is not None:
        assert gs1_check_digit(gtin[:13]) == int(gtin[13])


@given(st.integers(6, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, 10**13 - 1))))
def test_the_gtin_of_a_tag_is_the_gtin_its_fields_spell(case: tuple[int, int]) -> None:
    company_digits, body_number = case
    body = f"{body_number:013d}"
    # The indicator digit leads the GTIN body and the item reference alike.
    company, item_ref = body[1 : 1 + company_digits], body[0] + body[1 + company_digits :]
    key = item_key(encode_sgtin96(company, item_ref, 1))

    assert gtin_of(key) == body + str(gs1_check_digit(body))
