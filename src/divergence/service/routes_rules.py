"""The alert rules in force: ``GET /api/rules`` and ``GET /api/rules/{rule_id}``.

Rules are configuration (``alerts.rules_path`` or the built-in defaults, docs/alerts.md),
loaded and checked when the runtime is built; the API shows them as the engine runs
them, with the rules disabled because their table is missing from this database. There
is no route that changes a rule: edit the file and restart.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from divergence.alerts.rules import Rule
from divergence.errors import NotFoundError
from divergence.service.api_models import COMMON_ERRORS, error_responses
from divergence.service.routes_alerts import AlertsDep
from divergence.service.routes_api import JsonResponse

router = APIRouter(
    prefix="/api/rules", tags=["alerts"], responses={**error_responses(404), **COMMON_ERRORS}
)


class RuleOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(examples=["basis_exec_live"])
    metric: str = Field(examples=["basis.exec_basis_bps"])
    severity: str
    enabled: bool = Field(description="false when disabled in the file or by a missing table")
    condition: dict[str, Any]


class RulesOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    rules: list[RuleOut]
    disabled_rules: list[str] = Field(description="rules disabled: their table is missing")


def render_rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = rule.model_dump(mode="json")
    return out


@router.get("", response_class=JsonResponse, summary="Alert rules", response_model=RulesOut)
async def list_rules(job: AlertsDep) -> JsonResponse:
    """Every rule of the rules file as the engine runs it, with its groups' policies and
    the inhibit and annotate rules."""
    ruleset = job.engine.rules
    return JsonResponse(
        {
            "rules": [render_rule(r) for r in ruleset.rules],
            "disabled_rules": list(job.stats.disabled_rules),
            "groups": {k: v.model_dump(mode="json") for k, v in ruleset.groups.items()},
            "inhibit": [r.model_dump(mode="json") for r in ruleset.inhibit],
            "annotate": [r.model_dump(mode="json") for r in ruleset.annotate],
        }
    )


@router.get(
    "/{rule_id}", response_class=JsonResponse, summary="One alert rule", response_model=RuleOut
)
async def get_rule(job: AlertsDep, rule_id: str) -> JsonResponse:
    """One rule by id (404 naming the known ids)."""
    rule = job.engine.rules.rule(rule_id)
    if rule is None:
        known = ", ".join(r.id for r in job.engine.rules.rules)
        raise NotFoundError(f"unknown rule {rule_id!r} (known: {known})")
    return JsonResponse(render_rule(rule))
