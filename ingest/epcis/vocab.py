"""The CBV 2.0 words a plant file may name, and URIs where it names its own.

The lists are CBV 2.0's business steps (§7.1) and dispositions (§7.2) as the vendored EPCIS
2.0 JSON Schema enumerates them (tests/unit/ingest/test_epcis_vocab.py checks they agree).
"""

from __future__ import annotations

import re

BIZ_STEPS = (
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting", "installing",
    "killing", "loading", "other", "packing", "picking", "receiving", "removing", "repackaging",
    "repairing", "replacing", "reserving", "retail_selling", "shipping", "staging_outbound",
    "stock_taking", "stocking", "storing", "transporting", "unloading", "unpacking", "void_shipping",
    "sensor_reporting", "sampling",
)  # fmt: skip

# The dispositions linetrace gives (see ingest.epcis.mapping).
IN_PROGRESS, NON_CONFORMANT, IN_TRANSIT = "in_progress", "non_conformant", "in_transit"

# An absolute URI (RFC 3986 §3: a scheme, a colon, no spaces): a plant's own business step,
# read point or business location. The exported document is validated as a whole anyway.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


def is_uri(text: str) -> bool:
    return bool(_URI.match(text))


def biz_step_problem(value: object) -> str | None:
    """Why ``value`` is no business step (a bare CBV 2.0 word or a URI), or None."""
    if isinstance(value, str) and (value in BIZ_STEPS or (":" in value and is_uri(value))):
        return None
    return f"business step must be a CBV 2.0 word ({', '.join(BIZ_STEPS)}) or a URI, got {value!r}"
