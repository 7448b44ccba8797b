"""linetrace's parsers over payloads its authors did not write: the field-payloads corpus (LLRP
reports captured from readers and the LLRP Toolkit's test files, EPCs from other EPC
libraries' tests, GS1 scan data from the GS1 Syntax Engine's tests) and the makers' published
event shapes (``tests/data/vendor``).

Every payload goes in as a plant would feed it (LLRP messages through llrpkit and the
adapter's ``observation_of``, JSON events through the Impinj and Zebra parsers, codes through
the barcode TCP line and HTTP batch paths) and comes out with one verdict:

- ``accepted``: a read (or scan) with the expected item key and values;
- ``rejected``: refused with the reason linetrace documents for it;
- ``health``: reader status, taken as health (never a dead letter);
- ``wrong``: a key or value other than expected, or a rejection that should not be;
- ``crashed``: an exception no parser should let out.

The corpus is read where it lies (``$FIELD_PAYLOADS``, else ``shared/field-payloads`` beside
the repository) and never copied: some of its LLRP data comes from a GPL-3.0 project's tests.
``python -m tests.unit.conformance.corpus`` prints the counts.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
VENDOR = ROOT / "tests" / "data" / "vendor"
ENV = "FIELD_PAYLOADS"
VERDICTS = ("accepted", "rejected", "health", "wrong", "crashed")


def corpus_dir() -> Path | None:
    """The corpus folder, or None when it is not on this machine."""
    named = os.environ.get(ENV)
    path = Path(named) if named else ROOT.parent / "shared" / "field-payloads"
    return path if all((path / f).is_file() for f in ("llrp.json", "epc.json", "gs1.json")) else None


@dataclass(frozen=True)
class Outcome:
    file: str
    case: str
    verdict: str
    detail: str = ""


def manifest(root: Path, name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((root / name).read_text())
    return entries


def judged(file: str, case: str, judge: Callable[[], tuple[str, str]]) -> Outcome:
    """The verdict of one payload; any exception is a crash."""
    try:
        verdict, detail = judge()
    except Exception as exc:  # the point: nothing may escape a parser
        return Outcome(file, case, "crashed", f"{type(exc).__name__}: {exc}")
    return Outcome(file, case, verdict, detail)


def counts(outcomes: Iterable[Outcome]) -> dict[str, Counter[str]]:
    by_file: dict[str, Counter[str]] = {}
    for o in outcomes:
        by_file.setdefault(o.file, Counter())[o.verdict] += 1
    return by_file


def all_outcomes(root: Path | None) -> Iterator[Outcome]:
    from tests.unit.conformance import codes, llrpcases, vendorcases

    if root is not None:
        yield from llrpcases.outcomes(root)
        yield from codes.epc_outcomes(root)
        yield from codes.gs1_outcomes(root)
    yield from vendorcases.outcomes(VENDOR)


def table(outcomes: Iterable[Outcome]) -> str:
    rows = [f"{'file':<28}" + "".join(f"{v:>10}" for v in VERDICTS)]
    for file, c in sorted(counts(outcomes).items()):
        rows.append(f"{file:<28}" + "".join(f"{c[v]:>10}" for v in VERDICTS))
    return "\n".join(rows)


def base64_hex(value: str) -> str:
    """Standard base64 (Go's encoding of bytes in JSON, as EdgeX writes it) to upper-case hex."""
    return base64.b64decode(value).hex().upper()


def iso_us(value: str) -> int:
    """An LTK XML timestamp (ISO 8601 with offset, or microseconds) in microseconds."""
    from ingest.timefmt import parse_us

    return int(value) if re.fullmatch(r"\d+", value) else parse_us(value)


if __name__ == "__main__":
    found = corpus_dir()
    print(f"corpus: {found or f'absent (set {ENV})'}")
    print(table(all_outcomes(found)))
