from __future__ import annotations

from dataclasses import fields

import pytest

from ingest.errors import LinetraceError
from ingest.settings import Settings, settings_table


def test_nothing_set_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_values_are_read_with_their_types() -> None:
    settings = Settings.from_env(
        {
            "LINETRACE_PARTITIONS": "8",
            "LINETRACE_DEDUP_WINDOW_S": "2.5",
            "LINETRACE_REORDER_WINDOW_S": "3",
            "LINETRACE_TOPIC_PREFIX": "plant7",
            "PARTITIONS": "99",  # no prefix: not ours
            "LINETRACE_NOT_A_SETTING": "x",
        }
    )

    assert settings.partitions == 8 and isinstance(settings.partitions, int)
    assert settings.dedup_window_s == 2.5
    assert settings.reorder_window_s == 3.0 and isinstance(settings.reorder_window_s, float)
    assert settings.topic_prefix == "plant7"
    assert settings.batch_max == Settings().batch_max


def test_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINETRACE_API_PORT", "9001")

    assert Settings.from_env().api_port == 9001


def test_overrides_win_over_the_environment() -> None:
    settings = Settings.from_env({"LINETRACE_PARTITIONS": "8", "LINETRACE_WORKER_ID": "env"}, partitions=2)

    assert settings.partitions == 2
    assert settings.worker_id == "env"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("LINETRACE_PARTITIONS", "four", id="int in words"),
        pytest.param("LINETRACE_API_PORT", "8765.5", id="int with a fraction"),
        pytest.param("LINETRACE_DEDUP_WINDOW_S", "5s", id="float with a unit"),
        pytest.param("LINETRACE_MAX_MESSAGE_BYTES", "", id="int left empty"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(LinetraceError, match=variable):
        Settings.from_env({variable: value})


def test_to_env_recreates_the_settings() -> None:
    settings = Settings(partitions=3, dedup_window_s=0.25, topic_prefix="x", kafka_sasl_password="s3cret")

    assert Settings.from_env(settings.to_env()) == settings


def test_settings_table_lists_every_field() -> None:
    table = settings_table().splitlines()

    assert table[0] == "| variable | default | meaning |"
    assert len(table) == 2 + len(fields(Settings))
    for f, row in zip(fields(Settings), table[2:], strict=True):
        assert row.startswith(f"| `LINETRACE_{f.name.upper()}` | `{f.default}` | ")
        assert row.endswith(f" {f.metadata['doc']} |")


def test_the_readme_settings_table_is_the_current_one() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "regenerate the README table with `linetrace settings`"


def test_passwords_stay_out_of_the_settings_repr() -> None:
    from ingest.settings import Settings

    s = Settings(
        kafka_sasl_password="k-secret",
        clickhouse_password="c-secret",
        reader_password="r-secret",
        api_token="lt_secret-token",
        clickhouse_dsn="https://linetrace:dsn-secret@ch:8443/?password=q-secret",
    )
    assert "secret" not in repr(s) and "secret" not in str(s)
    assert "clickhouse_dsn='https://linetrace:***@ch:8443/?password=***'" in repr(s)
    assert "api_tokens_file=" in repr(s)


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        pytest.param("chdb://./linetrace-data/clickhouse", "chdb://./linetrace-data/clickhouse", id="chdb"),
        pytest.param("chdb:///var/lib/linetrace", "chdb:///var/lib/linetrace", id="chdb absolute"),
        pytest.param("http://linetrace@ch:8123/", "http://linetrace@ch:8123/", id="user only"),
        pytest.param("https://u:p%40ss@ch:8443/db", "https://u:***@ch:8443/db", id="user and password"),
        pytest.param(
            "https://ch:8443/?ca_cert=/etc/ca.crt&password=x",
            "https://ch:8443/?ca_cert=/etc/ca.crt&password=***",
            id="password in the query",
        ),
    ],
)
def test_a_dsn_is_shown_without_its_password(dsn: str, shown: str) -> None:
    from ingest.settings import redact_dsn

    assert redact_dsn(dsn) == shown
