from __future__ import annotations

from collections.abc import Sequence

import pytest

from ingest.epc import encode_sgtin96, gs1_check_digit, gtin_of, item_key


def _sgtin_bits(
    filter_value: int, partition: int, cp_bits: int, company: int, item_ref: int, serial: int
) -> str:
    """Hex of an SGTIN-96 laid out by hand, for fields the encoder refuses to produce."""
    value = (0x30 << 88) | (filter_value << 85) | (partition << 82) | (company << (82 - cp_bits))
    return f"{value | (item_ref << 38) | serial:024X}"


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


@pytest.mark.parametrize(
    ("epc", "key"),
    [
        pytest.param("E2801160600002054CC2096F", "hex:E2801160600002054CC2096F", id="TID, not an EPC"),
        pytest.param("3574257BF7194E4000001A85", "hex:3574257BF7194E4000001A85", id="GID-96 header"),
        pytest.param("e280116060000205", "hex:E280116060000205", id="short, lower case is uppercased"),
        pytest.param("3074257BF7194E4000001A", "hex:3074257BF7194E4000001A", id="SGTIN header, too short"),
        pytest.param(
            "3074257BF7194E4000001A8500", "hex:3074257BF7194E4000001A8500", id="SGTIN header, too long"
        ),
        pytest.param("30ZZ257BF7194E4000001A85", "hex:30ZZ257BF7194E4000001A85", id="not hex at all"),
        pytest.param(
            "307C257BF7194E4000001A85", "hex:307C257BF7194E4000001A85", id="partition 7 does not exist"
        ),
        pytest.param(
            _sgtin_bits(1, 6, 20, 1_000_000, 1, 1),
            "hex:" + _sgtin_bits(1, 6, 20, 1_000_000, 1, 1),
            id="company prefix longer than its partition allows",
        ),
        pytest.param(
            _sgtin_bits(1, 0, 40, 614141, 10, 1),
            "hex:" + _sgtin_bits(1, 0, 40, 614141, 10, 1),
            id="item reference longer than its partition allows",
        ),
    ],
)
def test_anything_but_a_valid_sgtin96_is_kept_as_hex(epc: str, key: str) -> None:
    assert item_key(epc) == key
    assert gtin_of(key) is None


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
