"""The plant model: sites, lines, stages, stations, read points, products and their routes.

Loaded from one YAML or JSON plant file and validated as a whole: every problem is
listed in one PlantError so a plant engineer can fix the file in one go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import yaml

from ingest.epc import gs1_check_digit
from ingest.epcis.vocab import BIZ_STEPS, biz_step_problem, is_uri
from ingest.errors import InvalidInput, PlantError
from ingest.plantschema import schema_problems
from ingest.timefmt import parse_us


@dataclass(frozen=True)
class Station:
    station: str
    stage: str
    site: str
    line: str
    target_per_hour: float = 0.0  # items per hour the station is planned for (0: no target)
    read_point: str = ""  # its EPCIS read point (a URI; the plant file's or derived)
    biz_location: str = ""  # the EPCIS business location of what passes it


@dataclass(frozen=True)
class ReworkLoop:
    """An item at ``from_stage`` may go back to ``to_stage`` at most ``max_count`` times."""

    from_stage: str
    to_stage: str
    max_count: int


@dataclass(frozen=True)
class Route:
    """Ordered stages an item must pass; ``optional`` ones may be left out without a violation.

    A stage with several stations is passed at any of them (the alternatives).
    """

    stages: tuple[str, ...]
    rework: tuple[ReworkLoop, ...] = ()
    optional: frozenset[str] = frozenset()
    dispatch: frozenset[str] = frozenset()  # stages where items leave the plant


@dataclass(frozen=True)
class Product:
    product: str
    site: str
    line: str
    gtin: str | None
    route: Route | None
    company_prefix: str | None = None  # the GS1 company prefix inside the GTIN (barcode scans -> EPC URIs)


@dataclass(frozen=True, kw_only=True)
class Job:
    job: str
    site: str
    line: str
    product: str
    quantity: int
    planned_start_us: int = 0
    planned_end_us: int = 0
    due_us: int = 0
    target_rate_per_h: float = 0.0


@dataclass(frozen=True)
class Line:
    site: str
    line: str
    name: str
    stages: tuple[str, ...]
    stations: tuple[Station, ...]
    dispatch_stages: tuple[str, ...] = ()  # stages where items leave the plant (shipping docks)
    biz_steps: Mapping[str, str] = field(default_factory=dict)  # stage -> EPCIS business step, every stage
    time_zone: str = "UTC"  # the site's IANA time zone


# Read point sides: a portal whose antennas face both ways tells an item's direction from
# which side read it first and which side read it last.
SIDES = ("inside", "outside")


@dataclass(frozen=True)
class Plant:
    lines: tuple[Line, ...]
    read_points: Mapping[tuple[str, int], Station]
    products: Mapping[str, Product]
    jobs: tuple[Job, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    sides: Mapping[tuple[str, int], str] = field(default_factory=dict)  # (reader, antenna) -> side

    def side_of(self, reader: str, antenna: int) -> str:
        """'inside', 'outside', or '' where the plant file names no side."""
        return self.sides.get((reader, antenna), "")

    def station_of(self, reader: str, antenna: int) -> Station | None:
        return self.read_points.get((reader, antenna))

    def product_by_gtin(self, gtin: str) -> Product | None:
        return self._by_gtin.get(gtin)

    @property
    def _by_gtin(self) -> dict[str, Product]:
        cached = self.__dict__.get("_gtin_index")
        if cached is None:
            cached = {p.gtin: p for p in self.products.values() if p.gtin}
            object.__setattr__(self, "_gtin_index", cached)
        return cached

    @property
    def company_prefixes(self) -> dict[str, int]:
        """GTIN-14 -> GS1 company prefix length, for making scanned codes into EPC URIs."""
        return {p.gtin: len(p.company_prefix) for p in self.products.values() if p.gtin and p.company_prefix}

    def stations(self) -> dict[str, Station]:
        return {s.station: s for ln in self.lines for s in ln.stations}

    def to_json(self) -> bytes:
        return orjson.dumps(self.raw)


def load_plant(path: str | Path) -> Plant:
    """Read a plant file (``.yaml``, ``.yml`` or ``.json``) and validate it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PlantError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PlantError(f"{path}: cannot read: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        raw = orjson.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise PlantError(f"{path}: cannot parse: {_one_line(exc)}") from exc
    return parse_plant(raw, source=str(path))


def _one_line(exc: Exception) -> str:
    """A parser's complaint on one line, with where in the file it is."""
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.MarkedYAMLError) and mark is not None:
        return f"{exc.problem} at line {mark.line + 1} column {mark.column + 1}"
    return " ".join(str(exc).split())


