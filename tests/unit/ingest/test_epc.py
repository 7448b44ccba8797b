from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import pytest
from epcpy.epc_schemes.giai import GIAI, GIAIFilterValue
from epcpy.epc_schemes.grai import GRAI, GRAIFilterValue
from epcpy.epc_schemes.sgln import SGLN, SGLNFilterValue
from epcpy.epc_schemes.sgtin import SGTIN, SGTINFilterValue
from epcpy.epc_schemes.sscc import SSCC, SSCCFilterValue
from epcpy.utils.parsers import hex_to_tag_encodable

from ingest.epc import (
    decode_giai96,
    decode_grai96,
    decode_sgln96,
    decode_sgtin96,
    decode_sscc96,
    encode_giai96,
    encode_grai96,
    encode_sgln96,
    encode_sgtin96,
    encode_sscc96,
    gs1_check_digit,
    gtin_of,
    item_key,
)

MAX_38 = (1 << 38) - 1  # SGTIN-96 and GRAI-96 serials
MAX_41 = (1 << 41) - 1  # SGLN-96 extension


def _sgtin_bits(
    filter_value: int, partition: int, cp_bits: int, company: int, item_ref: int, serial: int
) -> str:
    """Hex of an SGTIN-96 laid out by hand, for fields the encoder refuses to produce."""
    value = (0x30 << 88) | (filter_value << 85) | (partition << 82) | (company << (82 - cp_bits))
    return f"{value | (item_ref << 38) | serial:024X}"


def _bits(
    header: int, partition: int, company: int, ref: int, tail: int, *, ref_bits: int, tail_bits: int
) -> str:
    """Hex of any of the five 96-bit schemes laid out by hand (filter 0)."""
    value = (header << 88) | (partition << 82) | (company << (tail_bits + ref_bits)) | (ref << tail_bits)
    return f"{value | tail:024X}"


@pytest.mark.parametrize(
    ("epc", "key", "gtin"),
    [
        pytest.param(
            "3074257BF7194E4000001A85",
            "urn:epc:id:sgtin:0614141.812345.6789",
            "80614141123458",
            id="TDS example",
        ),
        pytest.param(
            "3074257bf7194e4000001a85",
            "urn:epc:id:sgtin:0614141.812345.6789",
            "80614141123458",
            id="TDS example in lower case",
        ),
        pytest.param(
            " 3074257BF7194E4000001A85\n",
            "urn:epc:id:sgtin:0614141.812345.6789",
            "80614141123458",
            id="TDS example with spaces around",
        ),
        pytest.param(
            "3034257BF400000000000001",
            "urn:epc:id:sgtin:0614141.000000.1",
            "00614141000005",
            id="filter 1, item reference zero keeps its digits",
        ),
    ],
)
def test_sgtin96_decodes_to_pure_identity_uri_and_gtin(epc: str, key: str, gtin: str) -> None:
    assert item_key(epc) == key
    assert gtin_of(key) == gtin


