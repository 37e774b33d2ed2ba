"""The registry's pure logic: the evaluation gate, the rollback target and the model card (hand-computed cases)."""

from __future__ import annotations

import math

import pytest

from gotr1.registry import GateDecision, gate_decision, model_card, previous_production

METRICS = {"reward/total": 0.40, "image_accuracy": 0.50, "parse_failure_rate": 0.10}


def test_thresholds_pass_without_production_and_say_so() -> None:
    decision = gate_decision(METRICS, {"reward/total": 0.3}, None, 0.02, {"parse_failure_rate": 0.2})
    assert decision.passed and decision.reasons == []
    assert [c["name"] for c in decision.checks] == [
        "threshold:reward/total",
        "threshold:parse_failure_rate",
        "regression",
    ]
    assert decision.checks[-1]["detail"] == "no production version: not compared"


def test_each_failed_check_has_its_reason() -> None:
    decision = gate_decision(
        METRICS, {"reward/total": 0.5, "missing": 0.0}, None, 0.0, {"parse_failure_rate": 0.05}
    )
    assert not decision.passed
    assert decision.reasons == [
        "reward/total=0.4000 is below the minimum 0.5000",
        "missing is missing from the evaluation",
        "parse_failure_rate=0.1000 is above the maximum 0.0500",
    ]
    nan = gate_decision({"reward/total": math.nan}, {"reward/total": 0.0})
    assert nan.reasons == ["reward/total is NaN in the evaluation"]


def test_regression_against_production_uses_the_tolerance_in_both_directions() -> None:
    production = {"reward/total": 0.43, "parse_failure_rate": 0.07}
    minimum, maximum = {"reward/total": 0.0}, {"parse_failure_rate": 1.0}
    # 0.40 >= 0.43 - 0.05 and 0.10 <= 0.07 + 0.05: within tolerance
    assert gate_decision(METRICS, minimum, production, 0.05, maximum).passed
    # tolerance 0.02: 0.40 < 0.41 and 0.10 > 0.09 both regress
    decision = gate_decision(METRICS, minimum, production, 0.02, maximum)
    assert decision.reasons == [
        "reward/total=0.4000 regresses against production (0.4300) by more than 0.0200",
        "parse_failure_rate=0.1000 regresses against production (0.0700) by more than 0.0200",
    ]
    # a metric production never recorded is not compared, and the check says so
    decision = gate_decision(METRICS, {"image_accuracy": 0.0}, production, 0.0)
    assert (
        decision.passed and decision.checks[-1]["detail"] == "production has no image_accuracy: not compared"
    )


def test_gate_misuse_is_an_error() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        gate_decision(METRICS, {"reward/total": 0.0}, None, -0.1)
    with pytest.raises(ValueError, match="at least one threshold"):
        gate_decision(METRICS, {})
    with pytest.raises(ValueError, match="both a minimum and a maximum"):
        gate_decision(METRICS, {"reward/total": 0.0}, None, 0.0, {"reward/total": 1.0})


def test_rollback_goes_to_the_most_recently_promoted_other_version() -> None:
    # v1 promoted at t=10, v2 at t=20, v3 at t=30, then v1 again at t=40 (a rollback), v3 is current.
    promotions = {1: 40.0, 2: 20.0, 3: 30.0}
    assert previous_production(promotions, current=3) == 1
    assert previous_production(promotions, current=1) == 3
    assert previous_production({2: 5.0}, current=2) is None
    assert previous_production({}, current=1) is None


def test_model_card_lists_checks_metrics_and_lineage() -> None:
    decision = GateDecision(
        False,
        ["reward/total=0.4000 is below the minimum 0.5000"],
        [
            {
                "name": "threshold:reward/total",
                "passed": False,
                "detail": "reward/total=0.4000 is below the minimum 0.5000",
            }
        ],
    )
    card = model_card(
        "gotr1",
        "7",
        {**METRICS, "geneval/image/overall": 0.25},
        decision,
        {"data_version": "d:3"},
        "seed: 0\n",
    )
    assert card.startswith("# gotr1 version 7")
    assert "FAILED: registered, not promoted" in card and "- FAIL reward/total=0.4000" in card
    assert "| reward/total | 0.4000 |" in card and "| geneval/image/overall | 0.2500 |" in card
    assert "| data_version | d:3 |" in card and "seed: 0" in card
