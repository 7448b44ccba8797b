"""How a named query is declared (``storage.service.QUERIES`` holds them): its parameters,
parsed from text the same way for the CLI and the API, and its answer's columns, from which
the API's typed response models are made."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import GenericAlias
from typing import Annotated, Any, get_origin, get_type_hints

from pydantic import BaseModel, create_model

from ingest.errors import InvalidInput
from ingest.records.rows import MICROS
from ingest.timefmt import parse_us, to_datetime
from ingest.wire import ITEM_KEY_PREFIXES
from storage.client import Store

# A column's type, or (type, default) for a column only some rows have.
Columns = dict[str, Any]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Param:
    """A query parameter as the CLI and the API take it: text, parsed to ``kind``."""

    name: str
    description: str
    kind: type = str  # str, int or datetime (RFC 3339)
    default: Any = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None  # int parameters: the smallest value that means something
    check: Callable[[str], None] | None = None  # raises InvalidInput on a value of the wrong form

    def parse(self, raw: str | None) -> Any:
        """The value of ``raw`` (None: not given); InvalidInput says what is wrong with it."""
        if not raw:
            if self.required:
                raise InvalidInput("bad_parameter", f"{self.name} is required")
            return self.default
        if self.choices and raw not in self.choices:
            raise InvalidInput("bad_parameter", f"{self.name} must be {' or '.join(self.choices)}")
        if self.check is not None:
            self.check(raw)
        if self.kind is int:
            try:
                value = int(raw)
            except ValueError:
                raise InvalidInput("bad_parameter", f"{self.name}: not an integer: {raw!r}") from None
            if self.minimum is not None and value < self.minimum:
                raise InvalidInput(
                    "bad_parameter", f"{self.name}: must be at least {self.minimum}, got {value}"
                )
            return value
        if self.kind is datetime:
            try:
                return to_datetime(parse_us(raw))
            except InvalidInput as exc:
                raise InvalidInput("bad_parameter", f"{self.name}: {exc.detail}") from None
        return raw


@dataclass(frozen=True)
class Query:
    summary: str
    params: tuple[Param, ...]
    answer: Any  # the answer's type: a pydantic model, or a list of one
    run: Callable[[Store, Params], Any]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def columns_of(row: type, *names: str) -> Columns:
    """Answer columns taken from a table's row type (ingest/records/rows.py), the one
    declaration of its columns, rather than written out again; a time (``Micros``) is an
    RFC 3339 datetime in an answer."""
    hints = get_type_hints(row, include_extras=True)
    return {n: datetime if _is_micros(hints[n]) else hints[n] for n in names}


def _is_micros(hint: Any) -> bool:
    return get_origin(hint) is Annotated and MICROS in hint.__metadata__


def model(name: str, columns: Columns) -> type[BaseModel]:
    """The pydantic model of one row (or one record) of an answer."""
    fields: dict[str, Any] = {c: (t if isinstance(t, tuple) else (t, ...)) for c, t in columns.items()}
    return create_model(name, **fields)


def rows(name: str, columns: Columns) -> Any:
    """An answer of rows: a list of ``model(name, columns)``."""
    return GenericAlias(list, (model(name, columns),))


FILTERS = (
    Param("site", "Only this site (empty: every site of the token's scope; another site: 403)."),
    Param("line", "Only this line (empty: every line of the token's scope; another line: 403)."),
)


def _item_key(raw: str) -> None:
    if not raw.startswith(ITEM_KEY_PREFIXES) or len(raw) > 256:
        raise InvalidInput(
            "bad_parameter",
            f"item: not an item key: {raw!r} (an item key starts with {', '.join(ITEM_KEY_PREFIXES)})",
        )


ITEM = Param("item", "Item key.", required=True, check=_item_key)
DIRECTION = Param("direction", "up or down (default down).", default="down", choices=("up", "down"))
LIMIT_1000 = Param("limit", "At most this many (default 1000).", int, 1000, minimum=1)


def window(default_minutes: int, until: str = "RFC 3339 end.") -> tuple[Param, ...]:
    return (
        Param("minutes", f"Window ending now (default {default_minutes}).", int, default_minutes, minimum=1),
        Param("since", "RFC 3339 start (overrides minutes).", datetime, None),
        Param("until", until, datetime, None),
        *FILTERS,
    )
