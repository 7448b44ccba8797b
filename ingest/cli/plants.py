"""``linetrace plant``: check a plant file, publish it to the workers, or print its JSON Schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from ingest.errors import ConfigError
from ingest.settings import Settings


def add_plant_parser(sub: Any) -> None:
    """The ``plant`` subcommand on ``sub`` (the main parser's subparsers)."""
    plant = sub.add_parser(
        "plant", help="check or publish a plant file, or print the plant file's JSON Schema"
    )
    plant.add_argument(
        "action",
        choices=["check", "publish", "schema"],
        help="schema: the JSON Schema editors complete plant files with",
    )
    plant.add_argument("file", type=Path, nargs="?", help="the plant file (check, publish)")
    plant.set_defaults(func=run_plant)


def run_plant(args: argparse.Namespace, settings: Settings) -> None:
    if args.action == "schema":
        from ingest.plantschema import plant_json_schema

        sys.stdout.write(orjson.dumps(plant_json_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if args.file is None:
        raise ConfigError(f"plant {args.action} needs a plant file")
    from ingest.plant import load_plant

    plant = load_plant(args.file)
    print(
        f"{args.file}: {len(plant.lines)} lines, {len(plant.read_points)} read points, "
        f"{len(plant.products)} products"
    )
    if args.action == "publish":
        from ingest.plantpub import publish_plant

        publish_plant(settings, plant)
        print("published")
