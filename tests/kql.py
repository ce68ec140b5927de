"""A small evaluator of the Kusto (KQL) subset the generated Azure queries use, over rows held in memory.

It exists so that the workbook's and the alerts' queries are *run* against the JSON lines the Azure entrypoint
really writes (as ``AppTraces`` rows): a query that parses here but selects nothing, or selects the wrong
rows, fails a test. Supported, with Kusto's semantics for these cases:

* sources: a table name, ``datatable(...)[]`` (empty), ``union isfuzzy=true (a), (b)``;
* operators: ``where``, ``extend``, ``project``, ``summarize ... [by ...]``, ``order by``, ``take``, ``render``;
* expressions: literals (strings, numbers, ``true``/``false``, timespans such as ``5m``), columns, dynamic
  member access (``line.status``), ``and``/``or``/``not()``, ``==``/``!=``/``<``/``>``/``<=``/``>=``, ``in``,
  ``startswith``, arithmetic; functions ``parse_json``, ``tostring``, ``todouble``, ``tolong``, ``isnull``,
  ``isnotnull``, ``isempty``, ``isnotempty``, ``iff``, ``bin``;
* aggregations: ``count()``, ``sum``, ``sumif``, ``countif``, ``avg``, ``max``, ``min``, ``dcount``,
  ``percentile`` (nearest rank).

Anything else raises :class:`KqlError`: a generated query may use only what is evaluated here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

Row = dict[str, Any]


class KqlError(ValueError):
    """A query outside the evaluated subset, or malformed."""


_TOKEN = re.compile(
    r"\s*(?:(?P<timespan>\d+(?:\.\d+)?(?:ms|d|h|m|s)\b)|(?P<number>\d+(?:\.\d+)?)|(?P<string>\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>==|!=|<=|>=|[|(),\[\]=<>.+\-*/:]))"
)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise KqlError(f"cannot read {text[position : position + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise KqlError(f"expected {value!r}, found {token[1]!r}")
        self.index += 1
        return token

    def at(self, value: str) -> bool:
        return self.peek()[1] == value

    # -- expressions (precedence: or < and < comparison < additive < multiplicative < unary < postfix) -------

    def expression(self) -> Any:
        left = self.conjunction()
        while self.at("or"):
            self.take()
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.comparison()
        while self.at("and"):
            self.take()
            left = ("and", left, self.comparison())
        return left

    def comparison(self) -> Any:
        left = self.additive()
        token = self.peek()[1]
        if token in ("==", "!=", "<", ">", "<=", ">=", "startswith"):
            self.take()
            return ("compare", token, left, self.additive())
        if token == "in":
            self.take()
            self.take("(")
            values = [self.expression()]
            while self.at(","):
                self.take()
                values.append(self.expression())
            self.take(")")
            return ("in", left, values)
        return left

    def additive(self) -> Any:
        left = self.multiplicative()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            left = ("arith", op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Any:
        left = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            left = ("arith", op, left, self.unary())
        return left

    def unary(self) -> Any:
        if self.at("-"):
            self.take()
            return ("arith", "-", ("literal", 0), self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                node = ("member", node, self.take()[1])
            elif self.at("["):
                self.take()
                key = self.expression()
                self.take("]")
                node = ("index", node, key)
            else:
                return node

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "number":
            return ("literal", float(value) if "." in value else int(value))
        if kind == "timespan":
            unit = re.sub(r"[\d.]", "", value)
            return ("literal", timedelta(seconds=float(value[: -len(unit)]) * _UNITS[unit]))
        if kind == "string":
            return ("literal", json.loads(value))
        if value == "(":
            node = self.expression()
            self.take(")")
            return node
        if kind == "name":
            if value in ("true", "false"):
                return ("literal", value == "true")
            if self.at("("):
                self.take()
                args = []
                if not self.at(")"):
                    args.append(self.expression())
                    while self.at(","):
                        self.take()
                        args.append(self.expression())
                self.take(")")
                return ("call", value, args)
            return ("column", value)
        raise KqlError(f"unexpected {value!r}")


def _tostring(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def _todouble(value: Any) -> float | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _parse_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _bin(value: Any, size: Any) -> Any:
    if isinstance(value, datetime) and isinstance(size, timedelta):
        epoch = datetime(1970, 1, 1, tzinfo=value.tzinfo)
        step = size.total_seconds()
        return epoch + timedelta(seconds=math.floor((value - epoch).total_seconds() / step) * step)
    number, step = _todouble(value), _todouble(size)
    return None if number is None or not step else math.floor(number / step) * step


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "parse_json": _parse_json,
    "tostring": _tostring,
    "todouble": _todouble,
    "tolong": lambda v: None if _todouble(v) is None else int(_todouble(v) or 0),
    "isnull": lambda v: v is None,
    "isnotnull": lambda v: v is not None,
    "isempty": lambda v: v is None or v == "",
    "isnotempty": lambda v: v is not None and v != "",
    "iff": lambda c, a, b: a if c is True else b,
    "bin": _bin,
    "not": lambda v: not bool(v),
}


def evaluate(node: Any, row: Mapping[str, Any]) -> Any:
    kind = node[0]
    if kind == "literal":
        return node[1]
    if kind == "column":
        if node[1] not in row:
            raise KqlError(f"no column {node[1]!r} (have {sorted(row)})")
        return row[node[1]]
    if kind == "member":
        base = evaluate(node[1], row)
        return base.get(node[2]) if isinstance(base, dict) else None
    if kind == "index":
        base, key = evaluate(node[1], row), evaluate(node[2], row)
        return base.get(key) if isinstance(base, dict) else None
    if kind == "and":
        return evaluate(node[1], row) is True and evaluate(node[2], row) is True
    if kind == "or":
        return evaluate(node[1], row) is True or evaluate(node[2], row) is True
    if kind == "compare":
        op, left, right = node[1], evaluate(node[2], row), evaluate(node[3], row)
        if op == "startswith":
            return isinstance(left, str) and isinstance(right, str) and left.lower().startswith(right.lower())
        if left is None or right is None:
            return False
        return {"==": left == right, "!=": left != right, "<": left < right, ">": left > right,
                "<=": left <= right, ">=": left >= right}[op]  # fmt: skip
    if kind == "in":
        value = evaluate(node[1], row)
        return value is not None and any(value == evaluate(option, row) for option in node[2])
    if kind == "arith":
        op, left, right = node[1], evaluate(node[2], row), evaluate(node[3], row)
        if left is None or right is None:
            return None
        if op == "/":
            return None if right == 0 else left / right
        return {"+": left + right, "-": left - right, "*": left * right}[op]
    if kind == "call":
        name = node[1]
        if name not in FUNCTIONS:
            raise KqlError(f"function {name}() is not evaluated here")
        return FUNCTIONS[name](*(evaluate(arg, row) for arg in node[2]))
    raise KqlError(f"cannot evaluate {node!r}")


def _percentile(values: Sequence[float], point: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(point / 100 * len(ordered))) - 1]


def _aggregate(name: str, args: list[Any], rows: list[Row]) -> Any:
    def values(index: int = 0) -> list[Any]:
        return [evaluate(args[index], row) for row in rows]

    if name == "count":
        return len(rows)
    if name == "countif":
        return sum(1 for value in values() if value is True)
    if name == "sum":
        return sum(value for value in values() if value is not None)
    if name == "sumif":
        conditions = values(1)
        return sum(
            value for value, keep in zip(values(), conditions, strict=True) if keep is True and value is not None
        )
    numbers = [value for value in values() if value is not None] if args else []
    if name == "avg":
        return sum(numbers) / len(numbers) if numbers else None
    if name == "max":
        return max(numbers, default=None)
    if name == "min":
        return min(numbers, default=None)
    if name == "dcount":
        return len({_tostring(value) for value in numbers})
    if name == "percentile":
        return _percentile(numbers, float(evaluate(args[1], {})))
    raise KqlError(f"aggregation {name}() is not evaluated here")


_AGGREGATIONS = {"count", "countif", "sum", "sumif", "avg", "max", "min", "dcount", "percentile"}


def _summarized(expr: Any, rows: list[Row]) -> Any:
    """An expression of aggregations (``sum(a) / sum(b)``) over one group's rows."""
    if expr[0] == "call" and expr[1] in _AGGREGATIONS:
        return _aggregate(expr[1], expr[2], rows)
    if expr[0] == "literal":
        return expr[1]
    if expr[0] == "arith":
        left, right = _summarized(expr[2], rows), _summarized(expr[3], rows)
        return evaluate(("arith", expr[1], ("literal", left), ("literal", right)), {})
    raise KqlError(f"summarize needs aggregations, not {expr!r}")


