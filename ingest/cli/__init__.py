"""The entry layer: the ``linetrace`` command (``commands.py``), the event and plant
commands, the one local stack (``stack.py``) the demo, the bench, the load test and the
integration tests run, the demo, the state restore, the query client and its reports. It
imports everything else; nothing below the entry points imports it."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """``linetrace ARGS`` (the console script); the command's modules load only when it runs."""
    from ingest.cli.commands import main as run

    return run(argv)
