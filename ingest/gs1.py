"""Barcodes to item keys: GS1 element strings (GS1-128, GS1 DataMatrix, GS1 QR, GS1 Digital
Link) and plain GTINs, parsed with biip.

A scanned code becomes a ``Scan`` (GTIN, serial, lot, expiry, SSCC) and then an item key.
Where the plant knows the GS1 company prefix of the code, the key is the EPC URI an RFID tag
of the same thing decodes to (GS1 EPC Tag Data Standard 2.x, §6.3.1 SGTIN, §6.3.2 SSCC,
§6.4.1 LGTIN), so a barcode scan and a tag read of one item are one item; otherwise it is a
``gs1:`` key built from the element strings (AI and value, as in a GS1 Digital Link path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

import biip
from biip.gs1_element_strings import GS1ElementStrings

from ingest.errors import InvalidInput

# The longest GS1 DataMatrix holds ~2,300 characters; item identification needs far fewer,
# and biip's patterns should never see megabytes.
MAX_CODE_CHARS = 1024
MAX_KEY_CHARS = 256  # ingest.wire accepts item keys up to this length
# Company prefixes are 6 to 12 digits (TDS table 14-2, the SGTIN partitions).
COMPANY_PREFIX_DIGITS = range(6, 13)
NO_PREFIXES: Mapping[str, int] = MappingProxyType({})

# Characters of GS1 AI encodable set 82 that an EPC pure-identity URI escapes (TDS table
# "characters permitted in alphanumeric components"); the rest of set 82 stays as it is.
_URI_ESCAPES = str.maketrans({c: f"%{ord(c):02X}" for c in '"%&/<>?'})


@dataclass(frozen=True, slots=True)
class Scan:
    """What a scanned code says. GTINs are GTIN-14; absent parts are None."""

    raw: str
    gtin: str | None = None
    serial: str | None = None
    lot: str | None = None
    expiry: date | None = None
    sscc: str | None = None


def parse_code(text: str) -> Scan:
    """The scan of one code as a scanner sends it (symbology identifier like ``]C1``, ``]d2``
    or ``]Q3`` optional, GS (0x1D) between variable-length fields). InvalidInput("bad_code")
    when it is neither GS1 element strings with a GTIN or SSCC, nor a GTIN or SSCC alone."""
    if len(text) > MAX_CODE_CHARS:
        raise InvalidInput("oversized", f"a code of {len(text)} characters exceeds {MAX_CODE_CHARS}")
    if not text.strip():
        raise InvalidInput("bad_code", "empty code")
    try:
        result = biip.parse(text)
    except Exception as exc:  # biip raises IndexError and others on some malformed input
        raise InvalidInput("bad_code", f"{text!r}: {exc}") from exc
    message = result.gs1_message or result.gs1_digital_link_uri
    elements = message.element_strings if message is not None else GS1ElementStrings()
    if any(e.ai.ai in ("00", "01") for e in elements):
        return _from_elements(text, elements)
    if result.sscc is not None:
        return Scan(text, sscc=result.sscc.value)
    if result.gtin is not None:
        return Scan(text, gtin=result.gtin.as_gtin_14())
    errors = [e for e in (result.gs1_message_error, result.gtin_error, result.sscc_error) if e]
    raise InvalidInput("bad_code", f"{text!r} holds no GTIN or SSCC" + (f": {errors[0]}" if errors else ""))


def _from_elements(text: str, elements: GS1ElementStrings) -> Scan:
    found = {e.ai.ai: e for e in elements}
    gtin = sscc = None
    if (es := found.get("01")) is not None:
        if es.gtin is None:
            raise InvalidInput("bad_code", f"{text!r}: {es.gtin_error or 'AI 01 is not a GTIN'}")
        gtin = es.gtin.as_gtin_14()
    if (es := found.get("00")) is not None:
        if es.sscc is None:
            raise InvalidInput("bad_code", f"{text!r}: {es.sscc_error or 'AI 00 is not an SSCC'}")
        sscc = es.sscc.value
    serial, lot, expiry = found.get("21"), found.get("10"), found.get("17")
    return Scan(
        text,
        gtin=gtin,
        serial=serial.value if serial is not None else None,
        lot=lot.value if lot is not None else None,
        expiry=expiry.date if expiry is not None else None,
        sscc=sscc,
    )


def scan_key(scan: Scan, company_prefixes: Mapping[str, int] = NO_PREFIXES) -> str:
    """The item key of a scan: SSCC, else GTIN + serial (SGTIN), else GTIN + lot (LGTIN).

    ``company_prefixes`` maps a GTIN-14 to the length of its GS1 company prefix (from the
    plant's products); a GTIN or SSCC of a company named there gets the EPC URI, any other
    the ``gs1:`` key. A GTIN alone names a product, not an item: InvalidInput("bad_code").
    """
    if scan.sscc:
        length = _prefix_length(scan.sscc[1:17], company_prefixes)
        if length is None:
            key = f"gs1:00/{scan.sscc}"
        else:
            # Serial reference: extension digit, then the digits after the company prefix.
            cp, serial_ref = scan.sscc[1 : 1 + length], scan.sscc[0] + scan.sscc[1 + length : 17]
            key = f"urn:epc:id:sscc:{cp}.{serial_ref}"
    elif scan.gtin and (scan.serial or scan.lot):
        gtin = scan.gtin
        ai, value = ("21", scan.serial) if scan.serial else ("10", scan.lot)
        escaped = (value or "").translate(_URI_ESCAPES)
        length = company_prefixes.get(gtin) or _prefix_length(gtin[1:13], company_prefixes)
        if length is None:
            key = f"gs1:01/{gtin}/{ai}/{escaped}"
        else:
            # Item reference with the indicator digit in front (TDS §6.3.1), as ingest.epc decodes.
            cp, item_ref = gtin[1 : 1 + length], gtin[0] + gtin[1 + length : 13]
            kind = "urn:epc:id:sgtin:" if ai == "21" else "urn:epc:class:lgtin:"
            key = f"{kind}{cp}.{item_ref}.{escaped}"
    elif scan.gtin:
        raise InvalidInput(
            "bad_code", f"{scan.raw!r} is GTIN {scan.gtin} alone: a product code with no serial or lot"
        )
    else:
        raise InvalidInput("bad_code", f"{scan.raw!r} holds no GTIN or SSCC")
    if len(key) > MAX_KEY_CHARS:
        raise InvalidInput("bad_code", f"the item key of {scan.raw!r} is longer than {MAX_KEY_CHARS}")
    return key


def _prefix_length(digits: str, company_prefixes: Mapping[str, int]) -> int | None:
    """Length of the known company prefix ``digits`` starts with (GTIN-14 or SSCC without
    its first digit), or None. GS1 allocates prefixes so no prefix starts another."""
    for gtin, length in company_prefixes.items():
        if digits.startswith(gtin[1 : 1 + length]):
            return length
    return None


def company_prefix_length(gtin: str, company_prefix: str) -> int:
    """The prefix length for ``scan_key``, checked: ``company_prefix`` must be 6 to 12 digits
    and be the digits of the GTIN-14 after its indicator digit. ValueError if not."""
    if not company_prefix.isdigit() or len(company_prefix) not in COMPANY_PREFIX_DIGITS:
        raise ValueError(f"company prefix must be 6 to 12 digits, got {company_prefix!r}")
    if len(gtin) != 14 or gtin[1 : 1 + len(company_prefix)] != company_prefix:
        raise ValueError(f"GTIN {gtin} does not carry company prefix {company_prefix}")
    return len(company_prefix)


def check_company_prefixes(company_prefixes: Mapping[str, int]) -> None:
    """ValueError unless every entry maps a 14-digit GTIN to a company prefix length of 6-12."""
    for gtin, length in company_prefixes.items():
        if len(gtin) != 14 or not gtin.isdigit() or length not in COMPANY_PREFIX_DIGITS:
            raise ValueError(f"company prefix length {length!r} of GTIN {gtin!r}: needs 14 digits and 6-12")