# (scheme, encoder arguments, the pure identity written by hand). Partitions 0 and 6, the
# largest serials and every filter value appear in each scheme's rows.
VECTORS = [
    pytest.param(
        "sgtin", ("0614141", "812345", 6789, 3), "urn:epc:id:sgtin:0614141.812345.6789", id="sgtin p5"
    ),
    pytest.param(
        "sgtin",
        ("999999999999", "9", MAX_38, 7),
        "urn:epc:id:sgtin:999999999999.9.274877906943",
        id="sgtin p0 largest, filter 7",
    ),
    pytest.param(
        "sgtin", ("000001", "0000000", 0, 0), "urn:epc:id:sgtin:000001.0000000.0", id="sgtin p6 zeros"
    ),
    pytest.param(
        "sgtin",
        ("999999", "9999999", MAX_38, 1),
        "urn:epc:id:sgtin:999999.9999999.274877906943",
        id="sgtin p6 largest",
    ),
    pytest.param("sgtin", ("123456789", "0001", 42, 2), "urn:epc:id:sgtin:123456789.0001.42", id="sgtin p3"),
    pytest.param("sscc", ("0614141", "1234567890", 3), "urn:epc:id:sscc:0614141.1234567890", id="sscc p5"),
    pytest.param(
        "sscc", ("999999999999", "99999", 7), "urn:epc:id:sscc:999999999999.99999", id="sscc p0 largest"
    ),
    pytest.param(
        "sscc", ("000000000001", "00000", 0), "urn:epc:id:sscc:000000000001.00000", id="sscc p0 zeros"
    ),
    pytest.param(
        "sscc", ("123456", "99999999999", 6), "urn:epc:id:sscc:123456.99999999999", id="sscc p6 unit load"
    ),
    pytest.param(
        "sscc", ("12345678", "000000001", 2), "urn:epc:id:sscc:12345678.000000001", id="sscc p4 case"
    ),
    pytest.param("sgln", ("0614141", "12345", 400, 3), "urn:epc:id:sgln:0614141.12345.400", id="sgln p5"),
    pytest.param(
        "sgln", ("061414112345", "", 0, 0), "urn:epc:id:sgln:061414112345..0", id="sgln p0, no extension"
    ),
    pytest.param(
        "sgln",
        ("999999999999", "", MAX_41, 7),
        "urn:epc:id:sgln:999999999999..2199023255551",
        id="sgln p0 largest extension",
    ),
    pytest.param("sgln", ("123456", "999999", 1, 1), "urn:epc:id:sgln:123456.999999.1", id="sgln p6"),
    pytest.param("sgln", ("000000", "000000", 0, 2), "urn:epc:id:sgln:000000.000000.0", id="sgln p6 zeros"),
    pytest.param("grai", ("0614141", "12345", 400, 3), "urn:epc:id:grai:0614141.12345.400", id="grai p5"),
    pytest.param("grai", ("061414112345", "", 0, 0), "urn:epc:id:grai:061414112345..0", id="grai p0"),
    pytest.param(
        "grai",
        ("999999999999", "", MAX_38, 7),
        "urn:epc:id:grai:999999999999..274877906943",
        id="grai p0 largest serial",
    ),
    pytest.param(
        "grai",
        ("123456", "999999", MAX_38, 1),
        "urn:epc:id:grai:123456.999999.274877906943",
        id="grai p6 largest",
    ),
    pytest.param("grai", ("0614141234", "01", 5, 2), "urn:epc:id:grai:0614141234.01.5", id="grai p2"),
    pytest.param("giai", ("0614141", 5678, 3), "urn:epc:id:giai:0614141.5678", id="giai p5"),
    pytest.param(
        "giai",
        ("999999999999", (1 << 42) - 1, 7),
        "urn:epc:id:giai:999999999999.4398046511103",
        id="giai p0 largest",
    ),
    pytest.param("giai", ("000000000001", 0, 0), "urn:epc:id:giai:000000000001.0", id="giai p0 zero"),
    pytest.param(
        "giai",
        ("061414", (1 << 62) - 1, 1),
        "urn:epc:id:giai:061414.4611686018427387903",
        id="giai p6 largest",
    ),
    pytest.param("giai", ("123456789", 1, 2), "urn:epc:id:giai:123456789.1", id="giai p3"),
]

ENCODERS: dict[str, Callable[..., str]] = {
    "sgtin": encode_sgtin96,
    "sscc": encode_sscc96,
    "sgln": encode_sgln96,
    "grai": encode_grai96,
    "giai": encode_giai96,
}
DECODERS: dict[str, Callable[[int], str]] = {
    "sgtin": decode_sgtin96,
    "sscc": decode_sscc96,
    "sgln": decode_sgln96,
    "grai": decode_grai96,
    "giai": decode_giai96,
}
_EPCPY: dict[str, tuple[Any, type[Enum]]] = {
    "sgtin": (SGTIN, SGTINFilterValue),
    "sscc": (SSCC, SSCCFilterValue),
    "sgln": (SGLN, SGLNFilterValue),
    "grai": (GRAI, GRAIFilterValue),
    "giai": (GIAI, GIAIFilterValue),
}


def _epcpy_hex(scheme: str, uri: str, filter_value: int) -> str:
    """The 96-bit EPC epcpy encodes for a pure identity and filter value."""
    cls, filters = _EPCPY[scheme]
    coding = next(iter(cls.BinaryCodingScheme))  # the 96-bit coding comes first in each
    assert coding.value.endswith("-96")
    return str(cls(uri).hex(filter_value=filters(str(filter_value)), binary_coding_scheme=coding))


