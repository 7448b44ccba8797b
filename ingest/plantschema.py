"""The plant file's shape: which keys each mapping takes and the type of each value.

The models say what a plant file may hold, so a misspelled key (``targt_per_hour``, ``job``,
``optinal``) is an error where it would otherwise be ignored and change what the plant means.
``plant_json_schema`` publishes the same models as a JSON Schema for editors.

ingest.plant checks what the models cannot (unknown stage and station names, check digits,
duplicates) and the fields it reads with its own messages; here only unknown keys and the
types of the fields ingest.plant takes as given are reported, so no problem is listed twice.
"""

from __future__ import annotations

import difflib
import types
import typing
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

# Fields ingest.plant reads as they come; their types are checked here.
SCHEMA_CHECKED = frozenset({"name", "stage", "optional", "from", "to"})
# Lists whose entries ingest.plant reads as they come.
SCHEMA_CHECKED_ENTRIES = frozenset({"stages", "dispatch_stages"})
_ENTRY, _NAME = "entry", "stage name"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class Station(_Strict):
    station: str = Field(description="Station name, unique in the plant.")
    stage: str = Field(description="The stage this station does; one of its line's stages.")
    target_per_hour: float = Field(0.0, ge=0, description="Items per hour it is planned for (0: no target).")
    read_point: str | None = Field(
        None, description="Its EPCIS read point: an SGLN (urn:epc:id:sgln:...) or a URI (default: derived)."
    )
    biz_location: str | None = Field(
        None, description="The EPCIS business location of what passes it (default: its line's)."
    )


class ReadPoint(_Strict):
    reader: str = Field(description="The reader's reader_id.")
    antenna: int = Field(ge=0, description="The antenna port (0 for a scanner).")
    station: str = Field(description="The station this read point belongs to.")
    side: Literal["inside", "outside"] | None = Field(None, description="Which side of a portal it faces.")


class RouteStage(_Strict):
    stage: str
    optional: bool = Field(False, description="An item may leave this stage out without a violation.")


def _route_entry_kind(value: Any) -> str:
    return _ENTRY if isinstance(value, dict) else _NAME


RouteEntry = Annotated[
    Annotated[RouteStage, Tag(_ENTRY)] | Annotated[str, Tag(_NAME)],
    Discriminator(_route_entry_kind),
]


class ReworkLoop(_Strict):
    from_: str = Field(alias="from", description="The stage an item is sent back from.")
    to: str = Field(description="The earlier route stage it goes back to.")
    max: int = Field(1, ge=0, description="How many times at most.")


class Route(_Strict):
    stages: list[RouteEntry] = Field(description="Stages in order: a name or {stage, optional}.")
    rework: list[ReworkLoop] = []


class Product(_Strict):
    product: str
    gtin: str | None = Field(None, pattern=r"^[0-9]{14}$", description="GTIN-14, quoted.")
    company_prefix: str | None = Field(
        None, pattern=r"^[0-9]{6,12}$", description="GS1 company prefix inside the GTIN, quoted."
    )
    route: Route | None = None


class Line(_Strict):
    line: str
    name: str | None = None
    stages: list[str] = Field(min_length=1, description="The line's stages in process order.")
    stations: list[Station] = Field(min_length=1)
    read_points: list[ReadPoint] = Field(min_length=1)
    dispatch_stages: list[str] = Field([], description="Stages where items leave the plant.")
    biz_steps: dict[str, str] = Field(
        {},
        description="Stage -> its EPCIS business step: a CBV 2.0 word (assembling, packing ...) or a URI.",
    )
    products: list[Product] = []


class Site(_Strict):
    site: str
    name: str | None = None
    time_zone: str | None = Field(None, description="IANA time zone, e.g. Europe/Berlin (default UTC).")
    lines: list[Line] = Field(min_length=1)


class Job(_Strict):
    """A job card the plant file seeds; times are RFC 3339 with an offset (quoted or not)."""

    job: str
    product: str
    quantity: int = Field(0, ge=0)
    planned_start: str | datetime | None = None
    planned_end: str | datetime | None = None
    due: str | datetime | None = None
    target_rate_per_h: float | int = Field(0, ge=0)


class Reader(BaseModel):
    """A reader adapter; its options depend on its kind and are checked by ``linetrace reader check``."""

    model_config = ConfigDict(extra="allow")
    reader: str
    kind: Literal["llrp", "impinj", "zebra", "barcode_tcp", "barcode_http"]


class Epcis(_Strict):
    location_prefix: str | None = Field(
        None, description="URI prefix of the read points and business locations linetrace derives."
    )


class PlantFile(_Strict):
    sites: list[Site] = Field(min_length=1)
    epcis: Epcis | None = None
    jobs: list[Job] = []
    readers: list[Reader] = []


def plant_json_schema() -> dict[str, Any]:
    """The JSON Schema of a plant file (``linetrace plant schema``)."""
    schema = PlantFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "linetrace plant file"
    return schema


def schema_problems(raw: Any, source: str) -> list[str]:
    """Unknown keys anywhere in the document, and the wrong types of the fields ingest.plant
    takes as given, each with its path."""
    try:
        PlantFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if p not in (_ENTRY, _NAME))
            if _reported_here(error["type"], loc, error.get("input")):
                problems.append(f"{source}: {_describe(error['type'], loc, error['msg'])}")
        return problems
    return []


def _reported_here(kind: str, loc: tuple[int | str, ...], value: Any) -> bool:
    if kind == "extra_forbidden":
        return True
    if kind == "missing" or not loc or value is None:
        # ingest.plant says what is missing, in the plant's words.
        return False
    leaf = loc[-1]
    if isinstance(leaf, int):
        return len(loc) > 1 and loc[-2] in SCHEMA_CHECKED_ENTRIES
    return leaf in SCHEMA_CHECKED


def _describe(kind: str, loc: tuple[int | str, ...], msg: str) -> str:
    if kind != "extra_forbidden":
        return f"{path_of(loc)}: {msg[:1].lower()}{msg[1:]}"
    *parent, key = loc
    where = f"{path_of(tuple(parent))}: " if parent else ""
    known = _keys_of(_model_at(tuple(parent)))
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known keys: {', '.join(known)})"
    return f"{where}unknown key {key!r}{hint}"


def path_of(loc: tuple[int | str, ...]) -> str:
    """``sites[0].lines[0].stations[3]`` for ('sites', 0, 'lines', 0, 'stations', 3)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _keys_of(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that validates the mapping at ``loc``."""
    model: type[BaseModel] | None = PlantFile
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = _model_in(field.annotation) if field is not None else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The first model inside a field's type (through lists, unions and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
