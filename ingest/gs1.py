"""Barcodes to item keys: GS1 element strings (GS1-128, GS1 DataMatrix, GS1 QR, GS1 DotCode),
their human-readable form, GS1 Digital Link URIs and plain GTINs, parsed with biip.

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
from urllib.parse import urlsplit, urlunsplit

import biip
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementStrings
from biip.gs1_messages import GS1Message

from ingest.errors import InvalidInput

# The longest GS1 DataMatrix holds ~2,300 characters; item identification needs far fewer,
# and biip's patterns should never see megabytes.
MAX_CODE_CHARS = 1024
MAX_KEY_CHARS = 256  # ingest.wire accepts item keys up to this length
# Company prefixes are 6 to 12 digits (TDS table 14-2, the SGTIN partitions).
COMPANY_PREFIX_DIGITS = range(6, 13)
NO_PREFIXES: Mapping[str, int] = MappingProxyType({})

# GS1 Digital Link 1.1 (2018), table of convenience alphas: the keys and qualifiers linetrace
# makes item keys of. Printed codes carry them for years after DL 1.2 dropped them.
_CONVENIENCE_ALPHAS = {"gtin": "01", "sscc": "00", "cpv": "22", "lot": "10", "ser": "21"}
_PRIMARY_KEYS = frozenset({"01", "00", "gtin", "sscc"})

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
    """The scan of one code as a scanner sends it: GS1 element strings (symbology identifier
    like ``]C1``, ``]d2``, ``]Q3`` or ``]J1`` optional, GS (0x1D) between variable-length
    fields), their human-readable form ``(01)…(21)…``, a GS1 Digital Link URI (alone or in
    a plain or GS1 QR code or Data Matrix: ``]Q1``, ``]Q3``, ``]d1``, ``]d2``), or a GTIN or
    SSCC alone. InvalidInput("bad_code") when it holds no GTIN or SSCC."""
    if len(text) > MAX_CODE_CHARS:
        raise InvalidInput("oversized", f"a code of {len(text)} characters exceeds {MAX_CODE_CHARS}")
    if not text.strip():
        raise InvalidInput("bad_code", "empty code")
    identifier, data = _symbology(text.strip())
    try:
        if data[:8].lower().startswith(("http://", "https://")):
            return _scan_of(text, GS1DigitalLinkURI.parse(_numeric_keys(data)).element_strings)
        if data.startswith("("):
            # The human-readable form, as handheld apps and keyed entry send it.
            return _scan_of(text, GS1Message.parse_hri(data).element_strings)
        if identifier == "]J1":
            # GS1 DotCode: biip knows the GS1 symbology but not the code character J.
            return _scan_of(text, GS1Message.parse(data).element_strings)
        result = biip.parse(text)
    except InvalidInput:
        raise
    except Exception as exc:  # biip raises ParseError, IndexError and others on malformed input
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


def _symbology(code: str) -> tuple[str, str]:
    """The AIM symbology identifier (``]`` code character modifier, ISO/IEC 15424) and the data."""
    if code.startswith("]") and len(code) >= 3:
        return code[:3], code[3:]
    return "", code


def _numeric_keys(uri: str) -> str:
    """The URI with the GS1 Digital Link 1.1 "convenience alphas" of item keys (``/gtin/…/ser/…``)
    written as their AIs (``/01/…/21/…``), the only form later versions and biip take."""
    parts = urlsplit(uri)
    segments = parts.path.split("/")
    for i, segment in enumerate(segments):
        if segment in _PRIMARY_KEYS:
            # From the primary key on, the path alternates key and value.
            for k in range(i, len(segments) - 1, 2):
                segments[k] = _CONVENIENCE_ALPHAS.get(segments[k], segments[k])
            return urlunsplit(parts._replace(path="/".join(segments)))
    return uri


def _scan_of(text: str, elements: GS1ElementStrings) -> Scan:
    if not any(e.ai.ai in ("00", "01") for e in elements):
        raise InvalidInput("bad_code", f"{text!r} holds no GTIN or SSCC")
    return _from_elements(text, elements)


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
