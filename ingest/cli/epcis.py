"""``linetrace epcis export ITEM --up|--down [--out FILE]``: a recall's scope as an EPCIS 2.0
document, through the running sink's API (``GET /epcis/export``) or from the store itself."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from ingest.errors import LinetraceError
from ingest.httpserver import client_context
from ingest.settings import Settings


def add_epcis_parsers(sub: Any) -> None:
    epcis = sub.add_parser("epcis", help="EPCIS 2.0 documents of the trace (docs/epcis.md)")
    actions = epcis.add_subparsers(required=True, metavar="ACTION")
    ex = actions.add_parser("export", help="an item's recall scope as an EPCISDocument (JSON-LD)")
    ex.add_argument("item", help="item key")
    direction = ex.add_mutually_exclusive_group(required=True)
    direction.add_argument("--up", dest="direction", action="store_const", const="up", help="what it is in")
    direction.add_argument(
        "--down", dest="direction", action="store_const", const="down", help="what is in it"
    )
    ex.add_argument("--site", default="", help="only this site")
    ex.add_argument("--line", default="", help="only this line (with --site)")
    ex.add_argument("--out", type=Path, default=None, help="write it to this file (default: standard output)")
    ex.set_defaults(func=_export)


def _export(args: argparse.Namespace, settings: Settings) -> None:
    body = export_document(settings, args.item, args.direction, args.site, args.line)
    if args.out is None:
        sys.stdout.buffer.write(body + b"\n")
        return
    args.out.write_bytes(body + b"\n")
    events = len(orjson.loads(body)["epcisBody"]["eventList"])
    print(f"{events} EPCIS events of {args.item} written to {args.out}", file=sys.stderr)


def export_document(settings: Settings, item: str, direction: str, site: str = "", line: str = "") -> bytes:
    from ingest.cli.queryclient import api_url

    params = {"item": item, "direction": direction, "site": site, "line": line}
    url = api_url(settings)
    if url is not None:
        return _through_api(settings, url, params)
    from ingest.plantpub import fetch_plant
    from ingest.timefmt import answer_json
    from storage.client import connect
    from storage.epcisexport import export

    plant = fetch_plant(settings, wait_s=10.0)
    store = connect(settings)
    try:
        doc = export(store, plant, item, direction, site, line)
    finally:
        store.close()
    if not doc["epcisBody"]["eventList"]:
        raise LinetraceError(f"unknown item: no events of {item!r}")
    return answer_json(doc, indent=True)


def _through_api(settings: Settings, url: str, params: dict[str, str]) -> bytes:
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    request = urllib.request.Request(f"{url}/epcis/export?{urllib.parse.urlencode(params)}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60, context=client_context(settings)) as resp:
            return orjson.dumps(orjson.loads(resp.read()), option=orjson.OPT_INDENT_2)
    except urllib.error.HTTPError as exc:
        from ingest.cli.queryclient import _api_error, _error_body

        raise _api_error(exc.code, _error_body(exc)) from exc
