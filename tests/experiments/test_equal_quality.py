"""Issue 8's report at equal quality: the two-measure rule, the best-baseline pairing, the
``--fronts`` sweep grid, the extension of an existing output folder and the reserve
ablation."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import autoscaling as exp
from experiments import equal_quality as eq
from experiments.outputs import Interrupted
from experiments.stats import cost_at_quality, equal_quality_costs, relative_to

FILES = ("config.json", "runs.parquet", "tuning.parquet", "report.md", "table.csv")


def _front(good: list[float], avail: list[float], cost: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"good_minutes_fraction": good, "availability": avail, "cost_usd": cost})


def test_a_setting_that_matches_good_minutes_but_not_availability_is_not_taken() -> None:
    # 10 $ matches good minutes 0.99 but loses requests; only the 30 $ setting reaches 0.9995.
    base = _front([0.99, 0.995, 0.999], [0.99, 0.9995, 1.0], [10.0, 30.0, 40.0])
    at = {"good_minutes_fraction": 0.99, "availability": 0.9995}
    assert cost_at_quality(base, at, ["good_minutes_fraction"]) == pytest.approx(10.0)
    assert cost_at_quality(base, at) == pytest.approx(30.0)
    # between settings: the larger of the two interpolations (availability halfway: 35 $)
    at = {"good_minutes_fraction": 0.992, "availability": 0.99975}
    assert cost_at_quality(base, at) == pytest.approx(35.0)
    # beyond the range on either measure: NaN
    assert math.isnan(cost_at_quality(base, {"good_minutes_fraction": 0.9999, "availability": 0.9}))
    assert math.isnan(cost_at_quality(base, {"good_minutes_fraction": 0.9, "availability": 1.1}))


def test_the_cost_at_quality_never_falls_as_the_quality_rises() -> None:
    rng = np.random.default_rng(3)
    base = _front(
        list(rng.uniform(0.9, 1.0, 7)), list(rng.uniform(0.99, 1.0, 7)), list(rng.uniform(1, 9, 7))
    )
    top_good, top_avail = base.good_minutes_fraction.max(), base.availability.max()
    goods = np.linspace(0.85, top_good, 25)
    avails = np.linspace(0.985, top_avail, 25)
    costs = [
        cost_at_quality(base, {"good_minutes_fraction": g, "availability": a})
        for g, a in zip(goods, avails, strict=True)
    ]
    assert all(np.isfinite(costs))
    assert np.all(np.diff(costs) >= -1e-12)
    assert costs[-1] <= base.cost_usd.max()


def _runs() -> pd.DataFrame:
    """Two windows; baseline a reaches mpc's quality on both, b on window 1 only, and b is the
    cheaper there."""
    rows = []
    for w, mpc_cost, a_costs, b_costs, b_top in (
        (1, 8.0, (5.0, 10.0), (4.0, 6.0), 1.0),
        (2, 9.0, (6.0, 12.0), (3.0, 5.0), 0.99),
    ):
        rows.append(("mpc", "evaluation", w, mpc_cost, 0.995, 0.9995))
        rows += [
            ("a", "sweep", w, c, q, q2)
            for c, q, q2 in zip(a_costs, (0.99, 1.0), (0.999, 1.0), strict=True)
        ]
        rows += [
            ("b", "sweep", w, c, q, q2)
            for c, q, q2 in zip(b_costs, (0.99, b_top), (0.999, b_top), strict=True)
        ]
    frame = pd.DataFrame(
        rows,
        columns=["policy", "kind", "window", "cost_usd", "good_minutes_fraction", "availability"],
    )
    return frame.assign(trace="t")


def test_the_best_baseline_is_the_cheapest_that_reaches_the_quality_per_window() -> None:
    costs = equal_quality_costs(_runs(), "mpc", ["a", "b"])
    ref = costs.set_index(["window", "reference"]).reference_cost_usd
    # window 1: a at good 0.995 -> 7.5, availability 0.9995 -> 7.5; b: 5.0; best b
    assert ref[(1, "a")] == pytest.approx(7.5) and ref[(1, "b")] == pytest.approx(5.0)
    assert ref[(1, "best")] == pytest.approx(5.0)
    # window 2: b tops out at 0.99, below mpc's quality: beyond; best is a
    assert math.isnan(ref[(2, "b")])
    assert ref[(2, "best")] == pytest.approx(9.0)
    rel = relative_to(costs).set_index("reference")
    assert rel.loc["b", "n"] == 1 and rel.loc["b", "beyond"] == 1
    assert rel.loc["b", "mean"] == pytest.approx(8.0 / 5.0 - 1.0)
    assert rel.loc["best", "n"] == 2 and rel.loc["best", "beyond"] == 0
    assert rel.loc["best", "mean"] == pytest.approx(np.mean([8.0 / 5.0 - 1.0, 9.0 / 9.0 - 1.0]))
    assert rel.loc["a", "mean"] == pytest.approx(np.mean([8.0 / 7.5 - 1.0, 9.0 / 9.0 - 1.0]))


@pytest.mark.parametrize(
    ("fronts", "match"),
    [
        (["nope"], "unknown policy name 'nope'"),
        (["static"], "'static' has no parameter to sweep"),
        (["oracle"], "'oracle' has no parameter to sweep"),
        (["learned"], "'learned' is not among the policies run"),
        (["all", "target-tracking"], "give 'all' alone"),
    ],
)
def test_bad_fronts_are_refused(fronts: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        exp.resolve_fronts(fronts, ["static", "target-tracking", "mpc", "oracle"])


def test_fronts_all_and_default() -> None:
    policies = ["static", "target-tracking", "target-tracking-requests", "mpc", exp.NO_RESERVE]
    assert exp.resolve_fronts(["all"], policies) == ["target-tracking", "target-tracking-requests"]
    assert exp.resolve_fronts(None, policies) == ["target-tracking"]
    assert exp.resolve_fronts(None, ["target-tracking"]) == []


def test_the_ablation_name_builds_mpc_without_the_reserve() -> None:
    from policies.autoscaling.mpc import MpcPolicy

    pol = exp.build_policy(exp.NO_RESERVE, 0.95)
    assert isinstance(pol, MpcPolicy)
    assert pol.get_params()["reserve_days"] == 0.0 and pol.get_params()["quantile"] == 0.95
    assert exp.build_policy("mpc", 0.95).get_params()["reserve_days"] > 0
    assert exp.TUNING[exp.NO_RESERVE] == exp.TUNING["mpc"]


#: Small grids (mpc's runs are the slow ones): the tests count runs, not measure policies.
SMALL = {
    "target-tracking": ("target", (30.0, 60.0)),
    "target-tracking-requests": ("target", (1800.0, 4200.0)),
    "mpc": ("quantile", (0.99,)),
    exp.NO_RESERVE: ("quantile", (0.99,)),
}


@pytest.fixture(scope="module")
def small_grid() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, grid in SMALL.items():
            mp.setitem(exp.TUNING, name, grid)
        yield


@pytest.fixture(scope="module")
def base_dir(small_grid: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A reduced experiment (one trace, one evaluation window of 0.05 days, target tracking
    on CPU and on request count, mpc) with the default front."""
    if not os.environ.get("FARGATE_LAB_TRACE_MIRROR"):
        pytest.skip("no trace mirror: set FARGATE_LAB_TRACE_MIRROR")
    out = tmp_path_factory.mktemp("eq") / "base"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FARGATE_LAB_CACHE", str(tmp_path_factory.getbasetemp() / "trace-cache"))
        _run_base(out)
    yield out


