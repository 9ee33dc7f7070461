"""The instrument and venue catalog (``ingest/instruments.toml``), validated strictly.

Every table forbids unknown keys, and cross-references (a token's underlying, venue and
quote currency) are checked at load, so a typo fails at start-up with a
:class:`~divergence.errors.ConfigError` that names the key and the file.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from divergence.clock import ns_from_datetime
from divergence.errors import ConfigError
from divergence.validation import load_toml, validate_model

_STRICT = ConfigDict(extra="forbid", frozen=True)
VenueKind = Literal["book", "amm", "reference", "fx"]
Tracking = Literal["total_return", "rebasing"]
ReferenceSession = Literal["pre", "regular", "post", "overnight"]


class Underlying(BaseModel):
    model_config = _STRICT
    symbol: str
    name: str
    tier: Literal[1, 2] = 1
    listing_exchange: str = "XNYS"


class Stablecoin(BaseModel):
    model_config = _STRICT
    currency: str
    issuer: str


class Venue(BaseModel):
    model_config = _STRICT
    id: str
    name: str
    kind: VenueKind
    adapter: str
    taker_fee_bps: Decimal = Decimal(0)


class Multiplier(BaseModel):
    """Shares of the underlying per token unit as the venue quotes it, from a time on."""

    model_config = _STRICT
    effective_from: datetime
    value: Decimal = Field(gt=0)

    @field_validator("effective_from")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2025-06-30T00:00:00Z")
        return value


class Pool(BaseModel):
    """An on-chain pool (Uniswap v3 style) that a token listing trades in.

    ``token0`` is the pool's lower-address token. ``base_is_token0`` says whether the
    tokenized stock is token0 (price = token1 per token0) or token1 (price inverted).
    Decimals are the ERC-20 ``decimals()`` of each side, read once and kept here.
    """

    model_config = _STRICT
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    token0_decimals: int = Field(ge=0, le=36)
    token1_decimals: int = Field(ge=0, le=36)
    base_is_token0: bool = True
    fee_bps: Decimal = Field(ge=0)


class Token(BaseModel):
    model_config = _STRICT
    id: str
    venue: str
    venue_symbol: str
    issuer: str
    product: str
    underlying: str
    quote_currency: str
    chain: str | None = None
    contract: str | None = None
    trading_hours: Literal["24/7", "24/5", "market"] = "24/7"
    price_decimals: int | None = Field(default=None, ge=0, le=18)
    size_decimals: int | None = Field(default=None, ge=0, le=18)
    pool: Pool | None = None
    tracking: Tracking = "total_return"
    """How fair value per quoted unit follows from the share price S and the multiplier m
    (docs/reference-prices.md): ``total_return``, F = S x m (Ondo sValue, Robinhood
    uiMultiplier, xStocks traded in raw units); ``rebasing``, F = S (the quoted unit
    already includes m, e.g. xStocks in UI units on Kraken): m is recorded, not applied."""
    multiplier_from_venue: bool = False
    """Extend the history with the multiplier the venue reports at discovery (Bybit
    ``xstockMultiplier``), effective from the time it was observed."""
    multipliers: tuple[Multiplier, ...] = Field(min_length=1)

    @field_validator("multipliers")
    @classmethod
    def _ordered(cls, value: tuple[Multiplier, ...]) -> tuple[Multiplier, ...]:
        times = [m.effective_from for m in value]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError("effective_from must strictly increase")
        return value


class FxListing(BaseModel):
    """A stablecoin market on a venue that yields a USD rate for ``currency``.

    ``symbol`` is the venue's own spelling (``USDT/USD`` on Kraken, ``USDCUSDT`` on
    Bybit); how the rate is derived from it is the adapter's business (docs/venues.md).
    """

    model_config = _STRICT
    venue: str
    symbol: str
    currencies: tuple[str, ...] = Field(min_length=1)


class Reference(BaseModel):
    """A reference instrument for an underlying and the sessions it is a reference in.

    ``sessions`` lists the market sessions in which this source's quotes may serve as the
    reference: a consolidated feed (SIP) covers pre, regular and post; an overnight
    venue (Blue Ocean ATS via Alpaca ``boats`` or Databento ``OCEA.MEMOIR``) covers
    ``overnight`` (docs/reference-prices.md).
    """

    model_config = _STRICT
    id: str
    venue: str
    symbol: str
    underlying: str
    sessions: tuple[ReferenceSession, ...] = ("pre", "regular", "post")


class Split(BaseModel):
    """A stock split (or reverse split) of an underlying: ``ratio_new`` shares for every
    ``ratio_old`` from the XNYS trading day ``ex_date`` on (4:1 is new 4, old 1)."""

    model_config = _STRICT
    underlying: str
    ex_date: date
    ratio_new: Decimal = Field(gt=0)
    ratio_old: Decimal = Field(gt=0)
    source: str = "catalog"


class Catalog(BaseModel):
    """The whole catalog, cross-checked."""

    model_config = _STRICT
    underlying: tuple[Underlying, ...]
    stablecoin: tuple[Stablecoin, ...] = ()
    venue: tuple[Venue, ...]
    token: tuple[Token, ...] = ()
    reference: tuple[Reference, ...] = ()
    fx: tuple[FxListing, ...] = ()
    split: tuple[Split, ...] = ()

    @property
    def underlyings(self) -> dict[str, Underlying]:
        return {u.symbol: u for u in self.underlying}

    @property
    def venues(self) -> dict[str, Venue]:
        return {v.id: v for v in self.venue}

    def tokens_on(self, venue: str) -> tuple[Token, ...]:
        return tuple(t for t in self.token if t.venue == venue)

    def fx_on(self, venue: str) -> tuple[FxListing, ...]:
        return tuple(f for f in self.fx if f.venue == venue)

    def references_on(self, venue: str) -> tuple[Reference, ...]:
        return tuple(r for r in self.reference if r.venue == venue)

    def tokens_for(self, underlying: str) -> tuple[Token, ...]:
        return tuple(t for t in self.token if t.underlying == underlying)

    def multipliers_frame(self) -> pl.DataFrame:
        """One row per (token, effective_from): the catalog's multiplier history, exact."""
        rows = [
            (t.id, ns_from_datetime(m.effective_from), m.value)
            for t in self.token
            for m in t.multipliers
        ]
        return pl.DataFrame(
            rows,
            schema={
                "instrument_id": pl.String,
                "effective_from": pl.Int64,
                "multiplier": pl.Decimal(38, 18),
            },
            orient="row",
        )

    def splits_frame(self) -> pl.DataFrame:
        """One row per split: underlying, ex_date, ratio_new, ratio_old, source."""
        return pl.DataFrame(
            [(s.underlying, s.ex_date, s.ratio_new, s.ratio_old, s.source) for s in self.split],
            schema={
                "underlying": pl.String,
                "ex_date": pl.Date,
                "ratio_new": pl.Decimal(38, 18),
                "ratio_old": pl.Decimal(38, 18),
                "source": pl.String,
            },
            orient="row",
        )

    def reference_sessions_frame(self) -> pl.DataFrame:
        """One row per (reference instrument, session it may serve as the reference in)."""
        return pl.DataFrame(
            [(r.id, s) for r in self.reference for s in r.sessions],
            schema={"ref_instrument_id": pl.String, "ref_session": pl.String},
            orient="row",
        )

    def instruments_frame(self) -> pl.DataFrame:
        """Tokens and references in one table (the DuckDB ``instruments`` table)."""
        fees = {v.id: float(v.taker_fee_bps) for v in self.venue}
        rows = [
            (
                t.id,
                "token",
                t.venue,
                t.venue_symbol,
                t.underlying,
                t.quote_currency,
                t.issuer,
                t.product,
                t.chain,
                t.contract,
                t.trading_hours,
                fees[t.venue],
                t.tracking,
                t.multiplier_from_venue,
                None,
            )
            for t in self.token
        ] + [
            (
                r.id,
                "reference",
                r.venue,
                r.symbol,
                r.underlying,
                "USD",
                None,
                None,
                None,
                None,
                "market",
                0.0,
                None,
                False,
                ",".join(r.sessions),
            )
            for r in self.reference
        ]
        return pl.DataFrame(
            rows,
            schema={
                "instrument_id": pl.String,
                "role": pl.String,
                "venue": pl.String,
                "venue_symbol": pl.String,
                "underlying": pl.String,
                "quote_currency": pl.String,
                "issuer": pl.String,
                "product": pl.String,
                "chain": pl.String,
                "contract": pl.String,
                "trading_hours": pl.String,
                "taker_fee_bps": pl.Float64,
                "tracking": pl.String,
                "multiplier_from_venue": pl.Boolean,
                "ref_sessions": pl.String,
            },
            orient="row",
        )


