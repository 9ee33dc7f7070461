"""Databento reference data (JSON Lines): corporate actions and adjustment factors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from divergence.errors import ConfigError
from divergence.venues.databento_reference import (
    CorporateAction,
    parse_adjustment_factors,
    parse_corporate_actions,
    read_adjustment_factors,
    read_corporate_actions,
)


def test_dbn_reference_corporate_actions_reverse_splits(equities: Path) -> None:
    actions = read_corporate_actions(equities / "REFERENCE.corporate-actions.jsonl")
    assert [(a.symbol, a.event, a.event_subtype, a.ratio_old, a.ratio_new) for a in actions] == [
        ("BOMO", "RSPLT", "CONSD", Decimal(1000), Decimal(1)),
        ("BRQS", "RSPLT", "CONSD", Decimal(12), Decimal(1)),
    ]
    assert all(a.ex_date == date(2023, 10, 10) and a.is_split for a in actions)
    assert [a.operating_mic for a in actions] == ["OTCM", "XNAS"]
    assert actions[1].isin == "VGG1466B1452"


def test_dbn_reference_adjustment_factor_is_exact(equities: Path) -> None:
    factors = read_adjustment_factors(equities / "REFERENCE.adjustment-factors.jsonl")
    assert len(factors) == 1  # the file's two identical lines are one fact
    (msft,) = factors
    assert (msft.symbol, msft.isin, msft.event_type) == ("MSFT", "US5949181045", "DIV")
    assert msft.ex_date == date(2007, 2, 13)
    assert msft.factor == Decimal("0.996544574982723")  # the JSON text, not a float
    assert msft.close == Decimal("28.94")
    # a USD 0.10 cash dividend on a 28.94 close: factor = 1 - 0.10 / 28.94 (15 places)
    assert (1 - Decimal("0.10") / msft.close).quantize(Decimal("1e-15")) == msft.factor


def test_dbn_reference_split_needs_both_ratios() -> None:
    line = (
        '{"event_unique_id": "U-1", "event": "FSPLT", "symbol": "NVDA", '
        '"ex_date": "2024-06-10", "ratio_old": 1, "ratio_new": 10}'
    )
    (split,) = parse_corporate_actions([line, ""], source="t")
    assert split == CorporateAction(
        event_unique_id="U-1",
        event="FSPLT",
        event_subtype=None,
        event_action=None,
        symbol="NVDA",
        isin=None,
        operating_mic=None,
        ex_date=date(2024, 6, 10),
        ratio_old=Decimal(1),
        ratio_new=Decimal(10),
    )
    assert split.is_split
    (dividend,) = parse_corporate_actions(
        ['{"event_unique_id": "U-2", "event": "DIV", "symbol": "MSFT", "ex_date": null}'],
        source="t",
    )
    assert not dividend.is_split and dividend.ex_date is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        ('{"event_unique_id": "U-3", "event": "RSPLT"}', "line 2: missing field 'symbol'"),
        (
            '{"event_unique_id": "U-3", "event": "RSPLT", "symbol": "X", "ex_date": "10/10/23"}',
            "line 2: bad value",
        ),
    ],
)
def test_dbn_reference_bad_line_names_the_line(line: str, message: str) -> None:
    good = '{"event_unique_id": "U-1", "event": "DIV", "symbol": "MSFT"}'
    with pytest.raises(ConfigError, match=message):
        parse_corporate_actions([good, line], source="actions.jsonl")


def test_dbn_reference_bad_factor_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"factors\.jsonl: line 1: missing field 'factor'"):
        parse_adjustment_factors(
            [
                '{"security_id": 1, "event_id": 2, "event_type": "DIV", "local_code": "X", '
                '"ex_date": "2007-02-13"}'
            ],
            source="factors.jsonl",
        )
