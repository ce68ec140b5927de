"""A small evaluator of the Cloud Logging query language subset the generated GCP filters use, and of the
``EXTRACT`` extractors of log-based metrics, over log entries held in memory.

The log-based metrics and the dashboard's log panel are *run* against the JSON lines the GCP entrypoint
really writes, as Cloud Run turns them into log entries (:func:`entry`): a filter that selects nothing, or the
wrong entries, fails a test. Supported: ``AND``, ``OR`` (which binds tighter than ``AND`` in this language),
``NOT``, parentheses, ``path:*`` (the field exists), ``path="v"`` and ``path=("a" OR "b")``, ``path!="v"``,
on ``jsonPayload.*``, ``resource.type``, ``resource.labels.*`` and ``severity``. Anything else raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>!=|:\*|[=:()])|(?P<word>[A-Za-z_][\w.]*))')
#: The fields Cloud Run takes out of a JSON line into the log entry itself.
SPECIAL = ("severity", "logging.googleapis.com/trace", "logging.googleapis.com/spanId", "time", "timestamp")


class QueryError(ValueError):
    """A filter outside the evaluated subset, or malformed."""


def entry(line: Mapping[str, Any], *, service: str) -> dict[str, Any]:
    """The log entry Cloud Run makes of one JSON line a function of ``service`` writes to stdout."""
    payload = {name: value for name, value in line.items() if name not in SPECIAL}
    return {
        "severity": line.get("severity", "DEFAULT"),
        "jsonPayload": payload,
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
    }


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise QueryError(f"cannot read {text[position:position + 30]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _field(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise QueryError(f"expected {value!r}, found {token[1]!r}")
        self.index += 1
        return token

    def conjunction(self) -> Any:  # AND binds loosest
        terms = [self.disjunction()]
        while self.peek()[1] == "AND":
            self.take()
            terms.append(self.disjunction())
        return ("and", terms)

    def disjunction(self) -> Any:
        terms = [self.negation()]
        while self.peek()[1] == "OR":
            self.take()
            terms.append(self.negation())
        return ("or", terms)

    def negation(self) -> Any:
        if self.peek()[1] == "NOT":
            self.take()
            return ("not", self.negation())
        return self.primary()

    def primary(self) -> Any:
        if self.peek()[1] == "(":
            self.take()
            node = self.conjunction()
            self.take(")")
            return node
        kind, path = self.take()
        if kind != "word" or not path.startswith(("jsonPayload.", "resource.", "severity")):
            raise QueryError(f"not a field this evaluator reads: {path!r}")
        op = self.take()[1]
        if op == ":*":
            return ("exists", path)
        if op not in ("=", "!="):
            raise QueryError(f"operator {op!r} is not evaluated here")
        if self.peek()[1] == "(":
            self.take()
            values = [self._string()]
            while self.peek()[1] == "OR":
                self.take()
                values.append(self._string())
            self.take(")")
        else:
            values = [self._string()]
        return ("equals", path, values, op == "!=")

    def _string(self) -> str:
        kind, value = self.take()
        if kind != "string":
            raise QueryError(f"expected a quoted value, found {value!r}")
        return str(json.loads(value))


def parse(text: str) -> Any:
    """The filter's tree (raises :class:`QueryError` outside the subset)."""
    parser = _Parser(text)
    tree = parser.conjunction()
    if parser.peek()[0] != "end":
        raise QueryError(f"unexpected {parser.peek()[1]!r}")
    return tree


def matches(text: str, record: Mapping[str, Any]) -> bool:
    """Whether the log entry ``record`` passes the filter ``text``."""
    return _evaluate(parse(text), record)


def _evaluate(node: Any, record: Mapping[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return all(_evaluate(term, record) for term in node[1])
    if kind == "or":
        return any(_evaluate(term, record) for term in node[1])
    if kind == "not":
        return not _evaluate(node[1], record)
    if kind == "exists":
        return _field(record, node[1]) is not None
    if kind == "equals":
        value = _field(record, node[1])
        found = value is not None and _text(value) in node[2]
        return not found if node[3] else found
    raise QueryError(node)


_EXTRACT = re.compile(r"^EXTRACT\((?P<path>[\w.]+)\)$")


def extract(extractor: str, record: Mapping[str, Any]) -> str | None:
    """What ``EXTRACT(path)`` gives for ``record``: the field as text, or None when it is absent."""
    match = _EXTRACT.match(extractor.strip())
    if match is None:
        raise QueryError(f"only EXTRACT(path) is evaluated here, not {extractor!r}")
    value = _field(record, match["path"])
    return None if value is None else _text(value)