def _epcpy_uri(epc: str) -> str:
    return str(hex_to_tag_encodable(epc).epc_uri)


@pytest.mark.parametrize(("scheme", "fields", "uri"), VECTORS)
def test_each_scheme_decodes_as_written_and_as_epcpy_does(
    scheme: str, fields: tuple[Any, ...], uri: str
) -> None:
    epc = ENCODERS[scheme](*fields)

    assert len(epc) == 24
    assert item_key(epc) == uri
    assert item_key(epc.lower()) == uri
    assert DECODERS[scheme](int(epc, 16)) == uri
    assert _epcpy_uri(epc) == uri
    assert _epcpy_hex(scheme, uri, fields[-1]) == epc


@pytest.mark.parametrize(
    ("epc", "uri"),
    [
        pytest.param("3174257BF4499602D2000000", "urn:epc:id:sscc:0614141.1234567890", id="sscc"),
        pytest.param("3274257BF460720000000190", "urn:epc:id:sgln:0614141.12345.400", id="sgln"),
        pytest.param("3260393243F1640000000000", "urn:epc:id:sgln:061414112345..0", id="sgln p0"),
        pytest.param("3374257BF40C0E4000000190", "urn:epc:id:grai:0614141.12345.400", id="grai"),
        pytest.param("3474257BF40000000000162E", "urn:epc:id:giai:0614141.5678", id="giai"),
    ],
)
def test_tags_written_by_hand_decode(epc: str, uri: str) -> None:
    assert item_key(epc) == uri
    assert gtin_of(item_key(epc)) is None


def _random_fields(scheme: str, rng: random.Random) -> tuple[tuple[Any, ...], str]:
    """Encoder arguments over every partition and filter, and the pure identity they make."""
    cp_digits = rng.randint(6, 12)
    company = f"{rng.randrange(10**cp_digits):0{cp_digits}d}"
    filter_value = rng.randrange(8)
    if scheme == "giai":
        asset = rng.randrange(1 << (82 - [40, 37, 34, 30, 27, 24, 20][12 - cp_digits]))
        return (company, asset, filter_value), f"urn:epc:id:giai:{company}.{asset}"
    ref_digits = {"sgtin": 13, "sscc": 17, "sgln": 12, "grai": 12}[scheme] - cp_digits
    ref = f"{rng.randrange(10**ref_digits):0{ref_digits}d}" if ref_digits else ""
    if scheme == "sscc":
        return (company, ref, filter_value), f"urn:epc:id:sscc:{company}.{ref}"
    tail = rng.randrange(1 << (41 if scheme == "sgln" else 38))
    return (company, ref, tail, filter_value), f"urn:epc:id:{scheme}:{company}.{ref}.{tail}"


@pytest.mark.parametrize("scheme", list(ENCODERS))
def test_encode_then_decode_round_trips_and_agrees_with_epcpy(scheme: str) -> None:
    rng = random.Random(f"round trip {scheme}")
    for _ in range(300):
        fields, uri = _random_fields(scheme, rng)
        epc = ENCODERS[scheme](*fields)

        assert item_key(epc) == uri, fields
        assert _epcpy_uri(epc) == uri, fields


