from __future__ import annotations

from ingest.settings import Settings
from storage.retention import TRACE_TABLES, retention_plan


def test_read_cycles_expire_sooner_than_the_trace_by_default() -> None:
    plan = retention_plan(Settings())
    assert plan["read_cycles"] == ("cycle_start", 90)
    assert {plan[t][1] for t in TRACE_TABLES} == {0}  # the trace is kept until an operator decides


def test_the_trace_retention_is_one_setting() -> None:
    plan = retention_plan(Settings(retention_trace_days=3650))
    assert plan["passes"] == ("first_seen", 3650) and plan["links"] == ("time", 3650)
