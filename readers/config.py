"""The ``readers`` section of the plant file: which device each reader is and how to reach it.

```yaml
readers:
  - {reader: R-CUT-1, kind: llrp, host: 10.0.0.21, port: 5084, antennas: [1, 2], cycle_s: 0.5}
  - {reader: IMPINJ-7, kind: impinj, url: "https://10.0.0.7/api/v1/data/stream"}
  - {reader: ZEBRA-3, kind: zebra, listen: "127.0.0.1:8090"}
  - {reader: SCAN-QC-1, kind: barcode_tcp, listen: "127.0.0.1:9100"}
  - {reader: HANDHELD-1, kind: barcode_http, listen: "127.0.0.1:9101"}
```

A reader's site and line come from its read points: every reader named here must have read
points, all on one line. Every problem is listed in one PlantError, as for the plant itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.errors import PlantError
from ingest.plant import Plant

KINDS = ("llrp", "impinj", "zebra", "barcode_tcp", "barcode_http")
# Options each kind takes, with their defaults (None: required). heartbeat_s is how often the
# reader shows it is alive: the heartbeat interval set in the Zebra IoT Connector's management
# events, the Impinj stream's keepAliveIntervalSeconds (below idle_timeout_s).
OPTIONS: dict[str, dict[str, Any]] = {
    "llrp": {"host": None, "port": 5084, "antennas": [], "cycle_s": 0.5, "ro_spec_id": 1},
    "impinj": {
        "url": None,
        "cycle_s": 0.5,
        "username": "",
        "ca_file": "",
        "idle_timeout_s": 60,
        "heartbeat_s": 30,
    },
    "zebra": {"listen": "127.0.0.1:8090", "cycle_s": 0.5, "heartbeat_s": 60},
    "barcode_tcp": {"listen": "127.0.0.1:9100", "cycle_s": 0.2, "antenna": 0, "operator": ""},
    "barcode_http": {"listen": "127.0.0.1:9101", "cycle_s": 0.2},
}


@dataclass(frozen=True)
class ReaderSpec:
    reader: str
    kind: str
    site: str
    line: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cycle_us(self) -> int:
        return int(float(self.options["cycle_s"]) * 1_000_000)


def parse_readers(plant: Plant) -> list[ReaderSpec]:
    """The plant file's ``readers`` section, validated against its read points."""
    raw = plant.raw.get("readers") or []
    problems: list[str] = []
    if not isinstance(raw, list):
        raise PlantError("plant: 'readers' must be a list")
    lines_of: dict[str, set[tuple[str, str]]] = {}
    for (point_reader, _), station in plant.read_points.items():
        lines_of.setdefault(point_reader, set()).add((station.site, station.line))
    specs: list[ReaderSpec] = []
    seen: set[str] = set()
    for entry in raw:
        if not isinstance(entry, dict):
            problems.append(f"readers: an entry must be a mapping: {entry!r}")
            continue
        reader, kind = entry.get("reader"), entry.get("kind")
        where = f"readers: {reader!r}"
        if not isinstance(reader, str) or not reader:
            problems.append(f"readers: an entry needs a reader name: {entry!r}")
            continue
        if reader in seen:
            problems.append(f"{where} is listed twice")
        seen.add(reader)
        if kind not in KINDS:
            problems.append(f"{where} kind must be one of {', '.join(KINDS)}, got {kind!r}")
            continue
        places = lines_of.get(reader, set())
        if len(places) != 1:
            problems.append(f"{where} needs read points on exactly one line (has {len(places)})")
            continue
        (site, line) = next(iter(places))
        options = dict(OPTIONS[kind])
        unknown = sorted(set(entry) - set(options) - {"reader", "kind"})
        if unknown:
            problems.append(f"{where} ({kind}) has unknown options {unknown}")
        options.update({k: v for k, v in entry.items() if k in options})
        missing = [k for k, v in options.items() if v is None]
        if missing:
            problems.append(f"{where} ({kind}) needs {missing}")
        cycle = options.get("cycle_s")
        if not isinstance(cycle, int | float) or isinstance(cycle, bool) or not 0 < cycle <= 60:
            problems.append(f"{where} cycle_s must be a number of seconds in (0, 60], got {cycle!r}")
        beat = options.get("heartbeat_s", 1)
        if not isinstance(beat, int | float) or isinstance(beat, bool) or not 0 < beat <= 3600:
            problems.append(f"{where} heartbeat_s must be a number of seconds in (0, 3600], got {beat!r}")
        if "listen" in options and not _is_listen(options["listen"]):
            problems.append(f"{where} listen must be host:port, got {options['listen']!r}")
        if kind == "barcode_tcp":
            problems += _antenna_problems(where, reader, options["antenna"], plant)
        specs.append(ReaderSpec(reader, kind, site, line, options))
    if problems:
        raise PlantError("invalid readers section:\n  " + "\n  ".join(problems))
    return specs


def _antenna_problems(where: str, reader: str, antenna: Any, plant: Plant) -> list[str]:
    """A fixed scanner reports every scan on its ``antenna``: without a read point there, the
    worker would dead-letter every scan as ``unknown_read_point``."""
    antennas = sorted(a for r, a in plant.read_points if r == reader)
    if not isinstance(antenna, int) or isinstance(antenna, bool):
        return [f"{where} antenna must be a whole number, got {antenna!r}"]
    if antenna not in antennas:
        return [
            f"{where} antenna {antenna} has no read point: its read points are on antennas "
            f"{', '.join(map(str, antennas))}, and every scan on antenna {antenna} would be "
            "dead-lettered as unknown_read_point"
        ]
    return []


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host, int(port)


def _is_listen(value: Any) -> bool:
    if not isinstance(value, str) or ":" not in value:
        return False
    host, port = value.rsplit(":", 1)
    return bool(host) and port.isdigit() and 0 <= int(port) < 65536
