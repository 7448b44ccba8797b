"""Runs a linetrace subcommand with test-only patches: named crash points and protections
switched off (negative controls). Production code carries no kill switches; the fault tests
start processes through this module instead of ``ingest.cli``.

``LINETRACE_TEST_PATCHES`` names the patches, comma separated, each ``name`` or
``name:argument``; a patch is the function ``patch_<name>`` of one of PATCH_MODULES.

    LINETRACE_TEST_PATCHES=kill_after_ship:3 python -m tests.integration.faults.launcher worker
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

PATCH_MODULES = ("tests.integration.faults.patches", "tests.integration.faults.patches_edge")


def find_patch(name: str) -> Callable[..., None]:
    for module_name in PATCH_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        patch: Any = getattr(module, f"patch_{name}", None)
        if patch is not None:
            return patch
    raise SystemExit(f"launcher: no test patch named {name!r}")


def apply_patches(spec: str) -> list[str]:
    applied = []
    for item in filter(None, (p.strip() for p in spec.split(","))):
        name, _, argument = item.partition(":")
        patch = find_patch(name)
        patch(argument) if argument else patch()
        applied.append(item)
    return applied


def main() -> int:
    applied = apply_patches(os.environ.get("LINETRACE_TEST_PATCHES", ""))
    print(f"launcher: test patches {applied}", file=sys.stderr, flush=True)
    from ingest.cli import main as linetrace

    return linetrace(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
