"""The ``linetrace`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException

from ingest.cli.epcis import add_epcis_parsers
from ingest.cli.events import add_event_parsers
from ingest.cli.plants import add_plant_parser
from ingest.errors import ConfigError, InvalidInput, LinetraceError
from ingest.processes import stop_on_sigterm
from ingest.settings import BROKER_KINDS, Settings, settings_table, unknown_variables
from storage.service import QUERIES

DEMO_PLANT = Path(__file__).parents[1] / "plants" / "demo.yaml"
log = logging.getLogger("linetrace")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        for warning in unknown_variables():
            log.warning("%s", warning)
        stop_on_sigterm()  # commands with their own handling (worker, sink, readers) replace it
        if args.func not in _services():  # a one-shot command reports a broker it cannot reach in one line
            logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
        result = args.func(args, settings)
        return int(result or 0)
    except KafkaException as exc:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        reason = error.str() if error is not None else str(exc)
        print(
            f"linetrace: Kafka at {settings.kafka_bootstrap}: {reason}; check that the broker runs and "
            "LINETRACE_KAFKA_BOOTSTRAP and the LINETRACE_KAFKA_SECURITY_* settings",
            file=sys.stderr,
        )
        return 1
    except InvalidInput as exc:
        print(f"linetrace: {exc.reason}: {exc.detail}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"linetrace: {exc}", file=sys.stderr)
        return 2
    except LinetraceError as exc:
        print(f"linetrace: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nlinetrace: stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of the output went away (`| head`): nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _services() -> set[Any]:
    return {_demo, _bench, _loadtest, _worker, _sink, _broker, _reader, _simulate}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="linetrace", description="Scan ingestion and trace for manufacturing lines."
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the whole pipeline on a simulated line and print a summary")
    demo.add_argument("--duration", type=float, default=60.0, help="seconds of simulated line (default 60)")
    demo.add_argument("--data-dir", type=Path, default=Path("linetrace-data"), help="where the store lives")
    demo.add_argument("--plant", type=Path, default=DEMO_PLANT, help="plant file (default: the demo plant)")
    demo.add_argument(
        "--items-per-minute", type=float, default=60.0, help="items the simulated line starts a minute"
    )
    demo.add_argument("--seed", type=int, default=7, help="seed of the simulation (same seed, same line)")
    demo.add_argument("--keep", action="store_true", help="keep the store of an earlier run")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep the pipeline and the screens up after the line stops, until Ctrl-C",
    )
    demo.add_argument(
        "--broker",
        choices=BROKER_KINDS,
        default="tansu",
        help="tansu (the embedded local broker, default) or kafka (Apache Kafka 4 from `make kafka`)",
    )
    demo.set_defaults(func=_demo)

    bench = sub.add_parser("bench", help="measure ingest, latency, burst and query figures; prints JSON")
    bench.add_argument("--quick", action="store_true", help="a small version for CI-sized runs")
    bench.add_argument("--work-dir", type=Path, default=None, help="keep the data here (default: temp)")
    bench.add_argument("--only", choices=["pipeline", "queries"], default="", help="one half of the bench")
    bench.add_argument(
        "--broker",
        choices=(*BROKER_KINDS, "both"),
        default="tansu",
        help="the pipeline half on tansu (the local broker, default), kafka (Apache Kafka 4) or both",
    )
    bench.add_argument(
        "--workers", type=int, default=1, help="stream worker processes sharing the partitions (default 1)"
    )
    bench.set_defaults(func=_bench)

    lt = sub.add_parser("loadtest", help="Locust, headless, against the local stack; prints a report")
    lt.add_argument("--users", type=int, default=6, help="Locust users: one portal line, the rest analysts")
    lt.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    lt.add_argument("--items-per-minute", type=float, default=600.0, help="the simulated line's rate")
    lt.add_argument("--plant", type=Path, default=DEMO_PLANT, help="plant file (default: the demo plant)")
    lt.add_argument(
        "--work-dir", type=Path, default=Path("linetrace-data/loadtest"), help="where its data and reports go"
    )
    lt.set_defaults(func=_loadtest)

    sub.add_parser("worker", help="run the stream worker (both stages)").set_defaults(func=_worker)
    sub.add_parser("sink", help="run the ClickHouse sink and the query API").set_defaults(func=_sink)
    broker = sub.add_parser("broker", help="run the local Kafka-compatible broker in the foreground")
    broker.add_argument("--port", type=int, default=9092, help="port on 127.0.0.1 (default 9092)")
    broker.add_argument(
        "--kind",
        choices=("tansu", "kafka"),
        default="tansu",
        help="tansu (memory only, default) or kafka (Apache Kafka 4 from `make kafka`, kept on disk)",
    )
    broker.add_argument(
        "--data-dir",
        type=Path,
        default=Path("linetrace-data/kafka"),
        help="where Kafka keeps its log (default linetrace-data/kafka)",
    )
    broker.add_argument(
        "--secured",
        action="store_true",
        help="kafka only: SASL_SSL with SCRAM-SHA-512 and ACLs; prints each principal's environment",
    )
    broker.set_defaults(func=_broker)
    sub.add_parser("topics", help="create the linetrace topics").set_defaults(func=_topics)

    state = sub.add_parser(
        "state", help="restore: rebuild the stream's route state from ClickHouse into an empty changelog"
    )
    state.add_argument("action", choices=["restore"], help="restore: rebuild route state from the store")
    state.add_argument("--force", action="store_true", help="write even if the changelog holds records")
    state.add_argument(
        "--finished-within",
        type=int,
        default=None,
        metavar="SECONDS",
        help="also restore finished items read this long before the newest read (default 86400; 0: none)",
    )
    state.set_defaults(func=_state)

    serving = sub.add_parser(
        "serving", help="refill: fill the key-value serving tables from the record (the sink stopped)"
    )
    serving.add_argument(
        "action", choices=["refill"], help="refill: empty them and fill them from the record"
    )
    serving.set_defaults(func=_serving)

    add_plant_parser(sub)

    reader = sub.add_parser(
        "reader", help="run the reader adapters of a plant file (LLRP, vendor JSON, scanners)"
    )
    reader.add_argument(
        "action", choices=["run", "check"], help="run the adapters, or check their configuration"
    )
    reader.add_argument("--plant", type=Path, required=True, help="the plant file with a readers section")
    reader.add_argument("--reader", action="append", default=[], help="only this reader (repeat)")
    reader.set_defaults(func=_reader)

    sim = sub.add_parser("simulate", help="publish a simulated line's reads to Kafka in real time")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds of simulated line (default 60)")
    sim.add_argument("--plant", type=Path, default=DEMO_PLANT, help="plant file (default: the demo plant)")
    sim.add_argument(
        "--items-per-minute", type=float, default=60.0, help="items the simulated line starts a minute"
    )
    sim.add_argument("--seed", type=int, default=7, help="seed of the simulation (same seed, same line)")
    sim.set_defaults(func=_simulate)

    add_event_parsers(sub)
    add_epcis_parsers(sub)

    q = sub.add_parser("query", help="ask the trace (see QUERY below)")
    q.add_argument("name", choices=sorted(QUERIES), metavar="QUERY", help=", ".join(sorted(QUERIES)))
    q.add_argument(
        "item",
        nargs="?",
        default="",
        help="item key (history, genealogy, trace, recall, item_holds, qc_results), hold id (hold) "
        "or job (job_items)",
    )
    q.add_argument("--site", default="", help="only this site")
    q.add_argument("--line", default="", help="only this line (with --site)")
    direction = q.add_mutually_exclusive_group()
    direction.add_argument("--up", dest="direction", action="store_const", const="up", help="ancestors")
    direction.add_argument("--down", dest="direction", action="store_const", const="down", help="descendants")
    q.add_argument("--type", default="", help="violation type")
    q.add_argument("--job", default="", help="only this job (jobs, job_progress, job_events, qc_results)")
    q.add_argument("--stage", default="qc", help="pending_qc: the QC stage")
    q.add_argument(
        "--minutes", type=int, default=None, help="window (throughput 60, cycle_time 1440, operators 480)"
    )
    q.add_argument("--hourly", action="store_true", help="throughput per hour instead of per minute")
    q.add_argument("--older-than", type=int, default=900, help="wip_ageing: seconds since the last read")
    q.add_argument("--limit", type=int, default=100, help="rows at most (violations, held)")
    q.add_argument("--json", action="store_true", help="JSON for machines")
    q.set_defaults(func=_query, direction="down")

    tok = sub.add_parser(
        "token",
        help="create, list or revoke tokens of the query API and reader posts (LINETRACE_API_TOKENS_FILE)",
    )
    tok.add_argument(
        "action", choices=["create", "list", "revoke"], help="create a token, list them, or revoke one"
    )
    tok.add_argument("--name", default="", help="the token's name (create, revoke)")
    where = tok.add_mutually_exclusive_group()
    where.add_argument("--site", default="", help="create: the site it grants")
    where.add_argument("--all-sites", action="store_true", help="create: every site (plant-wide)")
    tok.add_argument("--line", default="", help="create: only this line of the site")
    tok.add_argument("--file", type=Path, default=None, help="tokens file (default: the setting)")
    tok.set_defaults(func=_token)

    sub.add_parser("settings", help="print every setting and its default").set_defaults(
        func=lambda a, s: print(settings_table())
    )
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("linetrace")
    except PackageNotFoundError:
        return "(not installed)"


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.cli.demo import DemoRun, run_demo
    from ingest.cli.stack import StackPlace
    from ingest.plant import load_plant
    from readers.simulator import SimConfig

    logging.getLogger().setLevel(logging.WARNING)
    # A run on a kept store numbers its items after the earlier runs': 100 serials a second of
    # wall clock since 2026 outpace any simulated line (up to 6,000 items a minute).
    serial_base = (int(time.time()) - 1_767_225_600) * 100 if args.keep else 0
    config = SimConfig(
        items_per_minute=args.items_per_minute, seed=args.seed, serial_base=serial_base, supervisors=True
    )
    plant = load_plant(args.plant)
    place = StackPlace(data_dir=args.data_dir, keep=args.keep, broker_kind=args.broker)
    run_demo(settings, plant, DemoRun(duration_s=args.duration, config=config, place=place, serve=args.serve))
    return 0


def _bench(args: argparse.Namespace, settings: Settings) -> None:
    from loadtest.bench import run_bench

    logging.getLogger().setLevel(logging.WARNING)
    brokers = ("tansu", "kafka") if args.broker == "both" else (args.broker,)
    result = run_bench(
        settings,
        quick=args.quick,
        work_dir=args.work_dir,
        only=args.only,
        brokers=brokers,
        workers=args.workers,
    )
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


def _loadtest(args: argparse.Namespace, settings: Settings) -> None:
    import importlib.util

    from loadtest.run import run_loadtest

    if importlib.util.find_spec("locust") is None:
        raise ConfigError("the load test needs Locust: pip install 'linetrace[loadtest]'")

    logging.getLogger().setLevel(logging.WARNING)
    report = run_loadtest(
        settings, args.plant, args.users, args.duration, args.items_per_minute, args.work_dir
    )
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")


def _worker(args: argparse.Namespace, settings: Settings) -> None:
    from streams.worker import run_worker

    run_worker(settings)


def _sink(args: argparse.Namespace, settings: Settings) -> None:
    from storage.serve import run_sink

    run_sink(settings)


def _broker(args: argparse.Namespace, settings: Settings) -> None:
    import time

    from ingest.broker import LocalBroker
    from ingest.kafkabroker import KafkaBroker

    if args.secured and args.kind != "kafka":
        raise ConfigError("--secured needs --kind kafka (Tansu has neither SASL nor ACLs)")
    if args.secured:
        from ingest.cli.securedbroker import run_secured_broker

        run_secured_broker(settings, args.data_dir, args.port)
        return
    if args.kind == "kafka":
        with KafkaBroker(args.data_dir, port=args.port) as kafka:
            print(
                f"Apache Kafka on {kafka.bootstrap} (data in {args.data_dir}; serving after "
                f"{kafka.started_in_s:.1f} s, {kafka.resident_mb()} MiB resident); Ctrl-C stops it",
                flush=True,
            )
            while kafka.process is not None and kafka.process.poll() is None:
                time.sleep(0.5)
        return
    with LocalBroker(port=args.port) as b:
        print(
            f"local broker on {b.bootstrap} (memory only; its clients: LINETRACE_BROKER_KIND=tansu); "
            "Ctrl-C stops it",
            flush=True,
        )
        while b.process is not None and b.process.poll() is None:
            time.sleep(0.5)


def _topics(args: argparse.Namespace, settings: Settings) -> None:
    from ingest.kafka import create_topics

    print("created:", ", ".join(create_topics(settings)) or "nothing (all exist)")


def _state(args: argparse.Namespace, settings: Settings) -> None:
    from ingest.cli.restore import DEFAULT_RECENT_S, restore_route_state

    recent_s = DEFAULT_RECENT_S if args.finished_within is None else args.finished_within
    result = restore_route_state(settings, force=args.force, recent_s=recent_s)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


def _serving(args: argparse.Namespace, settings: Settings) -> None:
    from storage.client import connect
    from storage.serving import rebuild

    store = connect(settings)
    try:
        rows = rebuild(store)
    finally:
        store.close()
    sys.stdout.write(orjson.dumps({"serving_rows": rows}, option=orjson.OPT_INDENT_2).decode() + "\n")


def _simulate(args: argparse.Namespace, settings: Settings) -> None:
    import time

    from ingest.kafka import deliver_or_raise, producing
    from ingest.plant import load_plant
    from ingest.timefmt import now_us
    from ingest.topics import Topics
    from readers.publisher import EventPublisher
    from readers.simulator import LineSimulator, SimConfig

    plant = load_plant(args.plant)
    sim = LineSimulator(plant, SimConfig(items_per_minute=args.items_per_minute, seed=args.seed), now_us())
    end = time.monotonic() + args.duration
    with producing(settings) as producer:
        publisher = EventPublisher(producer, Topics.of(settings))
        while time.monotonic() < end:
            for event in sim.advance(now_us()):
                publisher.publish(event)
            time.sleep(0.1)
        deliver_or_raise(producer)
    print(f"published {publisher.reads} reads in {publisher.reports} reader cycles")


def _reader(args: argparse.Namespace, settings: Settings) -> None:
    from ingest.plant import load_plant
    from readers.config import parse_readers

    plant = load_plant(args.plant)
    specs = [s for s in parse_readers(plant) if not args.reader or s.reader in args.reader]
    if args.action == "check":
        for s in specs:
            print(f"{s.reader}: {s.kind} on {s.site}/{s.line} {dict(s.options)}")
        return

    from ingest.httpserver import Tls
    from ingest.metrics import process_registry, serve
    from readers.forwarder import Forwarder
    from readers.run import run_readers

    registry = process_registry()
    forwarder = Forwarder(settings, settings.spool_path, registry=registry)
    if settings.reader_metrics_port:
        serve(registry, settings.metrics_host, settings.reader_metrics_port, Tls.of(settings))
    try:
        run_readers(settings, plant, forwarder, only=args.reader or None, registry=registry)
    finally:
        forwarder.close()


def _token(args: argparse.Namespace, settings: Settings) -> None:
    from ingest.tokenfile import create_token, read_tokens, revoke_token
    from ingest.tokens import ALL_SITES, Scope

    path = args.file or Path(settings.api_tokens_file)
    if args.action == "list":
        for t in read_tokens(path):
            print(f"{t.name}: {t.scope}")
        return
    if not args.name:
        raise InvalidInput("bad_parameter", "--name is required")
    if args.action == "revoke":
        if not revoke_token(path, args.name):
            raise LinetraceError(f"{path}: no token named {args.name!r}")
        print(f"revoked {args.name}", file=sys.stderr)
        return
    if not args.site and not args.all_sites:
        raise InvalidInput("bad_parameter", "--site (with --line for one line) or --all-sites is required")
    try:
        scope = Scope(ALL_SITES if args.all_sites else args.site, args.line)
    except ValueError as exc:
        raise InvalidInput("bad_parameter", str(exc)) from exc
    token = create_token(path, args.name, scope)
    print(f"token {args.name} for {scope} added to {path}; it is shown only now:", file=sys.stderr)
    print(token)


def _query(args: argparse.Namespace, settings: Settings) -> None:
    from ingest.cli.queryclient import query
    from ingest.cli.report import answer_text
    from ingest.timefmt import answer_json

    params: dict[str, Any] = {"site": args.site, "line": args.line}
    if args.name in ("history", "genealogy", "trace", "recall", "item_holds", "qc_results"):
        params["item"] = args.item
    if args.name == "hold":
        params["hold_id"] = args.item
    if args.name in ("genealogy", "trace"):
        params["direction"] = args.direction
    if args.name == "violations":
        params.update(type=args.type, limit=str(args.limit))
    if args.name in ("throughput", "cycle_time", "operators") and args.minutes is not None:
        params["minutes"] = str(args.minutes)
    if args.name == "throughput" and args.hourly:
        params["bucket"] = "hour"
    if args.name in ("job_progress", "jobs", "qc_results", "job_events", "job_items") and args.job:
        params["job"] = args.job
    if args.name == "job_items" and not args.job:
        params["job"] = args.item
    if args.name == "pending_qc":
        params["stage"] = args.stage
    if args.name == "wip_ageing":
        params["older_than_s"] = str(args.older_than)
    result = query(settings, args.name, params)
    if args.json:
        sys.stdout.write(answer_json(result, indent=True).decode() + "\n")
    else:  # the table shows the same text as the JSON, through the sink or from the store
        print(answer_text(args.name, orjson.loads(answer_json(result))))