def load_catalog(path: Path) -> Catalog:
    """Read and validate the catalog file; every problem names its key and the file."""
    source = str(path)
    catalog = validate_model(Catalog, load_toml(path, missing_key="catalog_path"), source=source)
    _cross_check(catalog, source)
    return catalog


def _cross_check(catalog: Catalog, source: str) -> None:
    underlyings = catalog.underlyings
    venues = catalog.venues
    currencies = {"USD"} | {s.currency for s in catalog.stablecoin}
    _unique([u.symbol for u in catalog.underlying], "underlying", "symbol", source)
    _unique([v.id for v in catalog.venue], "venue", "id", source)
    _unique([t.id for t in catalog.token], "token", "id", source)
    _unique([r.id for r in catalog.reference], "reference", "id", source)
    for i, token in enumerate(catalog.token):
        _known(token.underlying, underlyings, f"token[{i}].underlying", "underlying", source)
        _known(token.venue, venues, f"token[{i}].venue", "venue", source)
        if venues[token.venue].kind not in ("book", "amm"):
            raise ConfigError(
                f"venue {token.venue!r} is a {venues[token.venue].kind} venue, not book or amm",
                key=f"token[{i}].venue",
                source=source,
            )
        _known(token.quote_currency, currencies, f"token[{i}].quote_currency", "currency", source)
    stablecoins = {s.currency for s in catalog.stablecoin}
    for i, listing in enumerate(catalog.fx):
        _known(listing.venue, venues, f"fx[{i}].venue", "venue", source)
        for currency in listing.currencies:
            _known(currency, stablecoins, f"fx[{i}].currencies", "stablecoin", source)
    for i, ref in enumerate(catalog.reference):
        _known(ref.underlying, underlyings, f"reference[{i}].underlying", "underlying", source)
        _known(ref.venue, venues, f"reference[{i}].venue", "venue", source)
        if not ref.sessions:
            raise ConfigError("lists no session", key=f"reference[{i}].sessions", source=source)
    for i, split in enumerate(catalog.split):
        _known(split.underlying, underlyings, f"split[{i}].underlying", "underlying", source)


def _known(value: str, known: object, key: str, what: str, source: str) -> None:
    if value not in known:  # type: ignore[operator]
        names = ", ".join(sorted(known))  # type: ignore[call-overload]
        raise ConfigError(f"unknown {what} {value!r} (known: {names})", key=key, source=source)


def _unique(values: list[str], table: str, field: str, source: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise ConfigError(
                f"duplicate {field} {value!r}", key=f"{table}[{i}].{field}", source=source
            )
        seen.add(value)
