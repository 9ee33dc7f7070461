"""Label matchers, as Alertmanager spells them: ``name op value``.

``=`` equal, ``!=`` not equal, ``=~`` the whole value matches the regular expression,
``!~`` it does not. A label an alert does not carry has the value ``""`` (so
``issuer!="x"`` matches an alert without an issuer, and ``issuer=""`` matches only one
without). Rules use matchers on their input rows (``where``, ``scope``: evaluated in
polars), silences and inhibition on alert labels (evaluated here, in Python). Regular
expressions are checked at load with Python's ``re``; keep to the syntax Python and
Rust's ``regex`` share (no look-around, no back-references).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

MatchOp = Literal["=", "!=", "=~", "!~"]


class Matcher(BaseModel):
    """One label matcher: ``{ name = "venue", op = "=~", value = "kraken|bybit" }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    op: MatchOp = "="
    value: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
            raise ValueError("must be a snake_case label name")
        return value

    @model_validator(mode="after")
    def _regex(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"value is not a regular expression: {exc}") from exc
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set satisfies this matcher (absent label = ``""``)."""
        found = labels.get(self.name, "")
        if self.op == "=":
            return found == self.value
        if self.op == "!=":
            return found != self.value
        hit = re.fullmatch(self.value, found) is not None
        return hit if self.op == "=~" else not hit

    def expr(self, column: str | None = None) -> pl.Expr:
        """The same test on a column of a frame (null = ``""``)."""
        value = pl.col(column or self.name).cast(pl.String).fill_null("")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = value.str.contains(f"^(?:{self.value})$")
        return hit if self.op == "=~" else ~hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def match_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)
