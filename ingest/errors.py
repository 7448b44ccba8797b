"""One root exception for linetrace; bad input carries a reason that names the fault."""

from __future__ import annotations


class LinetraceError(Exception):
    """Root of every error linetrace raises on purpose."""


class InvalidInput(LinetraceError):
    """A message or value that cannot be accepted; routed to the dead-letter topic.

    ``reason`` is a short, stable code (``malformed_json``, ``unknown_read_point``, ...)
    used as a metric label and stored with the dead-letter record; the message text
    says what exactly was wrong.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class NotReady(LinetraceError):
    """A question the process cannot answer yet (it has not read what it needs); the same
    question later can be answered. ``reason`` as in InvalidInput."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class NotFound(LinetraceError):
    """What a query names does not exist (an item never seen); ``reason`` as in InvalidInput."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(LinetraceError):
    """A plant file or a setting the user wrote is wrong; the command line exits 2 on it."""


class PlantError(ConfigError):
    """The plant file is inconsistent; the message lists every problem found."""


class StorageError(LinetraceError):
    """ClickHouse refused a statement; ``code`` is ClickHouse's own error code when known."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message if code is None else f"[{code}] {message}")
        self.code = code