def _run_base(out: Path) -> None:
    exp.run_experiment(
        out,
        traces=["aws-elb"],
        policies=["target-tracking", "target-tracking-requests", "mpc"],
        seeds=[1],
        days=0.05,
        workers=1,
        progress=False,
        log=lambda _: None,
    )


def test_fronts_run_exactly_the_sweep_grid_asked_for(base_dir: Path, small_grid: None) -> None:
    runs = pd.read_parquet(base_dir / "runs.parquet")
    sweep = runs[runs.kind == "sweep"]
    # default: target tracking only, its other setting on the one window
    assert set(sweep.policy) == {"target-tracking"} and len(sweep) == 1
    assert json.loads((base_dir / "config.json").read_text())["fronts"] == ["target-tracking"]


def _copy(base: Path, tmp_path: Path) -> Path:
    out = tmp_path / "exp"
    shutil.copytree(base, out)
    return out


class _Counter:
    """run_one that counts its calls and raises KeyboardInterrupt at call ``stop_at``."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls = 0
        self.stop_at = stop_at
        self.real = exp.run_one

    def __call__(self, spec: exp.RunSpec) -> dict:
        self.calls += 1
        if self.stop_at is not None and self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.real(spec)


def test_the_extension_runs_only_what_is_missing_and_resumes(
    base_dir: Path, small_grid: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _copy(base_dir, tmp_path)
    before = pd.read_parquet(out / "runs.parquet")
    before_tuning = pd.read_parquet(out / "tuning.parquet")
    # 2 checks (one per checked policy), 1 tuning run of the ablation, 1 sweep run of request
    # count and 1 evaluation run of the ablation; interrupted at the 4th run (the sweep run),
    # then resumed
    first = _Counter(stop_at=4)
    monkeypatch.setattr(exp, "run_one", first)
    with pytest.raises(Interrupted, match="resume"):
        eq.extend(
            out, ["target-tracking-requests"], ablation=True, workers=1, progress=False, log=print
        )
    for name in FILES:  # untouched by the interrupted extension
        assert (out / name).read_bytes() == (base_dir / name).read_bytes(), name
    again = _Counter()
    monkeypatch.setattr(exp, "run_one", again)
    eq.extend(out, ["target-tracking-requests"], ablation=True, workers=1, progress=False)
    assert again.calls == 2 + 2  # the checks again, then the 2 runs not stored yet
    runs = pd.read_parquet(out / "runs.parquet")
    pd.testing.assert_frame_equal(runs.iloc[: len(before)][before.columns], before)
    added = runs.iloc[len(before) :]
    assert sorted(added.groupby(["policy", "kind"]).size().items()) == [
        ((exp.NO_RESERVE, "evaluation"), 1),
        (("target-tracking-requests", "sweep"), 1),
    ]
    tuning = pd.read_parquet(out / "tuning.parquet")
    pd.testing.assert_frame_equal(tuning.iloc[: len(before_tuning)], before_tuning)
    assert list(tuning.iloc[len(before_tuning) :].policy) == [exp.NO_RESERVE]
    config = json.loads((out / "config.json").read_text())
    assert config["fronts"] == ["target-tracking", "target-tracking-requests"]
    assert exp.NO_RESERVE in config["tuned"]["aws-elb"] and exp.NO_RESERVE in config["policies"]
    report = (out / "report.md").read_text()
    assert "| vs target-tracking | vs target-tracking-requests | vs best |" in report
    assert "### The burst reserve's ablation" in report
    # nothing missing any more: no run, no check, the same runs
    third = _Counter()
    monkeypatch.setattr(exp, "run_one", third)
    eq.extend(out, ["target-tracking-requests"], ablation=True, workers=1, progress=False)
    assert third.calls == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), runs)


def test_the_extension_refuses_a_folder_its_code_does_not_reproduce(
    base_dir: Path, small_grid: None, tmp_path: Path
) -> None:
    out = _copy(base_dir, tmp_path)
    runs = pd.read_parquet(out / "runs.parquet")
    config = json.loads((out / "config.json").read_text())
    checked = (runs.policy == "target-tracking-requests") & (runs.kind == "evaluation")
    first = runs[checked].sort_values("window").index[0]
    # a sum's last bit (a refactor that reorders it) is rounding, not a changed run
    runs.loc[first, "requests_total"] = np.nextafter(runs.loc[first, "requests_total"], np.inf)
    (line,) = eq.check_reproduces(config, runs, ["target-tracking-requests"])
    assert 0.0 < float(line.split("largest relative difference ")[1].rstrip(")")) < 1e-15
    runs.loc[first, "cost_usd"] *= 1.0 + 1e-6
    runs.to_parquet(out / "runs.parquet", index=False)
    kept = {name: (out / name).read_bytes() for name in FILES}
    with pytest.raises(eq.StaleOutput, match="does not reproduce: cost_usd"):
        eq.extend(out, ["target-tracking-requests"], workers=1, progress=False)
    assert {name: (out / name).read_bytes() for name in FILES} == kept
    assert not (out / eq.STORE_DIR / "parts").exists() or not any(
        (out / eq.STORE_DIR / "parts").iterdir()
    )


def test_the_extension_refuses_bad_fronts_and_folders(base_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'static' has no parameter to sweep"):
        eq.extend(base_dir, ["static"], progress=False)
    with pytest.raises(ValueError, match="'learned' is not among the policies run"):
        eq.extend(base_dir, ["learned"], progress=False)
    with pytest.raises(ValueError, match="config.json: no such file"):
        eq.extend(tmp_path, ["target-tracking"], progress=False)


def test_the_command_line_refuses_bad_fronts_in_one_line(
    base_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from experiments.cli import main

    out = tmp_path / "never"
    args = ["experiment", "autoscaling", "--traces", "aws-elb", "--out", str(out)]
    assert main([*args, "--fronts", "static"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fargate-lab experiment autoscaling: --fronts: 'static' has no ")
    assert "valid: 'all' or a tunable policy" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    kept = {name: (base_dir / name).read_bytes() for name in FILES}
    assert main(["experiment", "equal-quality", str(base_dir), "--fronts", "nope", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fargate-lab experiment equal-quality: --fronts: unknown policy name")
    assert len(err.strip().splitlines()) == 1
    assert {name: (base_dir / name).read_bytes() for name in FILES} == kept
