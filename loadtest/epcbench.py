"""EPC decoding cost: microseconds per ``item_key`` call for each scheme, as one JSON object.

Each scheme gets ``--count`` EPCs (default 100k) spread over every partition and filter
value with random fields, built by the encoders; the hex fallback gets tags of other
headers. The clock covers ``item_key`` over the whole list, the best of ``--repeat`` runs.
epcpy (a dev dependency) decodes the same SGTIN-96 list for comparison, and its URIs are
checked against ours.

    .venv/bin/python -m loadtest.epcbench [--count N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from ingest.epc import (
    encode_giai96,
    encode_grai96,
    encode_sgln96,
    encode_sgtin96,
    encode_sscc96,
    item_key,
)
from ingest.errors import LinetraceError

# Company prefix bits per partition (12-digit prefix first), for the largest GIAI asset ref.
_COMPANY_BITS = {12: 40, 11: 37, 10: 34, 9: 30, 8: 27, 7: 24, 6: 20}


def _digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}" if n else ""


def _epc(scheme: str, rng: random.Random) -> str:
    cp_digits = rng.randint(6, 12)
    company = _digits(rng, cp_digits)
    filter_value = rng.randrange(8)
    if scheme == "sgtin96":
        return encode_sgtin96(company, _digits(rng, 13 - cp_digits), rng.randrange(1 << 38), filter_value)
    if scheme == "sscc96":
        return encode_sscc96(company, _digits(rng, 17 - cp_digits), filter_value)
    if scheme == "sgln96":
        return encode_sgln96(company, _digits(rng, 12 - cp_digits), rng.randrange(1 << 41), filter_value)
    if scheme == "grai96":
        return encode_grai96(company, _digits(rng, 12 - cp_digits), rng.randrange(1 << 38), filter_value)
    if scheme == "giai96":
        return encode_giai96(company, rng.randrange(1 << (82 - _COMPANY_BITS[cp_digits])), filter_value)
    # Tags item_key keeps as hex: TIDs, GID-96, unprogrammed tags, other lengths.
    return rng.choice(["E2", "35", "00"]) + f"{rng.getrandbits(88):022X}"


SCHEMES = ("sgtin96", "sscc96", "sgln96", "grai96", "giai96", "hex_fallback")


def _us_per_call(decode: Callable[[str], Any], epcs: Sequence[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for epc in epcs:
            decode(epc)
        best = min(best, time.perf_counter_ns() - start)
    return round(best / len(epcs) / 1_000, 3)


def _epcpy_figures(epcs: Sequence[str], ours: Sequence[str]) -> dict[str, Any]:
    try:
        from epcpy.utils.parsers import hex_to_tag_encodable
    except ImportError:
        return {"epcpy_sgtin96_us": None, "epcpy_note": "epcpy is not installed (pip install -e '.[dev]')"}

    def decode(epc: str) -> str:
        return str(hex_to_tag_encodable(epc).epc_uri)

    us = _us_per_call(decode, epcs, 1)
    mismatches = sum(decode(e) != k for e, k in zip(epcs, ours, strict=True))
    return {"epcpy_sgtin96_us": us, "epcpy_sgtin96_mismatches": mismatches}


def run(count: int, repeat: int, seed: int = 96) -> dict[str, Any]:
    rng = random.Random(seed)
    inputs = {scheme: [_epc(scheme, rng) for _ in range(count)] for scheme in SCHEMES}
    for scheme, epcs in inputs.items():
        decoded = sum(not item_key(e).startswith("hex:") for e in epcs)
        expected = 0 if scheme == "hex_fallback" else count
        if decoded != expected:
            raise LinetraceError(f"{scheme}: {decoded} of {count} EPCs decoded, expected {expected}")
    result: dict[str, Any] = {
        "count_per_scheme": count,
        "python": platform.python_version(),
        "us_per_decode": {scheme: _us_per_call(item_key, epcs, repeat) for scheme, epcs in inputs.items()},
    }
    mixed = [e for epcs in inputs.values() for e in epcs]
    random.Random(seed).shuffle(mixed)
    result["us_per_decode"]["mixed"] = _us_per_call(item_key, mixed, repeat)
    sgtin = inputs["sgtin96"]
    result.update(_epcpy_figures(sgtin, [item_key(e) for e in sgtin]))
    if result["epcpy_sgtin96_us"]:
        result["epcpy_over_ours_sgtin96"] = round(
            result["epcpy_sgtin96_us"] / result["us_per_decode"]["sgtin96"], 1
        )
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000, help="EPCs per scheme")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per scheme; the best is kept")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.count, args.repeat)))


if __name__ == "__main__":
    main()
