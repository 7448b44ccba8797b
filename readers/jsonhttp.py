"""The HTTP handler base of the reader endpoints that devices POST to (Zebra, barcode batches)."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler
from typing import Any

import orjson

from readers.auth import Headers


class JsonHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 that answers JSON."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the sender's
    # delayed ACK (~40 ms on Linux): 23 POSTs/s instead of hundreds.
    disable_nagle_algorithm = True

    def _answer(self, status: int, answer: dict[str, Any], headers: Headers = ()) -> None:
        body = orjson.dumps(answer)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger(type(self).__module__).debug("%s " + format, self.address_string(), *args)
