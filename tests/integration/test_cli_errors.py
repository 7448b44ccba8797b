"""What a user sees when linetrace cannot reach what it needs: one line naming the address
and what to check, an exit code, no traceback and no librdkafka log lines; and nothing
created where nothing was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingest.broker import free_port


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LINETRACE_")}
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_post_to_a_broker_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    done = _run(
        ["job", "create", "--site", "S", "--line", "L", "--job", "J-1", "--product", "P"],
        tmp_path,
        LINETRACE_KAFKA_BOOTSTRAP=address,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    # The post first reads the plant to check the names it gives; that is what fails first.
    first, _, rest = done.stderr.partition(": ")
    assert (first, rest.split(": ")[0]) == ("linetrace", f"Kafka at {address}")
    assert done.stderr.endswith(
        "; check that the broker runs and LINETRACE_KAFKA_BOOTSTRAP and the LINETRACE_KAFKA_SECURITY_* "
        "settings\n"
    )
    assert done.stderr.count("\n") == 1, done.stderr


def test_a_query_where_there_is_no_data_says_where_it_looked(tmp_path: Path) -> None:
    done = _run(["query", "summary"], tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        f"linetrace: no linetrace data in {tmp_path / 'linetrace-data' / 'clickhouse'} and no sink "
        "serving it; run the query where the data is (the demo writes ./linetrace-data/clickhouse) "
        "or set LINETRACE_CLICKHOUSE_DSN, e.g. chdb:///path/to/linetrace-data/clickhouse\n"
    )
    assert list(tmp_path.iterdir()) == [], "the query created nothing"


def test_a_query_on_a_store_no_sink_holds_answers_from_it(tmp_path: Path) -> None:
    from ingest.settings import Settings
    from storage.client import connect

    dsn = f"chdb://{tmp_path / 'data'}"
    connect(Settings(clickhouse_dsn=dsn)).close()  # a store written and closed, as after a demo
    done = _run(["query", "wip", "--json"], tmp_path, LINETRACE_CLICKHOUSE_DSN=dsn)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")
