"""The command line as a newcomer meets it (issue 6): every mistake is one line on stderr
naming the problem, exit status 2 (130 for Ctrl-C), no traceback, and the output folder is
left as it was. Each test runs ``python -m experiments`` as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from experiments.cli import _fmt

MIRROR_ENV = "FARGATE_LAB_TRACE_MIRROR"

SHORT = """
[run]
duration = "30m"
[service]
initial_tasks = 4
[traffic.synthetic]
base_rps = 200
[autoscaler]
policy = "reactive"
"""

# A run that would fail only when it starts (the trace file is read by the run, not by
# the scenario check): an --out error reported instead proves --out was checked first.
FAILS_WHEN_RUN = '[run]\nduration = "30m"\n[traffic]\ntrace = "nope.csv"\n'

# A run long enough to be interrupted (a simulated year at one-minute ticks).
LONG = """
[run]
duration = "365d"
tick = "60s"
[service]
initial_tasks = 4
[traffic.synthetic]
base_rps = 200
[autoscaler]
policy = "reactive"
"""


def cli(
    *args: str, env: dict | None = None, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        capture_output=True,
        text=True,
        env={**full, **(env or {})},
        timeout=300,
    )


def offline_env(cache: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    """No mirror, an empty cache, and every download failing at once: a proxy on a closed
    local port stands in for a machine without internet."""
    env = {
        "FARGATE_LAB_CACHE": str(cache),
        "https_proxy": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    return env, (MIRROR_ENV, "no_proxy", "NO_PROXY")


def one_line_error(proc: subprocess.CompletedProcess, status: int = 2) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def listing(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its content (None for folders)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def write(tmp_path: Path, text: str, name: str = "svc.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------
# --out: checked before the run, written whole or not at all
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "under-file", "pseudo-fs"])
def test_simulate_bad_out_is_refused_before_the_run(tmp_path: Path, kind: str) -> None:
    scenario = write(tmp_path, FAILS_WHEN_RUN)
    existing = write(tmp_path, "keep me\n", "results.txt")
    out = {
        "file": str(existing),
        "under-file": str(existing / "sub"),
        "pseudo-fs": "/proc/fargate-lab-x" if Path("/proc").is_dir() else "/sys/x",
    }[kind]
    before = listing(tmp_path)
    line = one_line_error(cli("simulate", str(scenario), "--out", out))
    assert line.startswith("fargate-lab simulate: --out ")
    assert out in line and "nope.csv" not in line
    assert listing(tmp_path) == before


def test_simulate_out_is_whole(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "run"
    proc = cli("simulate", str(write(tmp_path, SHORT)), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "decisions.parquet",
        "events.parquet",
        "metrics.parquet",
        "summary.json",
        "target_groups.parquet",
    ]
    assert json.loads((out / "summary.json").read_text()) == json.loads(proc.stdout)
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no staging left


def test_simulate_failing_run_leaves_out_absent(tmp_path: Path) -> None:
    scenario = write(tmp_path, FAILS_WHEN_RUN)
    out = tmp_path / "new" / "run"
    before = listing(tmp_path)
    line = one_line_error(cli("simulate", str(scenario), "--out", str(out)))
    assert "nope.csv" in line
    assert listing(tmp_path) == before  # not even the parent folder 'new'


def test_experiment_bad_out_is_refused_before_any_work(tmp_path: Path) -> None:
    existing = write(tmp_path, "keep me\n", "results.txt")
    before = listing(tmp_path)
    line = one_line_error(
        cli(
            "experiment",
            "autoscaling",
            "--out",
            str(existing),
            "--traces",
            "aws-elb",
            "--policies",
            "static",
            "--seeds",
            "1",
            "-q",
        )
    )
    assert line.startswith("fargate-lab experiment autoscaling: --out ")
    assert str(existing) in line
    assert listing(tmp_path) == before


# ---------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------


def interrupt_when_staging(args: list[str], parent: Path, name: str) -> subprocess.CompletedProcess:
    """Start the command, wait until its staging folder appears in ``parent`` (the work has
    begun), send SIGINT as Ctrl-C does, and return the finished process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while proc.poll() is None and not list(parent.glob(f".{name}.partial-*")):
            time.sleep(0.05)
        assert proc.poll() is None, "the command ended before it could be interrupted"
        time.sleep(0.5)  # into the run itself
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_ctrl_c_during_simulate_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    scenario = write(tmp_path, LONG)
    out = tmp_path / "run"
    before = listing(tmp_path)
    done = interrupt_when_staging(["simulate", str(scenario), "--out", str(out)], tmp_path, "run")
    line = one_line_error(done, status=130)
    assert "interrupted" in line and "nothing written" in line
    assert done.stdout == ""
    assert listing(tmp_path) == before


