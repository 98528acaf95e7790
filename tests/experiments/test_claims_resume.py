"""``fargate-lab claims`` resumes (issue 11): every run is stored in ``--out/runs`` as it
finishes, a re-run in the same folder runs exactly the missing runs and writes the table an
uninterrupted run writes, and a changed spec or code version is never mixed with old runs."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from experiments import autoscaling, claims, claims_rollouts, rollouts
from experiments.store import RunStore, StoreError

#: The real run functions (count_runs replaces them, possibly more than once in a test).
RUN_ONE = {"autoscaling": autoscaling.run_one, "rollouts": rollouts.run_one}


def count_runs(monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, str]], fail_at=None):
    """Count the runs executed (autoscaling and fault runs, rollout runs), in process; with
    ``fail_at`` the run after ``fail_at`` runs raises, as a lost worker or a killed process."""

    def wrap(real, kind: str, identity):
        def run(spec):
            if fail_at is not None and len(calls) >= fail_at:
                raise RuntimeError("worker lost")
            calls.append((kind, json.dumps(identity(spec), sort_keys=True, default=str)))
            return real(spec)

        return run

    monkeypatch.setattr(
        autoscaling,
        "run_one",
        wrap(RUN_ONE["autoscaling"], "autoscaling", autoscaling.run_identity),
    )
    monkeypatch.setattr(rollouts, "run_one", wrap(RUN_ONE["rollouts"], "rollouts", asdict))


def parts(out: Path) -> set[str]:
    return {p.name for p in (out / "runs" / "parts").iterdir()}


def run(out: Path, overrides: dict) -> list[str]:
    said: list[str] = []
    claims.run_claims(
        out, claims.DEMO_SPEC, overrides=overrides, workers=1, progress=False, log=said.append
    )
    return said


def test_an_interrupted_claims_run_resumes_with_nothing_lost_or_twice(
    tiny_demo, tiny_overrides: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, _, _ = tiny_demo  # the same spec run once, uninterrupted
    total = len(parts(reference))
    n_rollouts = 3 * tiny_overrides["rollouts"]["seeds"]  # claims_rollouts.NEEDED x seeds
    assert total > n_rollouts + 5
    out = tmp_path / "claims-output"
    first: list[tuple[str, str]] = []
    count_runs(monkeypatch, first, fail_at=5)
    with pytest.raises(RuntimeError, match="worker lost"):
        run(out, tiny_overrides)
    assert len(first) == 5 and {k for k, _ in first} == {"autoscaling"}
    assert [p.name for p in out.iterdir()] == ["runs"]  # no table from a partial run
    assert len(parts(out)) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["claims-output"]  # no staging left

    second: list[tuple[str, str]] = []  # lost again, among the rollout runs
    count_runs(monkeypatch, second, fail_at=total - 5 - 3)
    with pytest.raises(RuntimeError, match="worker lost"):
        run(out, tiny_overrides)
    assert len(parts(out)) == total - 3
    third: list[tuple[str, str]] = []
    count_runs(monkeypatch, third)
    said = run(out, tiny_overrides)
    assert [k for k, _ in third] == ["rollouts"] * 3
    assert any(f"3 runs run now, {total - 3} read from" in s for s in said)
    everything = first + second + third
    assert len(everything) == len(set(everything)) == total  # each run exactly once
    assert parts(out) == parts(reference)  # the same runs (keys), nothing more
    assert (out / "claims.csv").read_bytes() == (reference / "claims.csv").read_bytes()
    assert (out / "claims.md").read_text() == (reference / "claims.md").read_text()
    for table in ("autoscaling/runs.parquet", "faults.parquet", "rollouts/runs.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / table), pd.read_parquet(reference / table)
        )

    # a changed spec in the same folder: only the runs it changes run (the fault runs at
    # another Spot interruption rate); the old ones stay in the folder, unused
    uptime = {**tiny_overrides["uptime"], "spot_interruptions_per_task_hour": 0.02}
    fourth: list[tuple[str, str]] = []
    count_runs(monkeypatch, fourth)
    said = run(out, {**tiny_overrides, "uptime": uptime})
    n_faults = len(pd.read_parquet(reference / "faults.parquet"))
    assert [k for k, _ in fourth] == ["autoscaling"] * n_faults
    assert all('"kind": "faults"' in identity for _, identity in fourth)
    assert any(f"{n_faults} stored runs there are of another spec" in s for s in said)
    assert len(parts(out)) == total + n_faults
    spec = json.loads((out / "spec.json").read_text())
    assert spec["uptime"]["spot_interruptions_per_task_hour"] == 0.02


def test_a_changed_code_version_runs_anew_and_a_corrupt_run_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "runs"
    calls: list[tuple[str, str]] = []
    count_runs(monkeypatch, calls)

    def rollout_runs(version: str) -> tuple[pd.DataFrame, RunStore]:
        store = RunStore(store_dir, version=version)
        specs = [rollouts.RunSpec(claims_rollouts.RISK, seed, 8, 0.5) for seed in (1, 2)]
        return rollouts.run_all(specs, 1, False, store), store

    a, store = rollout_runs("1.0+git.aaaaaaa")
    assert len(calls) == len(store.executed) == 2 and store.unused() == 0
    again, store = rollout_runs("1.0+git.aaaaaaa")
    assert len(calls) == 2 and store.executed == [] and store.reused() == 2
    pd.testing.assert_frame_equal(a, again)
    other, store = rollout_runs("1.0+git.bbbbbbb")  # another code version: all run again
    assert len(calls) == 4 and len(store.executed) == 2 and store.unused() == 2
    pd.testing.assert_frame_equal(a, other)  # the model did not change, so neither do they
    assert RunStore(store_dir, version="x").key({"a": 1}) != RunStore(store_dir, version="y").key(
        {"a": 1}
    )

    key = store.executed[0]
    (store_dir / "tables" / key / "releases.parquet").write_bytes(b"PAR1 half")
    with pytest.raises(StoreError, match=f"{key}/releases.parquet"):
        rollout_runs("1.0+git.bbbbbbb")
    (store_dir / "parts" / f"{key}.parquet").write_bytes(b"PAR1 half")
    with pytest.raises(StoreError, match=f"{key}.parquet: corrupt or partial"):
        rollout_runs("1.0+git.bbbbbbb")
    assert len(calls) == 4  # reported before anything ran


def test_a_resumed_store_reads_each_stored_part_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = RunStore(tmp_path / "runs", version="v")
    keys = [first.key({"run": i}) for i in range(4)]
    for i, key in enumerate(keys[:3]):
        first.put(key, {"run": i, "cost_usd": 1.5 * i})
    store = RunStore(tmp_path / "runs", version="v")
    reads: list[str] = []
    real = store.results.read_part

    def counted(path: Path) -> dict:
        reads.append(path.stem)
        return real(path)

    monkeypatch.setattr(store.results, "read_part", counted)
    assert store.missing(keys) == [3]
    assert sorted(reads) == sorted(keys[:3])  # every stored part checked before anything runs
    rows = [store.get(k) for k in keys[:3]]
    assert len(reads) == 3  # and not read again
    assert [r["cost_usd"] for r in rows] == [0.0, 1.5, 3.0]
    rows[0]["cost_usd"] = 99.0  # a caller's copy: the store's row is unchanged
    assert store.get(keys[0])["cost_usd"] == 0.0
