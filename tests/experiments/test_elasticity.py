"""SPEC RG elasticity metrics (Herbst et al., ACM TOMPECS 2018): BUNGEE's own test vector,
and hand-checked small cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends.sim import run_simulation
from experiments.elasticity import (
    elastic_speedup,
    elastic_speedup_status,
    elasticity_from_metrics,
    elasticity_metrics,
    instability,
    instability_parts,
    jitter,
    never_under_provisions,
    over_provisioning_accuracy,
    over_provisioning_timeshare,
    under_provisioning_accuracy,
    under_provisioning_timeshare,
)

# BUNGEE's AbstractMetricTest.genereateComplexDemandAndSupply
# (https://github.com/NikolasHerbst/BUNGEE, tools.descartes.bungee.metric).
SUPPLY = [(0, 1), (2, 2), (3, 1), (5, 3), (9, 7), (11, 6), (12, 8), (14, 2), (20, 2)]
DEMAND = [(0, 1), (7, 5), (16, 3), (17, 2), (19, 4)]


def test_bungee_vector() -> None:
    assert under_provisioning_accuracy(SUPPLY, DEMAND, relative=False) == pytest.approx(13 / 20)
    assert over_provisioning_accuracy(SUPPLY, DEMAND, relative=False) == pytest.approx(16 / 20)
    assert under_provisioning_timeshare(SUPPLY, DEMAND) == pytest.approx(6 / 20)
    assert over_provisioning_timeshare(SUPPLY, DEMAND) == pytest.approx(8 / 20)
    assert jitter(SUPPLY, DEMAND) == pytest.approx((17 - 9) / 20)


def test_bungee_vector_with_equal_lengths() -> None:
    """BUNGEE's JitterTest.testMetricEqualDemandSupplyLength: a final demand point at 20."""
    demand = [*DEMAND, (20, 4)]
    assert jitter(SUPPLY, demand) == pytest.approx((17 - 9) / 20)
    assert under_provisioning_accuracy(SUPPLY, demand, relative=False) == pytest.approx(13 / 20)


def test_bungee_vector_relative_by_hand() -> None:
    # Under: [7,9) (5-3)/5 x 2, [14,16) 3/5 x 2, [16,17) 1/3 x 1, [19,20) 2/4 x 1.
    under = (2 / 5 * 2 + 3 / 5 * 2 + 1 / 3 + 2 / 4) / 20
    # Over: [2,3) 1/1, [5,7) 2/1 x 2, [9,11) 2/5 x 2, [11,12) 1/5, [12,14) 3/5 x 2.
    over = (1 + 4 + 2 / 5 * 2 + 1 / 5 + 3 / 5 * 2) / 20
    assert under_provisioning_accuracy(SUPPLY, DEMAND) == pytest.approx(under)
    assert over_provisioning_accuracy(SUPPLY, DEMAND) == pytest.approx(over)


@pytest.mark.parametrize(
    "case",
    [
        # BUNGEE's perfect-match, permanent over- and under-provisioning cases.
        "perfect",
        "over",
        "under",
    ],
)
def test_bungee_boundary_cases(case: str) -> None:
    base = np.array(SUPPLY, dtype=float)
    shifted = base.copy()
    shifted[:, 1] += 1
    supply, demand = {
        "perfect": (base, base),
        "over": (shifted, base),
        "under": (base, shifted),
    }[case]
    m = elasticity_metrics(supply, demand)
    assert m["jitter"] == pytest.approx(0.0)
    assert m["timeshare_over"] == (1.0 if case == "over" else 0.0)
    assert m["timeshare_under"] == (1.0 if case == "under" else 0.0)
    assert m["accuracy_over_abs"] == pytest.approx(1.0 if case == "over" else 0.0)
    assert m["accuracy_under_abs"] == pytest.approx(1.0 if case == "under" else 0.0)
    assert m["instability"] == 0.0
    assert m["instability_up"] == 0.0 and m["instability_down"] == 0.0