def parse_plant(raw: Any, source: str = "plant") -> Plant:
    """Validate a decoded plant document; raises PlantError listing every problem."""
    try:
        # Validated as the JSON the workers read from the plant topic, so both see one plant;
        # YAML also reads bytes, sets, non-text keys and integers beyond 64 bits.
        raw = orjson.loads(orjson.dumps(raw))
    except orjson.JSONEncodeError as exc:
        raise PlantError(f"{source}: the plant holds a value JSON cannot carry: {exc}") from exc
    problems = schema_problems(raw, source)
    if not isinstance(raw, dict) or not isinstance(raw.get("sites"), list) or not raw["sites"]:
        no_sites = f"{source}: a plant needs a non-empty 'sites' list"
        if problems:
            raise PlantError("invalid plant file:\n  " + "\n  ".join([no_sites, *problems]))
        raise PlantError(no_sites)
    lines: list[Line] = []
    read_points: dict[tuple[str, int], Station] = {}
    sides: dict[tuple[str, int], str] = {}
    products: dict[str, Product] = {}
    station_names: set[str] = set()
    for site in _mappings(raw, "sites", source, problems):
        site_id = _text(site, "site", source, problems)
        epcis = _parse_epcis(raw, site, source, problems)
        for ln in _mappings(site, "lines", f"{source}: site {site_id}", problems):
            where = f"{source}: site {site_id} line {ln.get('line')!r}"
            line = _parse_line(site_id, ln, where, problems, epcis)
            lines.append(line)
            for station in line.stations:
                # A pass names its station alone, so a station name means one station in the plant.
                if station.station in station_names:
                    problems.append(f"{where}: station {station.station!r} defined twice")
                station_names.add(station.station)
            stations = {s.station: s for s in line.stations}
            _parse_read_points(ln, stations, read_points, sides, where, problems)
            for prod in _mappings(ln, "products", where, problems, required=False):
                product = _parse_product(line, prod, where, problems)
                if product.product in products:
                    problems.append(f"{where}: product {product.product!r} defined twice")
                products[product.product] = product
    jobs = _parse_jobs(_list(raw, "jobs", source, problems, required=False), products, source, problems)
    if problems:
        raise PlantError("invalid plant file:\n  " + "\n  ".join(problems))
    return Plant(tuple(lines), read_points, products, tuple(jobs), raw=raw, sides=sides)


# Where a plant file names no prefix: a URN of linetrace's own, not a GS1 key, which the
# plant replaces (``epcis: {location_prefix: ...}``) with a URI it controls before sharing events.
DEFAULT_LOCATION_PREFIX = "urn:linetrace:loc:"


@dataclass(frozen=True)
class _Epcis:
    """What the plant file says of EPCIS for one site (see docs/epcis.md)."""

    location_prefix: str = DEFAULT_LOCATION_PREFIX
    time_zone: str = "UTC"


def location_uri(prefix: str, *parts: str) -> str:
    """A location under the plant's prefix: parts joined by '/' after a '/' and ':' otherwise."""
    joiner = "/" if prefix.endswith("/") else ":"
    return prefix + joiner.join(quote(p, safe="-._~") for p in parts)