def _assignments(parser: _Parser) -> list[tuple[str, Any]]:
    found = []
    while True:
        if parser.peek()[0] == "name" and parser.peek(1)[1] == "=" and parser.peek(2)[1] != "=":
            name = parser.take()[1]
            parser.take("=")
            expr = parser.expression()
        else:
            expr = parser.expression()
            name = _default_name(expr)
        found.append((name, expr))
        if not parser.at(","):
            return found
        parser.take()


def _default_name(expr: Any) -> str:
    if expr[0] == "column":
        return str(expr[1])
    if expr[0] == "call":
        inner = next((arg for arg in expr[2] if arg[0] == "column"), None)
        return f"{expr[1]}_{inner[1]}" if inner else f"{expr[1]}_"
    if expr[0] == "member":
        return f"{_default_name(expr[1])}_{expr[2]}"
    raise KqlError(f"name the column of {expr!r}")


def run(query: str, tables: Mapping[str, list[Row]]) -> list[Row]:
    """The rows ``query`` returns over ``tables`` (name -> rows)."""
    stages = _split(query)
    rows = _source(stages[0], tables)
    for stage in stages[1:]:
        rows = _operator(stage, rows)
    return rows


def _split(query: str) -> list[str]:
    """The query's stages, split on the ``|`` that are not inside strings or parentheses."""
    stages, depth, current, quoted, escape = [], 0, [], False, False
    for char in query:
        if quoted:
            current.append(char)
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == '"':
                quoted = False
            continue
        if char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            stages.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    stages.append("".join(current).strip())
    return stages


