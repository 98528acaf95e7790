"""``benchmarks/bench_sim.py --breakdown`` charges each timed call to the outermost timed
call it runs in, so that the parts of a process add up without counting a stretch twice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sim.py"


@pytest.fixture
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_sim_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    clock = iter(range(1000))  # every reading of the CPU clock advances it by one second
    monkeypatch.setattr(module.time, "process_time", lambda: float(next(clock)))
    return module


class Work:
    def outer(self) -> str:
        return self.inner() + self.inner()

    def inner(self) -> str:
        return "x"


def test_nested_calls_are_charged_to_the_outermost_part(bench) -> None:
    timer = bench.OutermostTimer()
    timer.wrap(Work, "outer", "finish")
    timer.wrap(Work, "inner", "fluid and metric periods")
    w = Work()
    assert w.outer() == "xx"  # the wrapped methods still return their values
    assert timer.seconds == {"finish": 1.0, "fluid and metric periods": 0.0}
    assert w.inner() == "x"  # called on its own, it is its own outermost call
    assert timer.seconds == {"finish": 1.0, "fluid and metric periods": 1.0}


def test_a_failing_call_is_charged_and_leaves_the_timer_usable(bench) -> None:
    class Failing:
        def run(self) -> None:
            raise RuntimeError("boom")

        def ok(self) -> int:
            return 1

    timer = bench.OutermostTimer()
    timer.wrap(Failing, "run", "setup")
    timer.wrap(Failing, "ok", "finish")
    with pytest.raises(RuntimeError, match="boom"):
        Failing().run()
    assert Failing().ok() == 1
    assert timer.seconds == {"setup": 1.0, "finish": 1.0}


def test_quiet_rounds_counts_rounds_without_events_or_scaling(bench) -> None:
    import pandas as pd

    # rounds at 60, 120, ..., 600 s; events at 90 s (round 120) and 400 s (round 420); the
    # round at 300 s scales out; so rounds 60, 180, 240, 360, 480, 540, 600 are quiet, in runs
    # of 1, 2, 1 and 3 rounds
    times = [60.0 * k for k in range(1, 11)]
    decisions = pd.DataFrame(
        {
            "time_s": times,
            "desired_before": [5] * 10,
            "desired": [5, None, 5, 5, 6, 5, 5, 5, 5, 5],
        }
    )
    events = pd.DataFrame({"time_s": [400.0, 90.0]})
    q = bench.quiet_rounds(decisions, events)
    assert q["rounds"] == 10
    assert q["quiet"] == pytest.approx(0.7)
    assert q["mean_run"] == pytest.approx(7 / 4)
    assert q["in_runs_of_5"] == 0.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--breakdown", "--days", "-1"], "--days must be > 0, got -1"),
        (["--process", "--repeat", "0"], "--repeat must be >= 1, got 0"),
        (["--memory", "--memory-days", "7", "0"], "--memory-days must all be > 0, got 7 0"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(bench, capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