def _parse_epcis(raw: dict[str, Any], site: dict[str, Any], source: str, problems: list[str]) -> _Epcis:
    section = raw["epcis"] if isinstance(raw.get("epcis"), dict) else {}
    prefix = section.get("location_prefix", DEFAULT_LOCATION_PREFIX)
    if not isinstance(prefix, str) or not is_uri(prefix):
        problems.append(
            f"{source}: epcis location_prefix must be a URI such as https://plant.example.com/loc/"
        )
        prefix = DEFAULT_LOCATION_PREFIX
    zone = site.get("time_zone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        problems.append(f"{source}: site {site.get('site')!r} time_zone must be an IANA name, got {zone!r}")
        zone = "UTC"
    return _Epcis(prefix, zone)


def _parse_line(
    site: str, ln: dict[str, Any], where: str, problems: list[str], epcis: _Epcis = _Epcis()
) -> Line:
    line_id = _text(ln, "line", where, problems)
    stages = tuple(str(s) for s in _list(ln, "stages", where, problems))
    if len(set(stages)) != len(stages):
        problems.append(f"{where}: stage names repeat: {list(stages)}")
    stations: list[Station] = []
    for st in _mappings(ln, "stations", where, problems):
        target = _non_negative(st.get("target_per_hour", 0))
        if target is None:
            problems.append(f"{where}: station {st.get('station')!r} target_per_hour must be a number >= 0")
            target = 0.0
        name = _text(st, "station", where, problems)
        prefix = epcis.location_prefix
        read_point = _location(st, "read_point", location_uri(prefix, site, line_id, name), where, problems)
        biz_location = _location(st, "biz_location", location_uri(prefix, site, line_id), where, problems)
        station = Station(name, str(st.get("stage")), site, line_id, target, read_point, biz_location)
        if st.get("stage") is None:
            problems.append(f"{where}: station {station.station!r} has no stage")
        elif station.stage not in stages:
            problems.append(f"{where}: station {station.station!r} has unknown stage {station.stage!r}")
        stations.append(station)
    dispatch = tuple(str(s) for s in _list(ln, "dispatch_stages", where, problems, required=False))
    unknown = [s for s in dispatch if s not in stages]
    if unknown:
        problems.append(f"{where}: dispatch_stages names unknown stages {unknown}")
    steps = _biz_steps(ln, stages, dispatch, where, problems)
    return Line(
        site, line_id, str(ln.get("name", line_id)), stages, tuple(stations), dispatch, steps, epcis.time_zone
    )


def _location(st: dict[str, Any], key: str, default: str, where: str, problems: list[str]) -> str:
    value = st.get(key, default)
    if not isinstance(value, str) or not is_uri(value):
        problems.append(
            f"{where}: station {st.get('station')!r} {key} must be an SGLN (urn:epc:id:sgln:...) or a URI, "
            f"got {value!r}"
        )
        return default
    return value


def _biz_steps(
    ln: dict[str, Any], stages: tuple[str, ...], dispatch: tuple[str, ...], where: str, problems: list[str]
) -> dict[str, str]:
    """Every stage's business step: the plant file's, else the stage's own name where it is a CBV
    word, ``shipping`` at a dispatch stage, ``other`` elsewhere."""
    given = ln.get("biz_steps") or {}
    if not isinstance(given, dict):
        problems.append(f"{where}: biz_steps must map stages to business steps")
        given = {}
    for stage, step in given.items():
        if stage not in stages:
            problems.append(f"{where}: biz_steps names unknown stage {stage!r}")
        problem = biz_step_problem(step)
        if problem is not None:
            problems.append(f"{where}: stage {stage!r} {problem}")
    steps = {}
    for stage in stages:
        default = stage if stage in BIZ_STEPS else "shipping" if stage in dispatch else "other"
        step = given.get(stage, default)
        steps[stage] = step if biz_step_problem(step) is None else default
    return steps


def _parse_read_points(
    ln: dict[str, Any],
    stations: dict[str, Station],
    read_points: dict[tuple[str, int], Station],
    sides: dict[tuple[str, int], str],
    where: str,
    problems: list[str],
) -> None:
    for rp in _mappings(ln, "read_points", where, problems):
        reader, antenna, station = rp.get("reader"), rp.get("antenna"), rp.get("station")
        # type() is not isinstance(): YAML true is not antenna 1.
        if not isinstance(reader, str) or type(antenna) is not int or antenna < 0:
            problems.append(f"{where}: read point needs a reader name and an antenna number: {rp}")
            continue
        if not isinstance(station, str) or station not in stations:
            problems.append(f"{where}: read point {reader}/{antenna} names unknown station {station!r}")
            continue
        if (reader, antenna) in read_points:
            problems.append(f"{where}: read point {reader}/{antenna} is mapped twice")
        read_points[(reader, antenna)] = stations[station]
        side = rp.get("side")
        if side is not None and side not in SIDES:
            problems.append(
                f"{where}: read point {reader}/{antenna} side must be inside or outside, got {side!r}"
            )
        elif side is not None:
            sides[(reader, antenna)] = side


def _parse_product(line: Line, prod: dict[str, Any], where: str, problems: list[str]) -> Product:
    product_id = _text(prod, "product", where, problems)
    gtin = prod.get("gtin")
    if gtin is not None and not _is_gtin14(gtin):
        problems.append(
            f"{where}: product {product_id!r} gtin must be 14 digits with a valid check digit, got {gtin!r}"
        )
        gtin = None
    route = (
        _parse_route(line, prod["route"], f"{where}: product {product_id!r}", problems)
        if "route" in prod
        else None
    )
    cp = prod.get("company_prefix")
    if cp is not None:
        # Quoted text: YAML reads an unquoted 0614141 as an octal number.
        if not isinstance(cp, str) or not _is_digits(cp) or not 6 <= len(cp) <= 12:
            problems.append(
                f"{where}: product {product_id!r} company_prefix must be quoted text of 6-12 digits, "
                f"got {cp!r}"
            )
            cp = None
        elif gtin is None or gtin[1 : 1 + len(cp)] != cp:
            problems.append(f"{where}: product {product_id!r} gtin {gtin} does not carry company prefix {cp}")
            cp = None
    return Product(product_id, line.site, line.line, gtin, route, cp)


def _parse_route(line: Line, spec: Any, where: str, problems: list[str]) -> Route:
    """A product's route; ``where`` names the product."""
    if not isinstance(spec, dict):
        if spec is not None:
            problems.append(f"{where} route must be a mapping: {spec!r}")
        spec = {}
    entries = _list(spec, "stages", f"{where} route", problems, required=False)
    if any(isinstance(s, dict) and "stage" not in s for s in entries):
        problems.append(f"{where} route has a stage entry without 'stage'")
    entries = [s for s in entries if not isinstance(s, dict) or "stage" in s]
    stages = tuple(str(s["stage"]) if isinstance(s, dict) else str(s) for s in entries)
    optional = frozenset(str(s["stage"]) for s in entries if isinstance(s, dict) and s.get("optional"))
    unknown = [s for s in stages if s not in line.stages]
    if not stages or unknown:
        problems.append(f"{where} route has unknown or no stages {unknown}")
    loops = []
    for lp in _list(spec, "rework", f"{where} route", problems, required=False):
        if not isinstance(lp, dict):
            problems.append(f"{where} rework loop must be a mapping: {lp!r}")
            continue
        loop = ReworkLoop(
            str(lp.get("from")), str(lp.get("to")), _count(lp, "max", 1, f"{where} rework loop", problems)
        )
        if (
            loop.from_stage not in stages
            or loop.to_stage not in stages
            or (stages.index(loop.to_stage) >= stages.index(loop.from_stage))
        ):
            problems.append(f"{where} rework loop {lp} must go back to an earlier route stage")
        loops.append(loop)
    return Route(stages, tuple(loops), optional, frozenset(s for s in stages if s in line.dispatch_stages))


def _parse_jobs(
    raw_jobs: list[Any], products: dict[str, Product], source: str, problems: list[str]
) -> list[Job]:
    jobs = []
    for j in raw_jobs:
        if not isinstance(j, dict):
            problems.append(f"{source}: a job must be a mapping: {j!r}")
            continue
        product = products.get(str(j.get("product")))
        if product is None:
            problems.append(f"{source}: job {j.get('job')!r} names unknown product {j.get('product')!r}")
            continue
        where = f"{source}: job {j.get('job')!r}"
        jobs.append(
            Job(
                job=_text(j, "job", source, problems),
                site=product.site,
                line=product.line,
                product=product.product,
                quantity=_count(j, "quantity", 0, where, problems),
                planned_start_us=_moment(j, "planned_start", where, problems),
                planned_end_us=_moment(j, "planned_end", where, problems),
                due_us=_moment(j, "due", where, problems),
                target_rate_per_h=float(_non_negative(j.get("target_rate_per_h", 0)) or 0.0),
            )
        )
    return jobs


def _moment(obj: dict[str, Any], key: str, where: str, problems: list[str]) -> int:
    """An RFC 3339 time of the plant file in microseconds (0 when absent); YAML reads an
    unquoted one as a datetime, which must carry its offset too."""
    value = obj.get(key)
    if value is None:
        return 0
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    try:
        return parse_us(text)
    except InvalidInput as exc:
        problems.append(f"{where}: {key}: {exc.detail}")
        return 0


def _text(obj: Any, key: str, where: str, problems: list[str]) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: missing or empty {key!r}")
        return f"<missing {key}>"
    return value


def _is_gtin14(gtin: Any) -> bool:
    # The check digit too: a mistyped GTIN would match no item, and every item would be unknown.
    if not isinstance(gtin, str) or len(gtin) != 14 or not _is_digits(gtin):
        return False
    return gs1_check_digit(gtin[:13]) == int(gtin[13])


def _is_digits(text: str) -> bool:
    # isdigit() alone takes other scripts' digits and superscripts, which int() refuses or GS1 never uses.
    return text.isascii() and text.isdigit()


def _count(obj: dict[str, Any], key: str, default: int, where: str, problems: list[str]) -> int:
    value = obj.get(key, default)
    # type() is not isinstance(): YAML true is not 1; a float is not cut to a whole number.
    if type(value) is not int or value < 0:
        problems.append(f"{where}: {key!r} must be a whole number, got {value!r}")
        return default
    return value


def _non_negative(value: Any) -> float | None:
    """A finite number >= 0 as a float, or None. YAML reads .inf and .nan, and integers too large
    for a float."""
    if type(value) not in (int, float) or value < 0:
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _list(obj: Any, key: str, where: str, problems: list[str], required: bool = True) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        problems.append(f"{where}: {key!r} must be a {'non-empty ' if required else ''}list")
        return []
    return value


def _mappings(
    obj: Any, key: str, where: str, problems: list[str], required: bool = True
) -> list[dict[str, Any]]:
    """The list under ``key`` when every entry is a mapping; each entry that is not is a problem."""
    entries = _list(obj, key, where, problems, required)
    for entry in entries:
        if not isinstance(entry, dict):
            problems.append(f"{where}: every entry of {key!r} must be a mapping, got {entry!r}")
    return [e for e in entries if isinstance(e, dict)]