def test_ctrl_c_during_demo_keeps_only_the_finished_runs(tmp_path: Path) -> None:
    if not os.environ.get(MIRROR_ENV):
        pytest.skip("no trace mirror: set FARGATE_LAB_TRACE_MIRROR")
    out = tmp_path / "demo"
    done = interrupt_when_staging(["demo", "--out", str(out)], tmp_path, "demo")
    line = one_line_error(done, status=130)
    assert f"are kept in {out / 'runs'}" in line and "run the same command again" in line
    assert list(tmp_path.iterdir()) == [out]  # no staging folder left
    assert [p.name for p in out.iterdir()] == ["runs"]  # no table, no report: the runs only
    assert not list((out / "runs" / "parts").glob(".*"))  # and no partial run


# ---------------------------------------------------------------------------------------
# Traces: --mirror everywhere, offline advice, names checked first
# ---------------------------------------------------------------------------------------


def test_offline_error_advises_a_flag_every_fetching_command_has(tmp_path: Path) -> None:
    scenario = write(tmp_path, '[run]\nduration = "30m"\n[traffic]\ntrace = "aws-elb"\n')
    env, drop = offline_env(tmp_path / "cache")
    line = one_line_error(cli("simulate", str(scenario), env=env, drop=drop))
    assert "aws-elb" in line
    assert f"--mirror DIR_OR_URL or {MIRROR_ENV}=DIR_OR_URL" in line
    for command in (
        ["simulate"],
        ["experiment", "autoscaling"],
        ["demo"],
        ["traces", "fetch"],
    ):
        helptext = cli(*command, "--help").stdout
        assert "--mirror DIR_OR_URL" in helptext, command


def test_simulate_mirror_flag_is_used(tmp_path: Path) -> None:
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        pytest.skip("no trace mirror: set FARGATE_LAB_TRACE_MIRROR")
    scenario = write(
        tmp_path, '[run]\nduration = "30m"\n[traffic]\ntrace = "aws-elb"\npeak_rps = 500\n'
    )
    env, drop = offline_env(tmp_path / "cache")
    proc = cli("simulate", str(scenario), "--mirror", mirror, "--json", env=env, drop=drop)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["requests_total"] > 0
    assert (tmp_path / "cache" / "aws-elb.npz").is_file()


def test_demo_offline_leaves_no_folder(tmp_path: Path) -> None:
    env, drop = offline_env(tmp_path / "cache")
    out = tmp_path / "demo"
    line = one_line_error(cli("demo", "--out", str(out), env=env, drop=drop))
    assert line.startswith("fargate-lab demo: could not download trace 'nasa'")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]
    assert list((tmp_path / "cache").iterdir()) == []


def test_traces_fetch_checks_every_name_before_downloading(tmp_path: Path) -> None:
    mirror = os.environ.get(MIRROR_ENV) or str(tmp_path / "no-mirror")
    cache = tmp_path / "cache"
    line = one_line_error(
        cli(
            "traces",
            "fetch",
            "twitter-aapl",
            "nosuch",
            "--mirror",
            mirror,
            "-q",
            env={"FARGATE_LAB_CACHE": str(cache)},
        )
    )
    assert "'nosuch'" in line
    for name in ("nasa", "worldcup98", "aws-elb", "twitter-aapl"):
        assert name in line
    assert not cache.exists() or list(cache.iterdir()) == []


