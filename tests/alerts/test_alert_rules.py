"""The rules loader: the shipped defaults load, and each kind of bad rule names its key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from alert_frames import rules_of

from divergence.alerts.rules import DEFAULT_RULES_PATH, load_default_rules, load_rules, parse_rules
from divergence.errors import ConfigError

S = 1_000_000_000


def test_rules_defaults_load_with_the_documented_rules() -> None:
    rules = load_default_rules()
    assert [r.id for r in rules.rules] == [
        "basis_exec_live",
        "basis_closed_band",
        "reference_stale",
        "crossed_book",
        "pool_dispersion",
        "luld_pause_equiv",
        "persistent_premium",
        "stablecoin_depeg",
        "venue_local_depeg",
        "feed_stale",
        "feed_integrity",
        "stress_episode",
    ]
    assert [r.name for r in rules.inhibit] == [
        "stale_reference_mutes_basis",
        "stale_venue_mutes_basis",
    ]
    assert [r.name for r in rules.annotate] == ["depeg_explains_basis"]
    live = rules.rule("basis_exec_live")
    assert live is not None
    assert (live.condition.threshold, live.condition.for_s, live.condition.abs) == (50.0, 15, True)
    assert live.condition.scale_by_session == {"pre": 2.0, "post": 2.0, "overnight": 3.0}
    premium = rules.rule("persistent_premium")
    assert premium is not None
    assert (premium.condition.threshold, premium.condition.for_samples) == (0.02, 8)


def test_rules_defaults_treat_live_closed_and_stale_references_apart() -> None:
    rules = load_default_rules()
    basis = {r.id: r.reference for r in rules.rules if r.table == "basis"}
    # live: the mispricing rule; closed: the looser band; stale/missing: only the data
    # alert (no reference filter, it tests ref_state itself), never a basis threshold.
    assert basis == {
        "basis_exec_live": ("live",),
        "basis_closed_band": ("closed",),
        "reference_stale": None,
    }
    band = rules.rule("basis_closed_band")
    assert band is not None and band.condition.threshold == 2000.0


def test_rules_defaults_lookbacks_per_table() -> None:
    # basis: closed band for 60 s + 30 s no-data = 90 s; fragmentation_1s: dispersion for
    # 60 s + 10 s = 70 s; luld: interval margin 60 s; premium: 16 days as set; stablecoin:
    # edges, 7 days; feeds: edges, 1 day (the hold rule needs only 300 s); stress: 0 + 30 s.
    assert load_default_rules().lookback_ns() == {
        "basis": 90 * S,
        "fragmentation_1s": 70 * S,
        "luld_events": 60 * S,
        "daily_premium": 16 * 86_400 * S,
        "stablecoin_events": 7 * 86_400 * S,
        "feed_events": 86_400 * S,
        "stress_states": 30 * S,
    }


def test_rules_restricted_to_disables_unwired_tables() -> None:
    rules = load_default_rules().restricted_to({"basis", "feed_events"})
    assert [r.id for r in rules.active] == [
        "basis_exec_live",
        "basis_closed_band",
        "reference_stale",
        "feed_stale",
        "feed_integrity",
    ]


BASE: dict[str, Any] = {
    "id": "exec",
    "metric": "basis.exec_basis_bps",
    "condition": {"op": ">", "threshold": 50.0},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    rule = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = rule
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return rule


BAD_RULES = [
    (_with("condition.thresold", 1.0), "rules[0].condition.thresold", "unknown key"),
    (_with("condition.threshold", None), "rules[0].condition.threshold", "required"),
    (_with("condition.threshold", "lots"), "rules[0].condition.threshold", "valid number"),
    (_with("metric", "basis"), "rules[0].metric", "pattern"),
    (_with("metric", "bassis.exec_basis_bps"), "rules[0].metric", "unknown table 'bassis'"),
    (_with("metric", "basis.exec_bps"), "rules[0].metric", "unknown column 'exec_bps'"),
    (_with("metric", "basis.ref_state"), "rules[0].condition.op", "does not apply to text"),
    (_with("condition.values", ["a"]), "rules[0].condition.values", "only applies"),
    (_with("condition.for_s", -1), "rules[0].condition.for_s", "greater than or equal"),
    (_with("condition.for_samples", 3), "rules[0].lookback_s", "must be set"),
    (
        _with("condition.scale_by_session", {"pre": -2}),
        "rules[0].condition.scale_by_session.pre",
        "positive",
    ),
    (
        _with("condition.scale_by_session", {"lunch": 2}),
        "rules[0].condition.scale_by_session.lunch.[key]",
        "Input should be",
    ),
    (_with("lookback_s", 1.0), "rules[0].lookback_s", "at least 30 s"),
    (
        _with("where", [{"name": "colour", "value": "x"}]),
        "rules[0].where[0].name",
        "unknown column",
    ),
    (
        _with("where", [{"name": "venue", "op": "=~", "value": "("}]),
        "rules[0].where[0]",
        "regular expression",
    ),
    (
        _with("scope", [{"name": "ref_state", "value": "live"}]),
        "rules[0].scope[0].name",
        "not a label",
    ),
    (_with("by", ["stream"]), "rules[0].by", "'stream' is not a label of basis"),
    (_with("sessions", ["lunch"]), "rules[0].sessions[0]", "Input should be"),
    (_with("severity", "page"), "rules[0].severity", "Input should be"),
    (_with("group", "nowhere"), "rules[0].group", "unknown group 'nowhere'"),
    (_with("labels", {"severity": "low"}), "rules[0].labels.severity", "set by the engine"),
    (_with("labels", {"venue": "x"}), "rules[0].labels.venue", "set by the engine"),
    (_with("summary", "{price} moved"), "rules[0].summary", "unknown placeholder {price}"),
    (_with("id", "Exec Rule"), "rules[0].id", "pattern"),
]


@pytest.mark.parametrize(("rule", "key", "message"), BAD_RULES, ids=[k for _, k, _ in BAD_RULES])
def test_rules_bad_rule_names_the_key(rule: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        rules_of(rule)
    assert err.value.key == key
    assert message in err.value.message
    assert err.value.source == "test"


def test_rules_reference_filter_needs_a_reference_state() -> None:
    rule = {
        "id": "frag",
        "metric": "fragmentation_1s.mid_dispersion_bps",
        "reference": ["live"],
        "condition": {"op": ">", "threshold": 1.0},
    }
    with pytest.raises(ConfigError, match="no reference state") as err:
        rules_of(rule)
    assert err.value.key == "rules[0].reference"


def test_rules_duplicates_and_inhibit_tables_name_the_key() -> None:
    with pytest.raises(ConfigError, match="duplicate rule id 'exec'") as err:
        rules_of(BASE, BASE)
    assert err.value.key == "rules[1].id"
    inhibit = {"name": "x", "source": [{"name": "rule", "value": "a"}], "target": []}
    with pytest.raises(ConfigError, match="at least 1 item") as err:
        rules_of(BASE, inhibit=[inhibit])
    assert err.value.key == "inhibit[0].target"
    ok = inhibit | {"target": [{"name": "rule", "value": "b"}]}
    with pytest.raises(ConfigError, match="duplicate name 'x'") as err:
        rules_of(BASE, inhibit=[ok], annotate=[ok])
    assert err.value.key == "annotate[0].name"
    with pytest.raises(ConfigError, match="unknown key") as err:
        parse_rules({"rules": [BASE], "silences": []}, source="test")
    assert err.value.key == "silences"


def test_rules_file_problems_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rules]]\nid = "x"\nmetric = "basis.exec_basis_bps"\n')
    with pytest.raises(ConfigError, match="required key is missing") as err:
        load_rules(path)
    assert (err.value.key, err.value.source) == ("rules[0].condition", str(path))
    path.write_text("[[rules]\n")
    with pytest.raises(ConfigError, match="invalid TOML") as err:
        load_rules(path)
    assert err.value.key == "<file>"
    with pytest.raises(ConfigError, match="file not found") as err:
        load_rules(tmp_path / "absent.toml")
    assert err.value.key == "alerts.rules_path"


def test_rules_default_file_ships_inside_the_package() -> None:
    assert DEFAULT_RULES_PATH.parent.name == "alerts"
    assert DEFAULT_RULES_PATH.parent.parent.name == "divergence"
    assert load_rules(DEFAULT_RULES_PATH) == load_default_rules()


def test_rules_no_data_after_and_lookback_per_reading_mode() -> None:
    def rule(**extra: Any) -> Any:
        return rules_of(_with("condition.for_s", 15) | extra).rules[0]

    # basis default 30 s: LOOKBACK = for 15 s + 30 s
    assert (rule().no_data_after_ns, rule().lookback_ns) == (30 * S, 45 * S)
    assert (rule(no_data_after_s=5).no_data_after_ns, rule(no_data_after_s=5).lookback_ns) == (
        5 * S,
        20 * S,
    )
    # "never": rows are held states, looked for up to the table's state lookback (1 day)
    never = rule(no_data_after_s="never")
    assert (never.no_data_after_ns, never.lookback_ns) == (None, 15 * S + 86_400 * S)
    # hold: for 15 s + hold 60 s, no staleness
    held = rules_of(BASE | {"condition": BASE["condition"] | {"hold_s": 60, "for_s": 15}}).rules[0]
    assert (held.no_data_after_ns, held.lookback_ns) == (None, 75 * S)
