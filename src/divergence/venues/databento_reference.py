"""Databento reference data (JSON Lines): corporate actions and adjustment factors.

Pure parsing into frozen records with exact decimals. The corporate-actions file gives
splits (``FSPLT``) and reverse splits (``RSPLT``) as ``ratio_new`` shares per
``ratio_old`` on an ``ex_date``: the fields of the catalog's ``[[split]]`` entries
(docs/reference-prices.md), so a split can be checked against, or copied from, the
vendor's record. Adjustment factors are the vendor's price factors for dividends and
splits (for MSFT's USD 0.10 dividend of 2007-02-13, ``1 - 0.10 / 28.94``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from divergence.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class CorporateAction:
    """One corporate-actions record; for a split, ``ratio_new`` shares per ``ratio_old``.

    ``event`` is Databento's code: ``FSPLT`` forward split, ``RSPLT`` reverse split
    (``event_subtype`` ``CONSD``, a consolidation), ``DIV`` dividend, and others.
    """

    event_unique_id: str
    event: str
    event_subtype: str | None
    event_action: str | None
    symbol: str
    isin: str | None
    operating_mic: str | None
    ex_date: date | None
    ratio_old: Decimal | None
    ratio_new: Decimal | None

    @property
    def is_split(self) -> bool:
        return self.event in ("FSPLT", "RSPLT") and bool(self.ratio_old and self.ratio_new)


@dataclass(frozen=True)
class AdjustmentFactor:
    """A price-adjustment factor: prices before ``ex_date`` times ``factor`` (exact)."""

    security_id: int
    event_id: int
    event_type: str
    symbol: str
    isin: str | None
    operating_mic: str | None
    ex_date: date
    factor: Decimal
    close: Decimal | None
    currency: str | None
    detail: str


def parse_corporate_actions(lines: Iterable[str], *, source: str) -> list[CorporateAction]:
    """Corporate-action records from JSON Lines text (numbers kept as exact decimals)."""
    return [_record(row, n, source, _corporate_action) for n, row in _json_lines(lines, source)]


def parse_adjustment_factors(lines: Iterable[str], *, source: str) -> list[AdjustmentFactor]:
    """Adjustment-factor records from JSON Lines text; identical lines are kept once."""
    rows = _json_lines(lines, source)
    return list(dict.fromkeys(_record(row, n, source, _adjustment_factor) for n, row in rows))


def _corporate_action(row: dict[str, Any]) -> CorporateAction:
    return CorporateAction(
        event_unique_id=row["event_unique_id"],
        event=row["event"],
        event_subtype=row.get("event_subtype"),
        event_action=row.get("event_action"),
        symbol=row["symbol"],
        isin=row.get("isin"),
        operating_mic=row.get("operating_mic"),
        ex_date=_date(row.get("ex_date")),
        ratio_old=_decimal(row.get("ratio_old")),
        ratio_new=_decimal(row.get("ratio_new")),
    )


def _adjustment_factor(row: dict[str, Any]) -> AdjustmentFactor:
    return AdjustmentFactor(
        security_id=int(row["security_id"]),
        event_id=int(row["event_id"]),
        event_type=row["event_type"],
        symbol=row.get("nasdaq_symbol") or row["local_code"],
        isin=row.get("isin"),
        operating_mic=row.get("operating_mic"),
        ex_date=date.fromisoformat(row["ex_date"]),
        factor=Decimal(row["factor"]),
        close=_decimal(row.get("close")),
        currency=row.get("currency"),
        detail=row.get("detail") or "",
    )


def read_corporate_actions(path: Path) -> list[CorporateAction]:
    with path.open(encoding="utf-8") as lines:
        return parse_corporate_actions(lines, source=str(path))


def read_adjustment_factors(path: Path) -> list[AdjustmentFactor]:
    with path.open(encoding="utf-8") as lines:
        return parse_adjustment_factors(lines, source=str(path))


def _json_lines(lines: Iterable[str], source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not JSON: {exc}", key=f"line {number}", source=source) from exc
        if not isinstance(row, dict):
            raise ConfigError("expected a JSON object", key=f"line {number}", source=source)
        yield number, row


def _record(row: dict[str, Any], number: int, source: str, build: Callable[[Any], T]) -> T:
    try:
        return build(row)
    except KeyError as exc:
        raise ConfigError(f"missing field {exc}", key=f"line {number}", source=source) from exc
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"bad value: {exc}", key=f"line {number}", source=source) from exc


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _decimal(value: Decimal | int | None) -> Decimal | None:
    return None if value is None else Decimal(value)
