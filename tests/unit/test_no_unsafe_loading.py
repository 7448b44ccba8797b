"""No code path turns received bytes into objects by running them: no pickle (nor its kin), no
marshal.loads, no yaml.load without the safe loader, no faust pickle serializer. Every record
is JSON (orjson) or plain YAML through yaml.safe_load."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("ingest", "streams", "storage", "readers", "loadtest", "tests")
THIS = Path(__file__).resolve()

UNSAFE = [
    (re.compile(r"\b(c?pickle|dill|cloudpickle|jsonpickle|shelve)\b", re.IGNORECASE), "pickle or its kin"),
    (re.compile(r"\bmarshal\.loads?\b"), "marshal"),
    (
        re.compile(r"\byaml\.(load|load_all|unsafe_load|full_load)\((?![^)]*SafeLoader)"),
        "yaml.load without SafeLoader",
    ),
    (re.compile(r"\bserializer\s*=\s*['\"]pickle"), "a faust pickle serializer"),
]


def test_no_unsafe_deserialisation_in_the_tree() -> None:
    found = []
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.resolve() == THIS:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for pattern, what in UNSAFE:
                    if pattern.search(line):
                        found.append(f"{path.relative_to(ROOT)}:{n}: {what}: {line.strip()}")

    assert found == []


def test_the_patterns_catch_what_they_are_for() -> None:
    caught = [
        "import pickle",
        "from cPickle import loads",
        "data = marshal.loads(raw)",
        "doc = yaml.load(text)",
        "doc = yaml.load(text, Loader=yaml.Loader)",
        "app.topic('x', value_serializer='pickle')",
    ]
    allowed = [
        "doc = yaml.safe_load(text)",
        "yaml.load(text, Loader=yaml.SafeLoader)",
        "value_serializer='raw'",
    ]

    assert all(any(p.search(line) for p, _ in UNSAFE) for line in caught)
    assert not any(p.search(line) for p, _ in UNSAFE for line in allowed)
