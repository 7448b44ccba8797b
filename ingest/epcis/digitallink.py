"""GS1 identifiers in their canonical GS1 Digital Link form, as the EPCIS event hash wants them.

CBV 2.0 §8.9 hashes every identifier in one form, whichever form the event carried: an EPC
URN (``urn:epc:id:sgtin:4012345.011111.9876``) or a Digital Link URI on any domain
(``https://id.gs1.de/01/...``) both become ``https://id.gs1.org/01/04012345111118/21/9876``.
The URN layouts are those of the GS1 EPC Tag Data Standard 2.x §6; the check digits are
computed as in GS1 General Specifications §7.9.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Scheme:
    """How one EPC URN scheme's dot-separated fields make a Digital Link path."""

    fields: int
    ai: str  # the primary key's application identifier
    # The key's characters from the company prefix ``cp`` and the second field ``ref`` (whose
    # first digit ``ind``, an indicator or extension digit, leads a GTIN or SSCC; ``rest`` follows).
    layout: str
    check: bool = True  # the key ends with a check digit (else it is percent-encoded as it is)
    tail: int = 0  # fields after the first two that follow the check digit (ITIP's piece, total)
    serial: str | None = None  # the last field's AI; "" when it continues the key; None: no serial
    no_serial: str | None = None  # the last field's value that means no serial (SGLN's extension 0)
    encoded: bool = True  # the serial is percent-encoded (CPI's serial is digits as it is)

    def path(self, parts: list[str]) -> str:
        cp, ref = parts[0], parts[1]
        body = self.layout.format(cp=cp, ref=ref, ind=ref[:1], rest=ref[1:])
        key = (_with_check(body) if self.check else _path(body)) + "".join(parts[2 : 2 + self.tail])
        serial = parts[-1]
        if self.serial is None or serial == self.no_serial:
            return f"/{self.ai}/{key}"
        value = _path(serial) if self.encoded else serial
        return f"/{self.ai}/{key}/{self.serial}/{value}" if self.serial else f"/{self.ai}/{key}{value}"


_GTIN = "{ind}{cp}{rest}"
_PLAIN = "{cp}{ref}"
# URN prefix -> how its fields make the Digital Link path (an ``idpat`` class pattern ends in
# ``*`` where the serial would be: the key without its serial).
_URNS: dict[str, _Scheme] = {
    "urn:epc:id:sgtin:": _Scheme(3, "01", _GTIN, serial="21"),
    "urn:epc:class:lgtin:": _Scheme(3, "01", _GTIN, serial="10"),
    "urn:epc:idpat:sgtin:": _Scheme(3, "01", _GTIN),
    "urn:epc:id:sscc:": _Scheme(2, "00", _GTIN),
    "urn:epc:id:sgln:": _Scheme(3, "414", _PLAIN, serial="254", no_serial="0"),
    "urn:epc:id:pgln:": _Scheme(2, "417", _PLAIN),
    "urn:epc:id:grai:": _Scheme(3, "8003", "0{cp}{ref}", serial=""),
    "urn:epc:id:giai:": _Scheme(2, "8004", "{cp}", check=False, serial=""),
    "urn:epc:id:gsrn:": _Scheme(2, "8018", _PLAIN),
    "urn:epc:id:gsrnp:": _Scheme(2, "8017", _PLAIN),
    "urn:epc:id:gdti:": _Scheme(3, "253", _PLAIN, serial=""),
    "urn:epc:id:sgcn:": _Scheme(3, "255", _PLAIN, serial=""),
    "urn:epc:id:ginc:": _Scheme(2, "401", "{cp}", check=False, serial=""),
    "urn:epc:id:gsin:": _Scheme(2, "402", _PLAIN),
    "urn:epc:id:cpi:": _Scheme(3, "8010", _PLAIN, check=False, serial="8011", encoded=False),
    "urn:epc:id:itip:": _Scheme(5, "8006", _GTIN, tail=2, serial="21"),
    "urn:epc:id:upui:": _Scheme(3, "01", _GTIN, serial="235"),
    "urn:epc:idpat:grai:": _Scheme(3, "8003", "0{cp}{ref}"),
    "urn:epc:idpat:gdti:": _Scheme(3, "253", _PLAIN),
    "urn:epc:idpat:sgcn:": _Scheme(3, "255", _PLAIN),
    "urn:epc:idpat:cpi:": _Scheme(3, "8010", _PLAIN, check=False),
    "urn:epc:idpat:itip:": _Scheme(5, "8006", _GTIN, tail=2),
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
    for prefix, scheme in _URNS.items():
        if value.startswith(prefix):
            parts = value[len(prefix) :].split(".")
            if len(parts) != scheme.fields or not all(p.isdigit() for p in parts[:1]):
                return None
            try:
                return CANONICAL_DOMAIN + scheme.path(parts)
            except (ValueError, IndexError):
                return None
    match = _DL_PATH.match(value)
    if match is not None:
        ai = _ALPHAS.get(match.group(1), match.group(1))
        return f"{CANONICAL_DOMAIN}/{ai}{match.group(2)}"
    return None
