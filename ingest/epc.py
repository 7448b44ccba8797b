"""EPC binary decoding to item keys, and GTIN helpers.

An item key is the pure-identity EPC URI of the five GS1 96-bit schemes a plant tags with:
SGTIN-96 (items), SSCC-96 (logistic units), SGLN-96 (locations), GRAI-96 (returnable assets)
and GIAI-96 (individual assets). Anything else is kept as ``hex:<EPC>`` so an undecodable
tag is traced, never dropped.

Layouts and partition tables are from GS1 EPC Tag Data Standard 2.x §14.5; the value
ranges checked on decoding are those of the GS1 Tag Data Translation 2.0 binary patterns
(a field may not hold more digits than its partition gives it, a zero-digit field must be
0, the SSCC-96 reserved bits must be 0). Decoding is integer arithmetic on the 96-bit
value, with no bit strings: ``item_key`` runs on every read in the stream worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

SGTIN96_HEADER = 0x30
SSCC96_HEADER = 0x31
SGLN96_HEADER = 0x32
GRAI96_HEADER = 0x33
GIAI96_HEADER = 0x34

# Every 96-bit scheme here is: header (8 bits), filter (3), partition (3), then 82 bits of
# company prefix, a reference field and a tail field (serial, extension or reserved bits).
_FIELDS_BITS = 82


@dataclass(frozen=True, slots=True)
class _Partition:
    number: int
    company_digits: int
    company_shift: int
    company_mask: int
    company_limit: int
    ref_digits: int
    ref_mask: int
    ref_limit: int
    uri: str  # %-template of (company, reference, tail)


@dataclass(frozen=True, slots=True)
class _Scheme:
    name: str
    header: int
    tail_bits: int
    tail_mask: int
    tail_reserved: bool  # the tail must be zero and is not part of the URI
    partitions: dict[int, _Partition]
    by_company_digits: dict[int, _Partition]


def _scheme(
    name: str,
    header: int,
    tail_bits: int,
    ref_bits: tuple[int, ...],
    ref_digits: tuple[int, ...],
    uri: str,
    reserved_tail: bool = False,
) -> _Scheme:
    """A scheme from its partition table: partition p has a company prefix of 12 - p digits.

    ``uri`` is the pure identity with ``{C}`` for the company prefix, ``{R}`` for the
    reference zero-padded to its digits (empty for zero digits), ``{A}`` for a reference
    written as a plain number, ``{T}`` for the tail. It becomes a %-template of (company,
    reference, tail), the quickest formatting here; ``%.0s`` takes a value and writes nothing.
    """
    partitions = {}
    for number, (bits, digits) in enumerate(zip(ref_bits, ref_digits, strict=True)):
        company_digits = 12 - number
        company_bits = _FIELDS_BITS - tail_bits - bits
        ref = f"%0{digits}d" if digits else "%.0s"
        template = uri.replace("{C}", f"%0{company_digits}d").replace("{R}", ref).replace("{A}", "%d")
        partitions[number] = _Partition(
            number=number,
            company_digits=company_digits,
            company_shift=tail_bits + bits,
            company_mask=(1 << company_bits) - 1,
            company_limit=10**company_digits,
            ref_digits=digits,
            ref_mask=(1 << bits) - 1,
            ref_limit=10**digits,
            uri=template.replace("{T}", "%d") if "{T}" in template else template + "%.0s",
        )
    return _Scheme(
        name,
        header,
        tail_bits,
        (1 << tail_bits) - 1,
        reserved_tail,
        partitions,
        {p.company_digits: p for p in partitions.values()},
    )


# Reference bits and digits per partition 0-6 (12-digit company prefix first), from the TDS
# §14.5 partition tables; company prefix bits are the same in every scheme: 40, 37, 34, 30,
# 27, 24, 20. The tail is the serial (SGTIN, GRAI), the extension (SGLN) or reserved (SSCC).
SGTIN96 = _scheme(
    "SGTIN-96",
    SGTIN96_HEADER,
    tail_bits=38,
    ref_bits=(4, 7, 10, 14, 17, 20, 24),
    ref_digits=(1, 2, 3, 4, 5, 6, 7),
    uri="urn:epc:id:sgtin:{C}.{R}.{T}",
)
SSCC96 = _scheme(
    "SSCC-96",
    SSCC96_HEADER,
    tail_bits=24,
    ref_bits=(18, 21, 24, 28, 31, 34, 38),
    ref_digits=(5, 6, 7, 8, 9, 10, 11),
    uri="urn:epc:id:sscc:{C}.{R}",
    reserved_tail=True,
)
SGLN96 = _scheme(
    "SGLN-96",
    SGLN96_HEADER,
    tail_bits=41,
    ref_bits=(1, 4, 7, 11, 14, 17, 21),
    ref_digits=(0, 1, 2, 3, 4, 5, 6),
    uri="urn:epc:id:sgln:{C}.{R}.{T}",
)
GRAI96 = _scheme(
    "GRAI-96",
    GRAI96_HEADER,
    tail_bits=38,
    ref_bits=(4, 7, 10, 14, 17, 20, 24),
    ref_digits=(0, 1, 2, 3, 4, 5, 6),
    uri="urn:epc:id:grai:{C}.{R}.{T}",
)
# The individual asset reference is an integer without padding; its digit limits (13-19)
# are above what its bits can hold, so only the company prefix can overflow.
GIAI96 = _scheme(
    "GIAI-96",
    GIAI96_HEADER,
    tail_bits=0,
    ref_bits=(42, 45, 48, 52, 55, 58, 62),
    ref_digits=(13, 14, 15, 16, 17, 18, 19),
    uri="urn:epc:id:giai:{C}.{A}",
)

_SCHEMES_BY_HEX_HEADER = {f"{s.header:02X}": s for s in (SGTIN96, SSCC96, SGLN96, GRAI96, GIAI96)}
_SGTIN_PREFIX = "urn:epc:id:sgtin:"
_GTIN_BARCODE_PREFIX = "gs1:01/"


def item_key(epc_hex: str) -> str:
    """Item key of an EPC given as hex: its pure-identity URI, else ``hex:<EPC uppercase>``."""
    normalised = epc_hex.strip().upper()
    # isascii: int() also reads non-ASCII digits, and upper() turns some letters into ASCII.
    if len(normalised) == 24 and epc_hex.isascii():
        scheme = _SCHEMES_BY_HEX_HEADER.get(normalised[:2])
        if scheme is not None:
            try:
                # int() allows '_' between digits, but then fewer than 24 digits are left
                # and the header check in _decode fails.
                return _decode(int(normalised, 16), scheme)
            except ValueError:
                pass
    return "hex:" + normalised


def _decode(value: int, scheme: _Scheme) -> str:
    if value >> 88 != scheme.header:
        raise ValueError(f"header is not {scheme.name}'s")
    partition = scheme.partitions.get((value >> _FIELDS_BITS) & 0b111)
    if partition is None:
        raise ValueError(f"invalid {scheme.name} partition {(value >> _FIELDS_BITS) & 0b111}")
    company = (value >> partition.company_shift) & partition.company_mask
    ref = (value >> scheme.tail_bits) & partition.ref_mask
    tail = value & scheme.tail_mask
    if company >= partition.company_limit or ref >= partition.ref_limit:
        raise ValueError(f"{scheme.name} field exceeds its digit count")
    if tail and scheme.tail_reserved:
        raise ValueError(f"{scheme.name} reserved bits are not zero")
    return partition.uri % (company, ref, tail)


def decode_sgtin96(value: int) -> str:
    """SGTIN-96 as a 96-bit integer to ``urn:epc:id:sgtin:CompanyPrefix.ItemRef.Serial``."""
    return _decode(value, SGTIN96)


def decode_sscc96(value: int) -> str:
    """SSCC-96 as a 96-bit integer to ``urn:epc:id:sscc:CompanyPrefix.SerialRef``."""
    return _decode(value, SSCC96)


def decode_sgln96(value: int) -> str:
    """SGLN-96 as a 96-bit integer to ``urn:epc:id:sgln:CompanyPrefix.LocationRef.Extension``."""
    return _decode(value, SGLN96)


def decode_grai96(value: int) -> str:
    """GRAI-96 as a 96-bit integer to ``urn:epc:id:grai:CompanyPrefix.AssetType.Serial``."""
    return _decode(value, GRAI96)


def decode_giai96(value: int) -> str:
    """GIAI-96 as a 96-bit integer to ``urn:epc:id:giai:CompanyPrefix.IndividualAssetRef``."""
    return _decode(value, GIAI96)


def _encode(scheme: _Scheme, filter_value: int, company_prefix: str, ref: str | int, tail: int) -> str:
    """Hex EPC from its fields: ``ref`` as text must have its partition's digits, as a number
    (GIAI) it must fit its bits."""
    partition = scheme.by_company_digits.get(len(company_prefix))
    if partition is None or not _is_digits(company_prefix):
        raise ValueError(f"{scheme.name} company prefix must be 6-12 digits: {company_prefix!r}")
    if isinstance(ref, str):
        if len(ref) != partition.ref_digits or not (ref == "" or _is_digits(ref)):
            raise ValueError(
                f"{scheme.name} reference must be {partition.ref_digits} digits with a "
                f"{partition.company_digits}-digit company prefix: {ref!r}"
            )
        ref = int(ref or "0")
    elif not 0 <= ref <= partition.ref_mask:
        raise ValueError(f"{scheme.name} reference out of range: {ref}")
    if not 0 <= tail <= scheme.tail_mask:
        raise ValueError(f"{scheme.name} serial out of range: {tail}")
    if not 0 <= filter_value <= 0b111:
        raise ValueError(f"filter value must be 0-7: {filter_value}")
    value = (scheme.header << 88) | (filter_value << 85) | (partition.number << _FIELDS_BITS)
    value |= (int(company_prefix) << partition.company_shift) | (ref << scheme.tail_bits) | tail
    return f"{value:024X}"


def encode_sgtin96(company_prefix: str, item_ref: str, serial: int, filter_value: int = 1) -> str:
    """Hex EPC of an SGTIN-96 (used by the line simulator and tests); ``item_ref`` is the
    indicator digit and item reference, 13 digits in all with the company prefix."""
    return _encode(SGTIN96, filter_value, company_prefix, item_ref, serial)


def encode_sscc96(company_prefix: str, serial_ref: str, filter_value: int = 0) -> str:
    """Hex EPC of an SSCC-96; ``serial_ref`` is the extension digit and serial reference,
    17 digits in all with the company prefix."""
    return _encode(SSCC96, filter_value, company_prefix, serial_ref, 0)


def encode_sgln96(company_prefix: str, location_ref: str, extension: int = 0, filter_value: int = 0) -> str:
    """Hex EPC of an SGLN-96; ``location_ref`` has 12 digits in all with the company prefix
    (none with a 12-digit prefix); extension 0 stands for the GLN itself."""
    return _encode(SGLN96, filter_value, company_prefix, location_ref, extension)


def encode_grai96(company_prefix: str, asset_type: str, serial: int, filter_value: int = 0) -> str:
    """Hex EPC of a GRAI-96; ``asset_type`` has 12 digits in all with the company prefix
    (none with a 12-digit prefix); the serial is a 38-bit number."""
    return _encode(GRAI96, filter_value, company_prefix, asset_type, serial)


def encode_giai96(company_prefix: str, asset_ref: int, filter_value: int = 0) -> str:
    """Hex EPC of a GIAI-96; the individual asset reference is a number of 42 bits with a
    12-digit company prefix, up to 62 bits with a 6-digit one."""
    return _encode(GIAI96, filter_value, company_prefix, asset_ref, 0)


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def gtin_of(key: str) -> str | None:
    """GTIN-14 of an SGTIN item key or of a barcode key ``gs1:01/<GTIN>/...``, else None."""
    if key.startswith(_GTIN_BARCODE_PREFIX):
        gtin = key[len(_GTIN_BARCODE_PREFIX) : len(_GTIN_BARCODE_PREFIX) + 14]
        rest = key[len(_GTIN_BARCODE_PREFIX) + 14 :]
        if len(gtin) == 14 and _is_digits(gtin) and rest[:1] in ("", "/"):
            return gtin
        return None
    if not key.startswith(_SGTIN_PREFIX):
        return None
    fields = key[len(_SGTIN_PREFIX) :].split(".")
    if len(fields) != 3 or not 6 <= len(fields[0]) <= 12:
        return None
    company, item_ref, _ = fields
    body = item_ref[:1] + company + item_ref[1:]
    if len(body) != 13 or not _is_digits(body):
        return None
    return _with_check_digit(body)


# Stage 2 asks the GTIN of an item on every change to it; a plant's GTINs are few.
@lru_cache(maxsize=4096)
def _with_check_digit(body: str) -> str:
    return body + str(gs1_check_digit(body))


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of a number without its check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10