# ---------------------------------------------------------------------------------------
# Small things
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (58204800.0, "58204800"),
        (58204800, "58204800"),
        (0.974807, "0.974807"),
        (35.5512345, "35.5512"),
        (60071.25, "60071.2"),
        (1234567.8, "1234570"),
        (float("nan"), "nan"),
        (True, "True"),
    ],
)
def test_summary_numbers_are_readable(value: object, text: str) -> None:
    assert _fmt(value) == text
    assert "e+" not in _fmt(value)


def test_simulate_prints_counts_as_integers(tmp_path: Path) -> None:
    scenario = write(tmp_path, SHORT)
    summary = json.loads(cli("simulate", str(scenario), "--json").stdout)
    printed = dict(
        line.split(None, 1) for line in cli("simulate", str(scenario)).stdout.splitlines()
    )
    total = printed["requests_total"].strip()
    assert total.isdigit() and int(total) == summary["requests_total"]
    assert printed["scaling_actions"].strip().isdigit()


def test_traces_list_shows_what_is_cached(tmp_path: Path) -> None:
    from sim.traces.catalog import CATALOG

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / CATALOG["aws-elb"].filename).write_bytes(b"x")
    out = cli("traces", "list", env={"FARGATE_LAB_CACHE": str(cache)}).stdout.splitlines()
    header = out[0].split()
    assert header[:2] == ["NAME", "CACHED"]
    cached = {line.split()[0]: line.split()[1] for line in out[1:]}
    assert cached == {"nasa": "no", "worldcup98": "no", "aws-elb": "yes", "twitter-aapl": "no"}


def test_policies_explain_every_none() -> None:
    from policies import registry

    proc = cli("policies")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name in registry.names():
        for key, value in registry.defaults(name).items():
            if value is None:
                start = lines.index(next(x for x in lines if x.startswith(f"{name}:")))
                block = lines[start + 1 : start + 4 + len(registry.defaults(name))]
                explained = [x for x in block if x.strip().startswith(f"{key}=None:")]
                assert explained, (name, key)
                meaning = explained[0].split(":", 1)[1]
                assert "None" in meaning and "see the policy's docstring" not in meaning
    target = next(x for x in lines if x.strip().startswith("target=None: "))
    assert "None means 50 (%) for a utilisation metric" in target
    assert "needs an explicit target" in target  # the whole sentence, not cut at ';'
    assert "``" not in proc.stdout and ":data:" not in proc.stdout


def test_version() -> None:
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"fargate-lab {version('fargate-lab')}"


def test_description_promises_only_what_exists() -> None:
    text = cli("--help").stdout
    assert "autoscaling" in text and "rollout strategies" in text
    # The rollout strategies it promises are listed by a command of their own.
    assert cli("rollouts").stdout.startswith("CodeDeployDefault.ECSAllAtOnce: preset of")


# ---------------------------------------------------------------------------------------
# main(): how each kind of stop becomes an exit status and one line
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "status", "text"),
    [
        (KeyboardInterrupt(), 130, "interrupted (Ctrl-C), nothing written"),
        (None, 130, "interrupted after 3 of 8 runs; kept 3 runs in\nOUT"),
        (ValueError("seeds must be >= 1,\n got 0"), 2, "seeds must be >= 1, got 0"),
        (PermissionError(13, "Permission denied", "/x"), 2, "Permission denied: '/x'"),
    ],
)
def test_main_maps_stops_to_one_line_and_a_status(
    monkeypatch, capsys, raised: BaseException | None, status: int, text: str
) -> None:
    from experiments import cli as cli_module
    from experiments.outputs import Interrupted

    error = raised if raised is not None else Interrupted(text)

    def stopped(args) -> int:
        raise error

    monkeypatch.setattr(cli_module, "cmd_experiment_autoscaling", stopped)
    assert cli_module.main(["experiment", "autoscaling", "-q"]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("fargate-lab experiment autoscaling: ")
    assert " ".join(text.split()) in err
