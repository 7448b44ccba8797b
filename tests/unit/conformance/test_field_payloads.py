"""linetrace's parsers over payloads written by others (see tests.unit.conformance.corpus):
nothing decodes to a wrong value, nothing crashes, and every rejection is the documented one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.conformance import codes, llrpcases, vendorcases
from tests.unit.conformance.corpus import (
    ENV,
    ROOT,
    VENDOR,
    Outcome,
    all_outcomes,
    corpus_dir,
    counts,
    manifest,
    table,
)

CORPUS = corpus_dir()
needs_corpus = pytest.mark.skipif(
    CORPUS is None,
    reason=f"the field-payloads corpus is not on this machine: put it at ../shared/field-payloads "
    f"beside the repository, or point {ENV} at it",
)


def _clean(outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes, after checking none is wrong or crashed (listed in full if any is)."""
    bad = [o for o in outcomes if o.verdict in ("wrong", "crashed")]
    assert bad == [], "\n" + "\n".join(f"{o.verdict}: {o.case}: {o.detail}" for o in bad)
    return outcomes


@needs_corpus
def test_llrp_reports_captured_from_readers_and_the_llrp_toolkits_files() -> None:
    assert CORPUS is not None
    outcomes = _clean(list(llrpcases.outcomes(CORPUS)))
    c = counts(outcomes)
    reports, others = c[llrpcases.REPORTS], c[llrpcases.MESSAGES]
    # Every tag report of the corpus, each a read or a bad read (no antenna, an EPC that is not
    # whole bytes or longer than 496 bits): 558 TagReportData in 16 files.
    assert (reports["accepted"], reports["rejected"]) == (237, 321)
    rejected = {o.detail.split(":")[0] for o in outcomes if o.verdict == "rejected"}
    assert rejected == {"bad_read"}
    # Antenna events, reader exceptions, report buffer warnings and overflows, ROSpec events,
    # GPI: reader health. Hopping and connection events, commands and responses: no reads.
    assert others["health"] == 271 and others["accepted"] == 1413


@needs_corpus
def test_epcs_from_other_epc_libraries_tests_through_every_adapter() -> None:
    assert CORPUS is not None
    outcomes = _clean(list(codes.epc_outcomes(CORPUS)))
    assert len(outcomes) == len(manifest(CORPUS, "epc.json"))
    assert {o.verdict for o in outcomes} == {"accepted"}


@needs_corpus
def test_gs1_scan_data_digital_links_and_element_strings_through_both_barcode_paths() -> None:
    assert CORPUS is not None
    outcomes = _clean(list(codes.gs1_outcomes(CORPUS)))
    entries = manifest(CORPUS, "gs1.json")
    assert len(outcomes) == len(entries)
    expected = {e["id"]: "rejected" if e["expect"] is None else "accepted" for e in entries}
    assert {o.case: o.verdict for o in outcomes} == expected


def test_the_makers_published_event_shapes() -> None:
    outcomes = _clean(list(vendorcases.outcomes(VENDOR)))
    c = counts(outcomes)
    makers = json.loads((VENDOR / "maker_cases.json").read_text())
    assert sum(c["maker_cases.json"].values()) == len(makers)
    assert c["maker_cases.json"]["health"] == sum("health" in m["expect"] for m in makers)
    assert c["impinj_rejects.json"]["rejected"] == 15 and c["zebra_rejects.json"]["rejected"] == 17


# The section of docs/readers.md that says what each adapter accepts and rejects.
SECTIONS = {"llrp": "## LLRP", "impinj": "## Impinj", "zebra": "## Zebra", "barcode": "## Barcode scanners"}


def _adapter(o: Outcome) -> str:
    if o.file == "maker_cases.json":
        return o.case.split("-")[0]
    source = next(s for s in ("llrp", "gs1", "impinj", "zebra") if o.file.startswith(s))
    return "barcode" if source == "gs1" else source


def _section(docs: str, adapter: str) -> str:
    start = docs.index("\n" + SECTIONS[adapter])
    end = docs.find("\n## ", start + 1)
    return docs[start : end if end > 0 else None]


def test_every_rejection_carries_a_reason_docs_readers_md_names_for_its_adapter() -> None:
    docs = (ROOT / "docs" / "readers.md").read_text()
    rejected = {
        (_adapter(o), o.detail.split(":")[0]) for o in all_outcomes(CORPUS) if o.verdict == "rejected"
    }
    assert len(rejected) >= 10
    undocumented = sorted((a, r) for a, r in rejected if f"`{r}`" not in _section(docs, a))
    assert undocumented == []


def test_the_corpus_is_found_where_the_environment_points(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    assert corpus_dir() is None  # no manifests there
    for name in ("llrp.json", "epc.json", "gs1.json"):
        (tmp_path / name).write_text("[]")
    assert corpus_dir() == tmp_path


@needs_corpus
def test_the_counts_print_as_a_table() -> None:
    assert CORPUS is not None
    printed = table(codes.gs1_outcomes(CORPUS))
    assert printed.splitlines()[1].split() == ["gs1.json", "19", "8", "0", "0", "0"]
