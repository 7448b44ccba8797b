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
        pytest.param("LINETRACE_PUBLIC_BASE_URL", "linetrace.plant:8765", id="address without scheme"),
        pytest.param("LINETRACE_DIGITAL_LINK_DOMAIN", "", id="digital link domain left empty"),
        pytest.param("LINETRACE_DIGITAL_LINK_DOMAIN", "https://id.gs1.org/?x=1", id="domain with a query"),
        pytest.param("LINETRACE_SESSION_HOURS", "0", id="sessions that never last"),
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


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("LINETRACE_DEDUP_WINDOW_S", "-1", "=-1.0 must not be negative", id="dedup window"),
        pytest.param("LINETRACE_REORDER_WINDOW_S", "-0.5", "=-0.5 must not be negative", id="reorder window"),
        pytest.param("LINETRACE_BATCH_MAX", "-10", "=-10 must be at least 1", id="batch size"),
        pytest.param("LINETRACE_SINK_BATCH_ROWS", "0", "=0 must be at least 1", id="sink batch of none"),
        pytest.param("LINETRACE_API_RATE_PER_S", "-2", "=-2.0 must not be negative", id="rate"),
        pytest.param("LINETRACE_BATCH_WAIT_S", "nan", "=nan must be a finite number", id="not a number"),
        pytest.param("LINETRACE_MAX_AGE_S", "inf", "=inf must be a finite number", id="infinite"),
        pytest.param("LINETRACE_API_PORT", "70000", "=70000 must be a port number (0-65535)", id="port"),
        pytest.param(
            "LINETRACE_LOG_LEVEL",
            "verbose",
            "='verbose' must be one of debug, info, warning, error",
            id="log level",
        ),
    ],
)
def test_a_value_out_of_range_is_refused_naming_its_variable(variable: str, value: str, message: str) -> None:
    from ingest.settings import SettingsError

    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})

    assert str(raised.value) == variable + message


def test_what_may_be_zero_or_negative_is_taken() -> None:
    settings = Settings.from_env(
        {
            "LINETRACE_RETENTION_TRACE_DAYS": "-1",
            "LINETRACE_DEDUP_WINDOW_S": "0",
            "LINETRACE_API_RATE_PER_S": "0",
            "LINETRACE_METRICS_PORT": "0",
            "LINETRACE_LOG_LEVEL": "DEBUG",
        }
    )

    assert (settings.retention_trace_days, settings.dedup_window_s, settings.log_level) == (-1, 0.0, "DEBUG")


def test_overrides_are_checked_too() -> None:
    from ingest.settings import SettingsError

    with pytest.raises(SettingsError, match="LINETRACE_BATCH_MAX=0 must be at least 1"):
        Settings().with_(batch_max=0)


def test_unknown_variables_are_named_with_the_closest_setting() -> None:
    from ingest.settings import unknown_variables

    env = {
        "LINETRACE_DEDUP_WINDOW": "3",
        "LINETRACE_KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "LINETRACE_XYZZY": "1",
        "LINETRACE_API_PORT": "9000",
        "LINETRACE_LOADTEST_PLANT": "plant.yaml",
        "DEDUP_WINDOW_S": "3",
    }

    assert unknown_variables(env) == [
        "LINETRACE_DEDUP_WINDOW is not a linetrace setting; did you mean LINETRACE_DEDUP_WINDOW_S?",
        "LINETRACE_KAFKA_BOOTSTRAP_SERVERS is not a linetrace setting; "
        "did you mean LINETRACE_KAFKA_BOOTSTRAP?",
        "LINETRACE_XYZZY is not a linetrace setting (`linetrace settings` lists them)",
    ]


def test_the_command_line_refuses_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest.cli import main

    monkeypatch.setenv("LINETRACE_REORDER_WINDOW_S", "-1")

    assert main(["settings"]) == 2
    assert capsys.readouterr().err == "linetrace: LINETRACE_REORDER_WINDOW_S=-1.0 must not be negative\n"


def test_the_command_line_warns_of_an_unknown_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ingest.cli import main

    monkeypatch.setenv("LINETRACE_LOG_LEVL", "debug")

    assert main(["settings"]) == 0
    assert (
        "LINETRACE_LOG_LEVL is not a linetrace setting; did you mean LINETRACE_LOG_LEVEL?" in caplog.messages
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from ingest.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"linetrace {version('linetrace')}\n"


def test_screen_addresses_default_to_the_request_and_gs1() -> None:
    settings = Settings.from_env({"LINETRACE_PUBLIC_BASE_URL": "https://linetrace.plant.example/"})
    assert settings.public_base_url == "https://linetrace.plant.example/"
    assert Settings().public_base_url == "" and Settings().digital_link_domain == "https://id.gs1.org"
    assert Settings().session_hours == 12.0