def test_per_period_arrays_match_change_points() -> None:
    # The BUNGEE vector sampled per time unit is the same step function.
    grid = np.arange(20)
    s = np.zeros(20)
    for t, v in SUPPLY[:-1]:
        s[t:] = v
    d = np.zeros(20)
    for t, v in DEMAND:
        d[t:] = v
    m = elasticity_metrics(s, d)
    assert m["duration"] == 20
    assert m["accuracy_under_abs"] == pytest.approx(13 / 20)
    assert m["accuracy_over_abs"] == pytest.approx(16 / 20)
    assert m["timeshare_under"] == pytest.approx(6 / 20)
    assert m["timeshare_over"] == pytest.approx(8 / 20)
    assert m["jitter"] == pytest.approx((17 - 9) / 20)
    assert m["accuracy_under"] == pytest.approx(under_provisioning_accuracy(SUPPLY, DEMAND))
    # times in minutes scale the duration, not the shares.
    m60 = elasticity_metrics(s, d, times=grid * 60.0)
    assert m60["duration"] == 1200 and m60["timeshare_over"] == pytest.approx(8 / 20)
    assert m60["jitter"] == pytest.approx(8 / 1200)


def test_zero_demand_is_skipped_by_the_relative_accuracy() -> None:
    supply, demand = [2, 2, 2, 2], [0, 0, 1, 4]
    # Relative over: only the period with d = 1 counts, (2 - 1) / 1 over T = 4.
    assert over_provisioning_accuracy(supply, demand) == pytest.approx(1 / 4)
    assert over_provisioning_accuracy(supply, demand, relative=False) == pytest.approx(5 / 4)
    assert under_provisioning_accuracy(supply, demand) == pytest.approx((2 / 4) / 4)
    assert over_provisioning_timeshare(supply, demand) == pytest.approx(3 / 4)


@pytest.mark.parametrize(
    "supply, demand, up, down",
    [
        # Herbst et al. 2018: k = share of time with min(|sgn Δs - sgn Δd|, 1) = 1.
        # Supply falls while demand stays: counted (the one-sided formula missed it).
        ([2, 1], [1, 1], 0.0, 1.0),
        # Supply stays while demand rises: counted.
        ([1, 1], [1, 2], 0.0, 1.0),
        # Supply stays while demand falls; supply rises while demand stays.
        ([1, 1], [2, 1], 1.0, 0.0),
        ([1, 2], [1, 1], 1.0, 0.0),
        # Δd = 0,+1,0,0; Δs = +1,0,-1,+1: every period differs: up (1st, 4th), down (2nd, 3rd).
        ([1, 2, 2, 1, 2], [1, 1, 2, 2, 2], 2 / 4, 2 / 4),
        # Supply follows demand one period late: Δd = +1,+1,0,-1,-1; Δs = 0,+1,+1,0,-1:
        # up: supply up, demand flat (3rd); supply flat, demand falls (4th); down: 1st.
        ([1, 1, 2, 3, 3, 2], [1, 2, 3, 3, 2, 1], 2 / 5, 1 / 5),
        # Same directions at the same times, different sizes: stable.
        ([1, 3, 3, 2], [1, 2, 2, 1], 0.0, 0.0),
        # Opposite directions every period.
        ([1, 2, 1, 2], [2, 1, 2, 1], 2 / 3, 1 / 3),
    ],
)
def test_instability_by_hand(supply, demand, up, down) -> None:
    assert instability(supply, demand) == pytest.approx(up + down)
    assert instability_parts(supply, demand) == pytest.approx((up, down))
    # Symmetric in supply and demand; swapping them swaps the parts.
    assert instability(demand, supply) == pytest.approx(up + down)
    assert instability_parts(demand, supply) == pytest.approx((down, up))
    m = elasticity_metrics(supply, demand)
    assert m["instability"] == pytest.approx(up + down)
    assert (m["instability_up"], m["instability_down"]) == pytest.approx((up, down))


def test_instability_on_change_points_weights_each_change_by_its_interval() -> None:
    # Merged samples 0,2,3,5,7,9,11,12,14,16,17,19,20 (see the module docstring).
    assert instability_parts(SUPPLY, DEMAND) == pytest.approx((10 / 20, 9 / 20))
    assert instability(SUPPLY, DEMAND) == pytest.approx(19 / 20)


def test_a_single_period_has_no_instability() -> None:
    assert math.isnan(instability([3], [2]))