def _source(text: str, tables: Mapping[str, list[Row]]) -> list[Row]:
    parser = _Parser(tokenize(text))
    rows = _tabular(parser, tables)
    if parser.peek()[0] != "end":
        raise KqlError(f"unexpected {parser.peek()[1]!r} after the source")
    return rows


def _tabular(parser: _Parser, tables: Mapping[str, list[Row]]) -> list[Row]:
    kind, value = parser.take()
    if value == "union":
        fuzzy = False
        if parser.at("isfuzzy"):
            parser.take()
            parser.take("=")
            fuzzy = parser.take()[1] == "true"
        rows: list[Row] = []
        while True:
            parser.take("(")
            try:
                rows += _tabular(parser, tables)
            except KeyError:
                if not fuzzy:
                    raise
                while not parser.at(")"):
                    parser.take()
            parser.take(")")
            if not parser.at(","):
                return rows
            parser.take()
    if value == "datatable":
        depth = 0
        while True:  # the columns, then the (empty) values
            token = parser.take()[1]
            depth += {"(": 1, ")": -1}.get(token, 0)
            if token == ")" and depth == 0:
                break
        parser.take("[")
        if not parser.at("]"):
            raise KqlError("only an empty datatable is evaluated here")
        parser.take("]")
        return []
    if kind == "name":
        return [dict(row) for row in tables[value]]
    raise KqlError(f"unknown source {value!r}")


def _operator(text: str, rows: list[Row]) -> list[Row]:
    parser = _Parser(tokenize(text))
    name = parser.take()[1]
    if name == "render":
        return rows
    if name == "where":
        condition = parser.expression()
        result = [row for row in rows if evaluate(condition, row) is True]
    elif name in ("extend", "project"):
        assignments = _assignments(parser)
        result = []
        for row in rows:
            values = {column: evaluate(expr, row) for column, expr in assignments}
            result.append({**row, **values} if name == "extend" else values)
    elif name == "summarize":
        aggregates = _assignments_until_by(parser)
        groups = _assignments(parser) if parser.at("by") and parser.take() else []
        buckets: dict[tuple[Any, ...], list[Row]] = {}
        for row in rows:
            key = tuple(_hashable(evaluate(expr, row)) for _, expr in groups)
            buckets.setdefault(key, []).append(row)
        if not groups and not buckets:
            buckets[()] = []
        result = []
        for key, members in buckets.items():
            out = {column: value for (column, _), value in zip(groups, key, strict=True)}
            for column, expr in aggregates:
                out[column] = _summarized(expr, members)
            result.append(out)
    elif name == "order":
        parser.take("by")
        expr = parser.expression()
        descending = not parser.at("asc")
        result = sorted(rows, key=lambda row: _sort_key(evaluate(expr, row)), reverse=descending)
    elif name == "take":
        result = rows[: int(parser.take()[1])]
    else:
        raise KqlError(f"operator {name!r} is not evaluated here")
    if name not in ("order", "take") and parser.peek()[0] != "end":
        raise KqlError(f"unexpected {parser.peek()[1]!r} in {text!r}")
    return result


def _assignments_until_by(parser: _Parser) -> list[tuple[str, Any]]:
    found = []
    while True:
        if parser.peek()[0] == "name" and parser.peek(1)[1] == "=" and parser.peek(2)[1] != "=":
            name = parser.take()[1]
            parser.take("=")
            expr = parser.expression()
        else:
            expr = parser.expression()
            name = _default_name(expr)
        found.append((name, expr))
        if not parser.at(","):
            return found
        parser.take()


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if value is not None else (1, 0)
