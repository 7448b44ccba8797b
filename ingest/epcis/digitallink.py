"""GS1 identifiers in their canonical GS1 Digital Link form, as the EPCIS event hash wants them.

CBV 2.0 §8.9 hashes every identifier in one form, whichever form the event carried: an EPC
URN (``urn:epc:id:sgtin:4012345.011111.9876``) or a Digital Link URI on any domain
(``https://id.gs1.de/01/...``) both become ``https://id.gs1.org/01/04012345111118/21/9876``.
The URN layouts are those of the GS1 EPC Tag Data Standard 2.x §6; the check digits are
computed as in GS1 General Specifications §7.9.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, unquote

from ingest.epc import gs1_check_digit

CANONICAL_DOMAIN = "https://id.gs1.org"

# Characters a Digital Link path segment keeps as they are (GS1 DL 1.2 §5.2: unreserved
# characters); every other one of AI encodable set 82 is percent-encoded.
_SAFE = "-._~'"


def _with_check(body: str) -> str:
    return body + str(gs1_check_digit(body))


def _path(value: str) -> str:
    return quote(unquote(value), safe=_SAFE)


def _sgtin(parts: list[str]) -> str:
    cp, ref, serial = parts
    return f"/01/{_with_check(ref[:1] + cp + ref[1:])}/21/{_path(serial)}"


def _lgtin(parts: list[str]) -> str:
    cp, ref, lot = parts
    return f"/01/{_with_check(ref[:1] + cp + ref[1:])}/10/{_path(lot)}"


def _idpat_sgtin(parts: list[str]) -> str:
    cp, ref = parts[:2]
    return f"/01/{_with_check(ref[:1] + cp + ref[1:])}"


def _sscc(parts: list[str]) -> str:
    cp, ref = parts
    return f"/00/{_with_check(ref[:1] + cp + ref[1:])}"


def _sgln(parts: list[str]) -> str:
    cp, ref, ext = parts
    gln = _with_check(cp + ref)
    return f"/414/{gln}" if ext == "0" else f"/414/{gln}/254/{_path(ext)}"


def _pgln(parts: list[str]) -> str:
    return f"/417/{_with_check(parts[0] + parts[1])}"


def _grai(parts: list[str]) -> str:
    cp, ref, serial = parts
    return f"/8003/{_with_check('0' + cp + ref)}{_path(serial)}"


def _giai(parts: list[str]) -> str:
    return f"/8004/{parts[0]}{_path(parts[1])}"


def _gsrn(ai: str) -> Callable[[list[str]], str]:
    return lambda parts: f"/{ai}/{_with_check(parts[0] + parts[1])}"


def _gdti(parts: list[str]) -> str:
    cp, ref, serial = parts
    return f"/253/{_with_check(cp + ref)}{_path(serial)}"


def _sgcn(parts: list[str]) -> str:
    cp, ref, serial = parts
    return f"/255/{_with_check(cp + ref)}{_path(serial)}"


def _ginc(parts: list[str]) -> str:
    return f"/401/{parts[0]}{_path(parts[1])}"


def _gsin(parts: list[str]) -> str:
    return f"/402/{_with_check(parts[0] + parts[1])}"


def _cpi(parts: list[str]) -> str:
    cp, ref, serial = parts
    return f"/8010/{_path(cp + ref)}/8011/{serial}"


def _itip(parts: list[str]) -> str:
    cp, ref, piece, total, serial = parts
    return f"/8006/{_with_check(ref[:1] + cp + ref[1:])}{piece}{total}/21/{_path(serial)}"


def _upui(parts: list[str]) -> str:
    cp, ref, tpx = parts
    return f"/01/{_with_check(ref[:1] + cp + ref[1:])}/235/{_path(tpx)}"


def _class(ai: str, digits: bool) -> Callable[[list[str]], str]:
    """An ``idpat`` class pattern (its last field ``*``): the key without its serial."""

    def to_path(parts: list[str]) -> str:
        body = parts[0] + parts[1]
        return f"/{ai}/{_with_check(body) if digits else _path(body)}"

    return to_path


def _idpat_grai(parts: list[str]) -> str:
    return f"/8003/{_with_check('0' + parts[0] + parts[1])}"


def _idpat_itip(parts: list[str]) -> str:
    cp, ref, piece, total = parts[:4]
    return f"/8006/{_with_check(ref[:1] + cp + ref[1:])}{piece}{total}"


# URN prefix -> (number of dot-separated fields, the Digital Link path they make)
_URNS: dict[str, tuple[int, Callable[[list[str]], str]]] = {
    "urn:epc:id:sgtin:": (3, _sgtin),
    "urn:epc:class:lgtin:": (3, _lgtin),
    "urn:epc:idpat:sgtin:": (3, _idpat_sgtin),
    "urn:epc:id:sscc:": (2, _sscc),
    "urn:epc:id:sgln:": (3, _sgln),
    "urn:epc:id:pgln:": (2, _pgln),
    "urn:epc:id:grai:": (3, _grai),
    "urn:epc:id:giai:": (2, _giai),
    "urn:epc:id:gsrn:": (2, _gsrn("8018")),
    "urn:epc:id:gsrnp:": (2, _gsrn("8017")),
    "urn:epc:id:gdti:": (3, _gdti),
    "urn:epc:id:sgcn:": (3, _sgcn),
    "urn:epc:id:ginc:": (2, _ginc),
    "urn:epc:id:gsin:": (2, _gsin),
    "urn:epc:id:cpi:": (3, _cpi),
    "urn:epc:id:itip:": (5, _itip),
    "urn:epc:id:upui:": (3, _upui),
    "urn:epc:idpat:grai:": (3, _idpat_grai),
    "urn:epc:idpat:gdti:": (3, _class("253", True)),
    "urn:epc:idpat:sgcn:": (3, _class("255", True)),
    "urn:epc:idpat:cpi:": (3, _class("8010", False)),
    "urn:epc:idpat:itip:": (5, _idpat_itip),
}
# GS1 Digital Link 1.1's convenience alphas for the primary keys.
_ALPHAS = {"gtin": "01", "sscc": "00", "gln": "414", "party": "417", "grai": "8003", "giai": "8004",
           "gdti": "253", "gcn": "255", "ginc": "401", "gsin": "402", "itip": "8006", "cpid": "8010",
           "gsrnp": "8017", "gsrn": "8018"}  # fmt: skip

# A Digital Link URI on any domain: everything from its primary key on is the identifier.
_DL_PATH = re.compile(
    r"^https?://[^/?#]+(?:/[^?#]*?)?/(01|00|414|417|8003|8004|253|255|401|402|8006|8010|8017|8018|"
    r"gtin|sscc|gln|party|grai|giai|gdti|gcn|ginc|gsin|itip|cpid|gsrnp|gsrn)(/[^?#]+?)/?(?:[?#].*)?$"
)


def canonical(value: str) -> str | None:
    """The canonical Digital Link URI of a GS1 identifier, or None when ``value`` is not one."""
    for prefix, (fields, to_path) in _URNS.items():
        if value.startswith(prefix):
            parts = value[len(prefix) :].split(".")
            if len(parts) != fields or not all(p.isdigit() for p in parts[:1]):
                return None
            try:
                return CANONICAL_DOMAIN + to_path(parts)
            except (ValueError, IndexError):
                return None
    match = _DL_PATH.match(value)
    if match is not None:
        ai = _ALPHAS.get(match.group(1), match.group(1))
        return f"{CANONICAL_DOMAIN}/{ai}{match.group(2)}"
    return None