@pytest.mark.parametrize(
    "epc",
    [
        pytest.param("E2801160600002054CC2096F", id="TID, not an EPC"),
        pytest.param("3574257BF7194E4000001A85", id="GID-96 header"),
        pytest.param("3674257BF7194E4000001A85", id="SGTIN-198 header on 96 bits"),
        pytest.param("0074257BF7194E4000001A85", id="unprogrammed header"),
        pytest.param("E280116060000205", id="short"),
        pytest.param("3074257BF7194E4000001A", id="SGTIN header, too short"),
        pytest.param("3074257BF7194E4000001A8", id="odd length"),
        pytest.param("3074257BF7194E4000001A8500", id="SGTIN header, too long"),
        pytest.param("3074257BF7194E4000001A85000000000000000000", id="SGTIN in a 160-bit EPC"),
        pytest.param("30ZZ257BF7194E4000001A85", id="not hex at all"),
        pytest.param("3074_57BF7194E4000001A85", id="underscore, which int() would accept"),
        pytest.param("3074257BF7194E4000001A8\uff15", id="full-width digit, which int() would accept"),
        pytest.param("", id="empty"),
        pytest.param("307C257BF7194E4000001A85", id="sgtin partition 7"),
        pytest.param(_bits(0x31, 7, 614141, 1, 0, ref_bits=34, tail_bits=24), id="sscc partition 7"),
        pytest.param(_bits(0x32, 7, 614141, 1, 0, ref_bits=17, tail_bits=41), id="sgln partition 7"),
        pytest.param(_bits(0x33, 7, 614141, 1, 0, ref_bits=20, tail_bits=38), id="grai partition 7"),
        pytest.param(_bits(0x34, 7, 614141, 1, 0, ref_bits=58, tail_bits=0), id="giai partition 7"),
        pytest.param(
            _sgtin_bits(1, 6, 20, 1_000_000, 1, 1), id="sgtin company prefix longer than its partition allows"
        ),
        pytest.param(
            _sgtin_bits(1, 0, 40, 614141, 10, 1), id="sgtin item reference longer than its partition allows"
        ),
        pytest.param(
            _bits(0x31, 0, 614141, 100_000, 0, ref_bits=18, tail_bits=24), id="sscc p0 serial of 6 digits"
        ),
        pytest.param(
            _bits(0x31, 5, 614141, 1234567890, 1, ref_bits=34, tail_bits=24), id="sscc reserved bit set"
        ),
        pytest.param(
            _bits(0x32, 0, 61414112345, 1, 0, ref_bits=1, tail_bits=41), id="sgln p0 location ref not 0"
        ),
        pytest.param(
            _bits(0x32, 6, 123456, 1_000_000, 0, ref_bits=21, tail_bits=41), id="sgln p6 location of 7"
        ),
        pytest.param(
            _bits(0x32, 6, 1_000_000, 1, 0, ref_bits=21, tail_bits=41), id="sgln p6 prefix of 7 digits"
        ),
        pytest.param(
            _bits(0x33, 0, 61414112345, 1, 0, ref_bits=4, tail_bits=38), id="grai p0 asset type not 0"
        ),
        pytest.param(
            _bits(0x33, 1, 6141411234, 10, 0, ref_bits=7, tail_bits=38), id="grai p1 asset type of 2"
        ),
        pytest.param(
            _bits(0x34, 0, 10**12, 5, 0, ref_bits=42, tail_bits=0), id="giai p0 prefix of 13 digits"
        ),
    ],
)
def test_anything_but_a_valid_epc_of_the_five_schemes_is_kept_as_hex(epc: str) -> None:
    key = item_key(epc)

    assert key == "hex:" + epc.strip().upper()
    assert gtin_of(key) is None


@pytest.mark.parametrize("value", [-1, 0, 1 << 96, (0x30 << 88) | (7 << 82)])
def test_decoders_refuse_integers_that_are_not_their_scheme(value: int) -> None:
    for decode in DECODERS.values():
        with pytest.raises(ValueError):
            decode(value)


def _partition_cases() -> Sequence[object]:
    cases = []
    for partition in range(7):
        cp_digits = 12 - partition
        ir_digits = 13 - cp_digits
        cases.append(
            pytest.param(
                "0" * (cp_digits - 1) + "1",
                "0" * ir_digits,
                0,
                id=f"partition {partition}, smallest values",
            )
        )
        cases.append(
            pytest.param(
                "9" * cp_digits, "9" * ir_digits, (1 << 38) - 1, id=f"partition {partition}, largest"
            )
        )
    return cases


@pytest.mark.parametrize(("company", "item_ref", "serial"), _partition_cases())
@pytest.mark.parametrize("filter_value", [pytest.param(0, id="filter 0"), pytest.param(7, id="filter 7")])
def test_encode_then_decode_gives_the_same_sgtin(
    company: str, item_ref: str, serial: int, filter_value: int
) -> None:
    epc = encode_sgtin96(company, item_ref, serial, filter_value)

    assert len(epc) == 24
    assert item_key(epc) == f"urn:epc:id:sgtin:{company}.{item_ref}.{serial}"
    gtin = gtin_of(item_key(epc))
    assert gtin is not None
    assert gtin[:13] == item_ref[0] + company + item_ref[1:]
    assert gs1_check_digit(gtin[:13]) == int(gtin[13])


