"""What the JSON reader adapters (``readers.impinj``, ``readers.zebra``) share: limits on
size and time, the checks of the fields every vendor sends (times, EPCs, numbers), and the
rejection counts.

Every check raises ``InvalidInput`` with a stable reason (``oversized``, ``malformed_json``,
``missing_field``, ``bad_epc``, ``bad_field``, ``bad_timestamp``, ``future_timestamp``,
``stale_timestamp``), which the adapter dead-letters.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.errors import InvalidInput
from ingest.settings import Settings
from ingest.timefmt import parse_us
from readers.base import Outlet, within_clock

log = logging.getLogger(__name__)

# Gen2 EPCs are whole 16-bit words, at most 496 bits (31 words): 124 hex digits.
MAX_EPC_HEX = 124
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# base64 of the longest EPC (62 bytes) is 83 characters without padding.
_MAX_EPC_BASE64 = 84
_STANDARD_ONLY = frozenset("+/")
_URLSAFE_ONLY = frozenset("-_")
_BASE64_CHARS = (
    frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    | _STANDARD_ONLY
    | _URLSAFE_ONLY
)
_TO_URLSAFE = str.maketrans("+/", "-_")


@dataclass(frozen=True)
class ReadLimits:
    """What an adapter accepts: message size, and how far a read's time may be from now."""

    max_bytes: int = 1_000_000
    max_future_us: int = 300_000_000
    max_age_us: int = 604_800_000_000

    @classmethod
    def of(cls, settings: Settings) -> ReadLimits:
        return cls(
            settings.max_message_bytes,
            int(settings.max_future_skew_s * 1_000_000),
            int(settings.max_age_s * 1_000_000),
        )


DEFAULT_LIMITS = ReadLimits()


def load_json(payload: bytes, limits: ReadLimits) -> Any:
    """The parsed payload; InvalidInput (oversized, malformed_json) if it cannot be."""
    if len(payload) > limits.max_bytes:
        raise InvalidInput("oversized", f"{len(payload)} bytes exceeds the limit of {limits.max_bytes}")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("malformed_json", str(exc)) from exc


def read_time(value: Any, name: str, now: int, limits: ReadLimits) -> int:
    """A device timestamp in microseconds, checked against this host's clock ``now``."""
    if not isinstance(value, str) or not value:
        raise InvalidInput("missing_field", f"{name} must be an RFC 3339 timestamp")
    return within_clock(parse_us(value), f"{name} {value}", now, limits.max_future_us, limits.max_age_us)


def epc_hex(value: Any, name: str) -> str:
    """A tag's EPC as upper-case hex (the form every linetrace adapter reports)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput("missing_field", f"{name} must be the EPC in hex")
    if len(value) % 4 or len(value) > MAX_EPC_HEX or not _HEX_DIGITS.issuperset(value):
        raise InvalidInput(
            "bad_epc", f"{name} must be whole 16-bit words of hex, at most {MAX_EPC_HEX} digits: {value!r}"
        )
    return value.upper()


def epc_base64(value: Any, name: str) -> str:
    """A tag's EPC sent in base64, as upper-case hex.

    The Impinj IoT device interface sends base64url (RFC 4648 §5: ``-`` and ``_`` where the
    standard alphabet has ``+`` and ``/``), and padding is optional; the standard alphabet is
    taken too. One value uses one alphabet: a mix of both is ``bad_epc``.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInput("missing_field", f"{name} must be the EPC in base64url")
    digits = value.rstrip("=")
    padding = len(value) - len(digits)
    used = frozenset(digits)
    if (
        not digits
        or len(digits) > _MAX_EPC_BASE64
        or len(digits) % 4 == 1
        or padding > 2
        or (padding and len(value) % 4)
        or not _BASE64_CHARS.issuperset(used)
        or (used & _STANDARD_ONLY and used & _URLSAFE_ONLY)
    ):
        raise InvalidInput("bad_epc", f"{name} is not base64url (or base64): {value!r}")
    decoded = base64.urlsafe_b64decode(digits.translate(_TO_URLSAFE) + "=" * (-len(digits) % 4))
    return epc_hex(decoded.hex(), name)


def positive_int(value: Any, name: str, reason: str = "missing_field") -> int:
    # type() is not isinstance(): JSON true would pass as the integer 1.
    if type(value) is not int or value < 1:
        raise InvalidInput(reason, f"{name} must be a positive integer, got {value!r}")
    return value


def optional_number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if type(value) is not int and type(value) is not float:
        raise InvalidInput("bad_field", f"{name} must be a number, got {value!r}")
    return float(value)


@dataclass
class Rejections:
    """Rejections by reason; each goes to the outlet (dead letter) and, sparingly, to the log."""

    by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def record(self, outlet: Outlet, reader_id: str, error: InvalidInput, payload: bytes) -> None:
        n = self.by_reason.get(error.reason, 0) + 1
        self.by_reason[error.reason] = n
        outlet.reject(reader_id, error.reason, error.detail, payload)
        # The 1st, 10th, 100th... of a reason: a device gone wrong must not flood the log.
        if n == 10 ** (len(str(n)) - 1):
            log.warning("reader %s: rejected %d as %s; latest: %s", reader_id, n, error.reason, error.detail)
