"""A setting, declared once: its name, the kind of value it takes, its default and what it means.

The ``THUMBS_*`` vocabulary (:mod:`core.vocabulary`) and each provider's own settings (the
``function_settings`` and ``operator_settings`` of its :class:`core.registry.ProviderSpec`) are
:class:`Setting` values. :func:`core.config.load_config` reads and validates through them, the providers read
their own values through them, and the documentation's configuration reference is generated from them, so
a name, its accepted values and its meaning are written in one place.

A :class:`Kind` parses a value and says what it accepts; its error names the variable the value came from
(an alias, too) and the accepted values, as every setting error does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_BYTE_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "M": 10**6, "MB": 10**6,
               "MIB": 2**20, "G": 10**9, "GB": 10**9, "GIB": 2**30}  # fmt: skip


class Kind:
    """What values a setting takes: :meth:`parse` turns one into its typed value, :attr:`accepted` says which.

    ``verbatim`` kinds get the value exactly as set; every other kind gets it with surrounding whitespace removed.
    Kinds are plain classes, not dataclasses: a function's cold start creates them all, and a dataclass costs a
    millisecond to define.
    """

    __slots__ = ()
    verbatim = False

    def __repr__(self) -> str:
        names = [name for cls in type(self).__mro__ for name in getattr(cls, "__slots__", ())]
        return f"{type(self).__name__}({', '.join(f'{name}={getattr(self, name)!r}' for name in names)})"

    @property
    def accepted(self) -> str:
        """The accepted values, as an error message and the documentation say them."""
        raise NotImplementedError

    def parse(self, name: str, value: str) -> Any:
        """The typed value of ``value`` (never empty), or a :class:`ConfigError` naming ``name``."""
        raise NotImplementedError

    def refuse(self, name: str, value: str, *, why: str = "is not valid") -> ConfigError:
        """The error of a value this kind does not accept."""
        return ConfigError(f"{name}={value!r} {why}; accepted values: {self.accepted}")


@dataclass(frozen=True)
class Setting:
    """One environment variable.

    Attributes:
        name: The variable (``THUMBS_SIZES``).
        kind: The values it takes.
        meaning: One sentence of Markdown: what it does (the documentation shows it beside the accepted values).
        default: The value used when it is unset, written as one would set it; None: unset means no value.
        default_text: The default as the documentation shows it, where ``default`` cannot say it
            (``per format (JPEG 85, WebP 80, AVIF 60)``).
        field: The :class:`core.config.Config` attribute holding the value (the shared vocabulary only).
        aliases: Older names still read when ``name`` is not set (the first releases' names).
        deprecated: Older names still read, with one WARNING per process naming ``name``.
    """

    name: str
    kind: Kind
    meaning: str
    default: str | None = None
    default_text: str | None = None
    field: str | None = None
    aliases: tuple[str, ...] = ()
    deprecated: tuple[str, ...] = ()

    @property
    def accepted(self) -> str:
        """The accepted values (:attr:`Kind.accepted`)."""
        return self.kind.accepted

    @property
    def shown_default(self) -> str:
        """The default as the documentation shows it (Markdown)."""
        if self.default_text is not None:
            return self.default_text
        return f"`{self.default}`" if self.default is not None else "(none)"

    def value(self, raw: str | None, *, name: str | None = None) -> Any:
        """The typed value of ``raw`` (None or blank: the default's, or None); errors name ``name`` (the variable).

        Raises:
            ConfigError: ``raw`` is not one of the accepted values.
        """
        if raw is None or not raw.strip():
            if raw and self.kind.verbatim:  # only whitespace, where whitespace counts: the kind decides
                return self.kind.parse(name or self.name, raw)
            return None if self.default is None else self.kind.parse(self.name, self.default)
        return self.kind.parse(name or self.name, raw if self.kind.verbatim else raw.strip())

    def read(self, environ: Mapping[str, str]) -> Any:
        """The typed value this setting has in ``environ`` (its aliases too), or its default.

        Raises:
            ConfigError: the value set is not one of the accepted values (naming the variable that holds it).
        """
        for name in (self.name, *self.aliases, *self.deprecated):
            if (environ.get(name) or "").strip():
                return self.value(environ[name], name=name)
        return self.value(None)


# -- kinds ---------------------------------------------------------------------------------------------------


class Text(Kind):
    """Any text (a name, a path); ``what`` says what it is."""

    __slots__ = ("what",)

    def __init__(self, what: str = "text") -> None:
        self.what = what


    @property
    def accepted(self) -> str:
        return self.what

    def parse(self, name: str, value: str) -> str:
        return value


class Choice(Kind):
    """One of ``values``, in any letter case; the value is the listed one (a :class:`enum.StrEnum` member too)."""

    __slots__ = ("values",)

    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values


    @property
    def accepted(self) -> str:
        return " | ".join(self.values)

    def parse(self, name: str, value: str) -> str:
        for choice in self.values:
            if choice.lower() == value.lower():
                return choice
        raise self.refuse(name, value)


class WholeNumber(Kind):
    """A whole number from ``low`` to ``high`` (``_`` separators allowed: ``50_000_000``)."""

    __slots__ = ("high", "low")

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high


    @property
    def accepted(self) -> str:
        return f"a whole number from {self.low} to {self.high}"

    def parse(self, name: str, value: str) -> int:
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise self.refuse(name, value) from None
        if not self.low <= number <= self.high:
            raise self.refuse(name, value, why="is out of range")
        return number


class ByteSize(Kind):
    """A positive number of bytes, optionally with a decimal or binary unit."""

    __slots__ = ()

    @property
    def accepted(self) -> str:
        return "a positive size in bytes, optionally with a unit (KB, MB, GB, KiB, MiB, GiB), e.g. 64MiB"

    def parse(self, name: str, value: str) -> int:
        match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", value)
        unit = match.group(2).upper() if match else ""
        if not match or unit not in _BYTE_UNITS or int(match.group(1)) == 0:
            raise self.refuse(name, value)
        return int(match.group(1)) * _BYTE_UNITS[unit]


class Seconds(Kind):
    """A positive number of seconds up to ``high``, with an optional ``s`` (``7.5s``)."""

    __slots__ = ("high",)

    def __init__(self, high: float = 86400) -> None:
        self.high = high


    @property
    def accepted(self) -> str:
        return f"seconds above 0, up to {self.high:g}, e.g. 60 or 7.5s"

    def parse(self, name: str, value: str) -> float:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s?\s*", value)
        if not match or not 0 < float(match.group(1)) <= self.high:
            raise self.refuse(name, value)
        return float(match.group(1))


class Duration(Kind):
    """Whole seconds from 1 to ``high``, or a number with a unit ``s``, ``m``, ``h``, ``d`` (``12h``)."""

    __slots__ = ("high", "why")

    def __init__(self, high: int, why: str = "") -> None:
        self.high = high
        self.why = why


    @property
    def accepted(self) -> str:
        limit = f"{self.high // 86400} d" if self.high % 86400 == 0 else f"{self.high} s"
        return (
            f"a duration from 1 s to {limit}, in seconds or with a unit s, m, h, d (e.g. 3600 or 1h"
            + (f"; {self.why}" if self.why else "")
            + ")"
        )

    def parse(self, name: str, value: str) -> int:
        match = re.fullmatch(r"\s*(\d{1,12})\s*([smhd]?)\s*", value.lower())
        seconds = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)] if match else 0
        if not 1 <= seconds <= self.high:
            raise self.refuse(name, value)
        return seconds


class Flag(Kind):
    """True or false."""

    __slots__ = ()

    @property
    def accepted(self) -> str:
        return "true | false (also 1/0, yes/no, on/off)"

    def parse(self, name: str, value: str) -> bool:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self.refuse(name, value)


class CommaList(Kind):
    """Comma-separated items (blank items dropped), as a tuple; ``what`` names them."""

    __slots__ = ("what",)

    def __init__(self, what: str = "comma-separated values") -> None:
        self.what = what


    @property
    def accepted(self) -> str:
        return self.what

    def parse(self, name: str, value: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in value.split(",") if part.strip())


class Pattern(Kind):
    """Text matching ``regex`` in full; ``what`` says the rule in words."""

    __slots__ = ("regex", "what")

    def __init__(self, regex: str, what: str) -> None:
        self.regex = regex
        self.what = what


    @property
    def accepted(self) -> str:
        return self.what

    def parse(self, name: str, value: str) -> str:
        if not re.fullmatch(self.regex, value):
            raise self.refuse(name, value)
        return value


class Url(Kind):
    """An absolute URL with one of ``schemes``; ``what`` says what it points at."""

    __slots__ = ("schemes", "what")

    def __init__(self, what: str, schemes: tuple[str, ...] = ("https", "http")) -> None:
        self.what = what
        self.schemes = schemes


    @property
    def accepted(self) -> str:
        return f"{' or '.join(f'{s}://' for s in self.schemes)} URL of {self.what}"

    def parse(self, name: str, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme.lower() not in self.schemes or not parts.netloc:
            raise self.refuse(name, value)
        return value
