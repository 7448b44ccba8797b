"""Who may post to the readers' HTTP endpoints (the Zebra IoT Connector receiver and the
barcode batch endpoint).

A device presents a token of the tokens file (``LINETRACE_API_TOKENS_FILE``, the one the
query API reads): ``Authorization: Bearer <token>``, or HTTP Basic with the token as the
password (the user name is not checked). The token's scope must cover the site and line of
the reader it posts for. No known token: 401 with a Bearer and a Basic challenge; a token of
another site or line: 403. There is no switch to turn this off: without a tokens file every
post gets 401.

``authenticate`` and ``check_scope`` decide, with no I/O. ``ReaderGate`` asks them with the
tokens file as it is now, counts each refusal in ``linetrace_reader_rejections_total``
(``unauthorized``, ``forbidden``) and logs it, never the token. A refused post is not
dead-lettered: nothing a sender without a valid token sends is spooled or stored, so it can
neither fill the spool nor hold real reports back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry

from ingest.tokens import Token, find_token, presented_token
from readers.forwarder import ReaderMetrics

log = logging.getLogger(__name__)

REALM = "linetrace"  # the query API's realm: the same tokens
UNAUTHORIZED, FORBIDDEN = "unauthorized", "forbidden"
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Admission:
    """What the gate says to one post: 200 (the token may post), 401 or 403, and why."""

    status: int
    token: Token | None = None
    reason: str = ""
    detail: str = ""
    headers: Headers = ()

    @property
    def admitted(self) -> bool:
        return self.status == 200


def challenges(invalid: bool) -> Headers:
    """``WWW-Authenticate`` for a 401: Bearer (``error="invalid_token"`` when a token was
    presented and is not known, RFC 6750) and Basic, one header each."""
    bearer = f'Bearer realm="{REALM}"' + (', error="invalid_token"' if invalid else "")
    return (("WWW-Authenticate", bearer), ("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'))


def authenticate(header: str | None, tokens: Iterable[Token]) -> Admission:
    """The token an ``Authorization`` header presents, if the tokens file knows it (else 401)."""
    presented = presented_token(header)
    token = find_token(tokens, presented) if presented else None
    if token is not None:
        return Admission(200, token)
    if presented:
        detail = "unknown token"
    elif header:
        detail = "unreadable Authorization header: send Bearer <token> or Basic with the token as password"
    else:
        detail = "send Authorization: Bearer <token> (or Basic with the token as password)"
    return Admission(401, None, UNAUTHORIZED, detail, challenges(invalid=bool(header)))


def check_scope(token: Token, site: str, line: str) -> Admission:
    """Whether the token may post reads of this site and line (else 403)."""
    if token.scope.covers(site, line):
        return Admission(200, token)
    detail = f"token {token.name} grants {token.scope}, not site {site} line {line}"
    return Admission(403, token, FORBIDDEN, detail)


def admit(header: str | None, tokens: Iterable[Token], site: str, line: str) -> Admission:
    """``authenticate``, then ``check_scope`` for the reader's site and line."""
    admission = authenticate(header, tokens)
    if admission.token is None:
        return admission
    return check_scope(admission.token, site, line)


class ReaderGate:
    """The readers' HTTP endpoints ask here whether a post may come in.

    ``tokens`` gives the tokens as they are now (``ingest.tokenfile.TokenFile.current``, which
    reads the file again when it changes). Refusals are counted in the registry's reader
    metrics and logged: the 1st, 10th, 100th... of a reader and reason, so a device with a
    wrong token does not flood the log.
    """

    def __init__(self, tokens: Callable[[], Sequence[Token]], registry: CollectorRegistry | None = None):
        self.tokens = tokens
        self.metrics = ReaderMetrics.of(REGISTRY if registry is None else registry)
        self._refused: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def admit(self, source: str, peer: str, header: str | None, site: str, line: str) -> Admission:
        """For an endpoint that knows its reader's site and line before reading the body."""
        return self._count(source, peer, admit(header, self.tokens(), site, line))

    def authenticate(self, source: str, peer: str, header: str | None) -> Admission:
        """For an endpoint that learns the site and line from the body: ``check_scope`` next."""
        return self._count(source, peer, authenticate(header, self.tokens()))

    def check_scope(self, source: str, peer: str, token: Token, site: str, line: str) -> Admission:
        return self._count(source, peer, check_scope(token, site, line))

    def _count(self, source: str, peer: str, admission: Admission) -> Admission:
        if admission.admitted:
            return admission
        self.metrics.rejections.labels(admission.reason).inc()
        with self._lock:
            n = self._refused[(source, admission.reason)] = (
                self._refused.get((source, admission.reason), 0) + 1
            )
        if n == 10 ** (len(str(n)) - 1):
            log.warning(
                "reader %s: refused %d posts as %s (%d); latest from %s: %s",
                source,
                n,
                admission.reason,
                admission.status,
                peer or "?",
                admission.detail,
            )
        return admission
