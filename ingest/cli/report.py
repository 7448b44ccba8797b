"""Readable output for people: aligned tables and the end-of-run summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from ingest.timefmt import answer_json


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, datetime):
        return str(orjson.loads(answer_json(value)))
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """Rows as aligned columns; rows of different kinds (blocked jobs: blockers and holds) show
    every column any of them has."""
    if not rows:
        return "  (none)"
    columns = columns or list(dict.fromkeys(c for r in rows for c in r))
    cells = [[_cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  " + "  ".join("-" * w for w in widths))
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def answer_text(name: str, answer: Any) -> str:
    """A query's answer for people: rows as a table; an answer of one mapping (``trace``,
    ``progress``) as its single values, then a table under a heading for each list of rows."""
    if name == "summary" and isinstance(answer, dict):
        return summary_text(answer)
    if isinstance(answer, list):
        if all(isinstance(r, dict) for r in answer):
            return table(answer)
        return "\n".join(f"  {_cell(v)}" for v in answer) or "  (none)"
    if not isinstance(answer, dict):
        return f"  {_cell(answer)}"
    lists = {k: v for k, v in answer.items() if isinstance(v, list)}
    values = {k: v for k, v in answer.items() if k not in lists}
    out = [table([values])] if values else []
    for key, rows in lists.items():
        out += [key.upper().replace("_", " "), answer_text(key, rows)]
    return "\n".join(out) or "  (none)"


def summary_text(s: dict[str, Any]) -> str:
    reads, items, passes = s["reads"], s["items"], s["passes"]
    out = [
        "READS",
        f"  {reads['reads'] or 0} reads in {reads['reports'] or 0} reader cycles"
        f" ({reads['raw_reads'] or 0} raw tag singulations)",
        "ITEMS",
        f"  {items['items']} items seen: {items['in_process']} in process, {items['complete']} complete,"
        f" {items['assembled']} assembled into a parent, {items['unknown']} unknown",
        "PASSES",
        f"  {passes['passes']} passes: {passes['movements']} movements,"
        f" {passes['passes'] - passes['movements']} violations",
        "VIOLATIONS BY TYPE",
        table(s["violations_by_type"]),
        "LATEST SKIPPED STAGES (p_missed_read: the chance the portal only missed the read)",
        table(s.get("skipped_stages", []), ["time", "item", "stage", "missing", "p_missed_read"]),
        "WIP BY STAGE",
        table(s["wip_by_stage"]),
        "PORTAL READ RATES (items seen downstream of each stage, and read there)",
        table(s.get("read_rates", [])),
        "THROUGHPUT BY STATION (passes)",
        table(s["throughput_by_station"]),
        "DEAD LETTERS",
        table(s["dead_letters"]),
        "GENEALOGY",
    ]
    trace = s.get("genealogy") or {}
    if trace:
        out.append(f"  {trace['item']} was assembled from:")
        out.append(table(trace["down"], ["depth", "item", "station", "time", "product", "stage", "status"]))
    else:
        out.append("  (no assemblies recorded)")
    return "\n".join(out)
