"""EPC binary decoding to item keys, and GTIN helpers.

An item key is the pure-identity EPC URI (``urn:epc:id:sgtin:...``) for SGTIN-96 tags;
anything else is kept as ``hex:<EPC>`` so an undecodable tag is traced, never dropped.
The SGTIN-96 layout and partition table are from GS1 EPC Tag Data Standard 2.x, §14.5.1.
"""

from __future__ import annotations

SGTIN96_HEADER = 0x30

# partition -> (company prefix bits, digits, item reference bits, digits); TDS table 14-2.
_SGTIN_PARTITIONS: dict[int, tuple[int, int, int, int]] = {
    0: (40, 12, 4, 1),
    1: (37, 11, 7, 2),
    2: (34, 10, 10, 3),
    3: (30, 9, 14, 4),
    4: (27, 8, 17, 5),
    5: (24, 7, 20, 6),
    6: (20, 6, 24, 7),
}
_DIGITS_TO_PARTITION = {v[1]: k for k, v in _SGTIN_PARTITIONS.items()}
_SGTIN_PREFIX = "urn:epc:id:sgtin:"


def item_key(epc_hex: str) -> str:
    """Item key of an EPC given as hex: the SGTIN pure-identity URI, else ``hex:<EPC>``."""
    normalised = epc_hex.strip().upper()
    if len(normalised) == 24 and normalised.startswith("30"):
        try:
            return decode_sgtin96(int(normalised, 16))
        except ValueError:
            pass
    return "hex:" + normalised


def decode_sgtin96(value: int) -> str:
    """SGTIN-96 as a 96-bit integer to ``urn:epc:id:sgtin:CompanyPrefix.ItemRef.Serial``."""
    if value >> 88 != SGTIN96_HEADER:
        raise ValueError("not an SGTIN-96 header")
    partition = (value >> 82) & 0b111
    if partition not in _SGTIN_PARTITIONS:
        raise ValueError(f"invalid SGTIN partition {partition}")
    cp_bits, cp_digits, ir_bits, ir_digits = _SGTIN_PARTITIONS[partition]
    company = (value >> (82 - cp_bits)) & ((1 << cp_bits) - 1)
    item_ref = (value >> 38) & ((1 << ir_bits) - 1)
    serial = value & ((1 << 38) - 1)
    if company >= 10**cp_digits or item_ref >= 10**ir_digits:
        raise ValueError("SGTIN field exceeds its digit count")
    return f"{_SGTIN_PREFIX}{company:0{cp_digits}d}.{item_ref:0{ir_digits}d}.{serial}"


def encode_sgtin96(company_prefix: str, item_ref: str, serial: int, filter_value: int = 1) -> str:
    """Hex EPC of an SGTIN-96 (used by the line simulator and tests)."""
    partition = _DIGITS_TO_PARTITION[len(company_prefix)]
    cp_bits, _, ir_bits, ir_digits = _SGTIN_PARTITIONS[partition]
    if len(item_ref) != ir_digits or not serial < (1 << 38):
        raise ValueError("item reference digits or serial out of range")
    value = SGTIN96_HEADER
    value = (value << 3) | filter_value
    value = (value << 3) | partition
    value = (value << cp_bits) | int(company_prefix)
    value = (value << ir_bits) | int(item_ref)
    value = (value << 38) | serial
    return f"{value:024X}"


def gtin_of(key: str) -> str | None:
    """GTIN-14 of an SGTIN item key, or None for other keys."""
    if not key.startswith(_SGTIN_PREFIX):
        return None
    company, item_ref, _ = key[len(_SGTIN_PREFIX) :].split(".", 2)
    body = item_ref[0] + company + item_ref[1:]
    return body + str(gs1_check_digit(body))


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of a number without its check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10
