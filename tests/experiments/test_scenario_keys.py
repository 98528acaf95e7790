"""``fargate-lab scenario keys`` lists every field of the scenario models, generated."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

from pydantic import BaseModel

from experiments.scenario_keys import scenario_keys
from sim.scenario import Scenario


def _all_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every field reachable from ``model``: sections by '.', list items by '[].'."""
    found: set[str] = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        args = [a for a in typing.get_args(ann) if a is not Ellipsis]
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            found |= _all_fields(ann, f"{prefix}{name}.")
        elif (
            typing.get_origin(ann) in (list, tuple)
            and len(args) == 1
            and isinstance(args[0], type)
            and issubclass(args[0], BaseModel)
        ):
            found.add(f"{prefix}{name}[]")
            found |= _all_fields(args[0], f"{prefix}{name}[].")
        else:
            found.add(f"{prefix}{name}")
    return found


def test_every_model_field_is_listed_once() -> None:
    keys = [r["key"] for r in scenario_keys()]
    assert len(keys) == len(set(keys))
    expected = _all_fields(Scenario)
    assert expected <= set(keys), sorted(expected - set(keys))
    # The named policy's, strategy's, analysis method's and risk model's own parameters.
    assert set(keys) - expected == {"autoscaler.*", "rollout.*", "analysis.*", "risk.*"}
    assert {
        "run.duration",
        "traffic.synthetic.base_rps",
        "service.capacity_providers[].weight",
    } <= expected


def test_rows_carry_type_default_and_doc() -> None:
    rows = {r["key"]: r for r in scenario_keys()}
    duration = rows["run.duration"]
    assert duration["type"] == "duration"
    assert duration["default"] == str(int(Scenario().run.duration))
    assert (
        duration["doc"]
        == Scenario.model_fields["run"].annotation.model_fields["duration"].description
    )
    assert rows["service.workers"]["type"] == "int or None"
    assert rows["traffic.gap_policy"]["type"] == "'interpolate' | 'hold'"
    assert rows["traffic.synthetic.flash_crowds[].at"]["default"] == "required"


def test_command_prints_every_key() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "experiments", "scenario", "keys", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == scenario_keys()
    text = subprocess.run(
        [sys.executable, "-m", "experiments", "scenario", "keys"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    printed = [line.split()[0] for line in text.splitlines() if line.strip()]
    assert printed == [r["key"] for r in scenario_keys()]