@pytest.mark.parametrize(
    ("company", "item_ref", "serial"),
    [
        pytest.param("0614141", "12345", 1, id="item reference one digit short"),
        pytest.param("0614141", "1234567", 1, id="item reference one digit long"),
        pytest.param("0614141", "812345", 1 << 38, id="serial beyond 38 bits"),
    ],
)
def test_encode_refuses_fields_that_do_not_fit(company: str, item_ref: str, serial: int) -> None:
    with pytest.raises(ValueError):
        encode_sgtin96(company, item_ref, serial)


@pytest.mark.parametrize(
    ("scheme", "fields"),
    [
        pytest.param("sgtin", ("0614141", "812345", -1), id="sgtin negative serial"),
        pytest.param("sgtin", ("06141", "81234567", 1), id="sgtin prefix of 5 digits"),
        pytest.param("sgtin", ("0614141", "81234A", 1), id="sgtin item reference not digits"),
        pytest.param("sgtin", ("0614141", "812345", 1, 8), id="sgtin filter 8"),
        pytest.param("sscc", ("0614141", "123456789"), id="sscc serial reference one digit short"),
        pytest.param("sscc", ("0614141234567", "1234"), id="sscc prefix of 13 digits"),
        pytest.param("sscc", ("06141A1", "1234567890"), id="sscc prefix not digits"),
        pytest.param("sgln", ("0614141", "12345", 1 << 41), id="sgln extension beyond 41 bits"),
        pytest.param("sgln", ("061414112345", "0", 0), id="sgln p0 with a location reference"),
        pytest.param("grai", ("0614141", "12345", 1 << 38), id="grai serial beyond 38 bits"),
        pytest.param("grai", ("0614141", "123456", 1), id="grai asset type one digit long"),
        pytest.param("giai", ("0614141", 1 << 58), id="giai p5 asset reference beyond 58 bits"),
        pytest.param("giai", ("0614141", -1), id="giai negative asset reference"),
    ],
)
def test_encoders_refuse_fields_that_do_not_fit(scheme: str, fields: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        ENCODERS[scheme](*fields)


@pytest.mark.parametrize(
    ("key", "gtin"),
    [
        pytest.param("gs1:01/00614141000012/21/7", "00614141000012", id="barcode with serial"),
        pytest.param("gs1:01/00614141000012", "00614141000012", id="barcode, GTIN only"),
        pytest.param("urn:epc:id:sgtin:0614141.000001.7", "00614141000012", id="sgtin of the same GTIN"),
        pytest.param("gs1:01/0061414100001/21/7", None, id="barcode GTIN of 13 digits"),
        pytest.param("gs1:01/006141410000123", None, id="barcode GTIN of 15 digits"),
        pytest.param("gs1:01/0061414100001X/21/7", None, id="barcode GTIN not digits"),
        pytest.param("gs1:00/006141411234567890", None, id="SSCC barcode"),
        pytest.param("gs1:lot:00614141000012:L1", None, id="lot key"),
        pytest.param("urn:epc:id:sscc:0614141.1234567890", None, id="sscc"),
        pytest.param("urn:epc:id:sgtin:0614141.812345", None, id="sgtin without serial"),
        pytest.param("urn:epc:id:sgtin:0614141.8123X5.1", None, id="sgtin item reference not digits"),
        pytest.param("urn:epc:id:sgtin:0614141..1", None, id="sgtin empty item reference"),
        pytest.param("hex:3074257BF7194E4000001A85", None, id="hex key"),
    ],
)
def test_gtin_of_item_keys(key: str, gtin: str | None) -> None:
    assert gtin_of(key) == gtin


@pytest.mark.parametrize(
    ("body", "check"),
    [
        pytest.param("8061414112345", 8, id="GTIN-14 of the TDS example"),
        pytest.param("400638133393", 1, id="EAN-13 4006381333931"),
        pytest.param("03600029145", 2, id="UPC-A 036000291452"),
        pytest.param("978030640615", 7, id="ISBN-13 9780306406157"),
        pytest.param("0061414100001", 2, id="GTIN-14 of the test plant's PART"),
        pytest.param("0000000000000", 0, id="all zeros"),
    ],
)
def test_gs1_check_digit(body: str, check: int) -> None:
    assert gs1_check_digit(body) == check