def test_elastic_speedup() -> None:
    m = elasticity_metrics([1, 2, 2, 1, 2, 4], [1, 1, 3, 2, 2, 3])
    assert elastic_speedup(m, m) == pytest.approx(1.0)
    base = dict.fromkeys(
        ("accuracy_under", "accuracy_over", "timeshare_under", "timeshare_over"), 0.4
    )
    better = dict.fromkeys(base, 0.1)
    assert elastic_speedup(better, base) == pytest.approx(4.0)
    assert elastic_speedup(base, better) == pytest.approx(0.25)
    # Twice as good on two metrics, twice as bad on the other two: no speedup.
    mixed = {
        "accuracy_under": 0.2,
        "accuracy_over": 0.8,
        "timeshare_under": 0.2,
        "timeshare_over": 0.8,
    }
    assert elastic_speedup(mixed, base) == pytest.approx(1.0)
    # Zeros: a tie on a metric both get perfect; perfect where the baseline is not.
    zero_u = {**base, "accuracy_under": 0.0}
    assert elastic_speedup(zero_u, zero_u) == pytest.approx(1.0)
    assert elastic_speedup(zero_u, base) == math.inf
    assert elastic_speedup(base, zero_u) == 0.0
    assert math.isnan(elastic_speedup(zero_u, {**base, "accuracy_over": 0.0}))


def test_a_policy_that_never_under_provisions_has_an_explicit_infinite_speedup() -> None:
    base = dict.fromkeys(
        ("accuracy_under", "accuracy_over", "timeshare_under", "timeshare_over"), 0.4
    )
    # Sized for the peak: never short, always some surplus.
    ample = elasticity_metrics([5, 5, 5, 5], [1, 3, 4, 2])
    assert never_under_provisions(ample)
    assert elastic_speedup(ample, base) == math.inf
    assert elastic_speedup_status(ample, base) == "no under-provisioning"
    assert elastic_speedup_status(base, ample) == "baseline: no under-provisioning"
    assert elastic_speedup(base, ample) == 0.0
    assert elastic_speedup_status(base, base) == "finite"
    # Never over-provisions either way round.
    lean = elasticity_metrics([1, 1, 1, 1], [1, 3, 4, 2])
    assert not never_under_provisions(lean)
    assert elastic_speedup_status(lean, base) == "no over-provisioning"
    # Perfect everywhere: infinite, named as both.
    exact = elasticity_metrics([1, 3, 4, 2], [1, 3, 4, 2])
    assert elastic_speedup(exact, base) == math.inf
    assert elastic_speedup_status(exact, base) == "no under- or over-provisioning"
    # Each perfect where the other is not: undefined (NaN), named.
    assert math.isnan(elastic_speedup(ample, lean))
    assert elastic_speedup_status(ample, lean) == "undefined"


@pytest.mark.parametrize(
    "supply, demand, kwargs, match",
    [
        ([1, 2], [1, 2, 3], {}, "periods"),
        ([1, np.nan], [1, 2], {}, "NaN"),
        ([(0, 1), (2, 2)], [(1, 1), (3, 2)], {}, "start"),
        ([(0, 1), (2, 2)], [1, 2], {}, "both"),
        ([(2, 1), (0, 2)], [(2, 1), (3, 2)], {}, "time order"),
        ([1, 2], [1, 2], {"times": [0, 0]}, "increasing"),
        ([1, 2, 3], [1, 2, 3], {"times": [0, 1, 3]}, "increasing"),
        ([], [], {}, "empty"),
    ],
)
def test_bad_input_is_refused(supply, demand, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        elasticity_metrics(supply, demand, **kwargs)


def test_from_a_simulated_run() -> None:
    from policies.autoscaling.static import StaticPolicy
    from sim.scenario import scenario_from_dict
    from sim.simulation import Simulation

    sc = scenario_from_dict(
        {
            "run": {"seed": 1, "duration": "30m", "tick": "1s"},
            "service": {"initial_tasks": 6, "capacity_rps": 100},
            "traffic": {"arrivals": "deterministic"},
        }
    )
    rate = np.full(sc.n_ticks, 300.0)
    result = run_simulation(Simulation(sc, rate=rate), StaticPolicy())
    m = elasticity_from_metrics(result.metrics)
    assert m["duration"] == 30  # minutes
    assert m["timeshare_under"] == 0.0 and m["timeshare_over"] == 1.0
    need = result.metrics["demand_tasks"].iloc[0]
    assert m["accuracy_over_abs"] == pytest.approx(6 - need)
    assert m["jitter"] == 0.0 and m["instability"] == 0.0
