"""Declarative sweeps: a base scenario, overrides for every run, and axes whose product is the
grid (README, "Sweeps and reports").

A spec is a TOML file::

    scenario = "base.toml"             # relative to the spec
    [set]                              # optional overrides for every run
    "run.duration" = "7d"
    [axes]                             # the grid is the product of the axes
    "autoscaler.policy" = ["static", "target-tracking", "hpa"]
    "run.seed" = [1, 2, 3, 4]

An axis (or a ``[set]`` key) is any scenario key in dotted form (``fargate-lab scenario
keys``), including ``traffic.trace`` (catalog names or CSV paths, relative to the spec),
``traffic.start`` (windows), ``autoscaler.<param>`` (a policy's parameter) and fault keys. The
value of a whole section (a key with no dot, e.g. ``autoscaler``) is a table that replaces the
section: ``autoscaler = [{policy = "static"}, {policy = "hpa", target = 60}]`` sweeps policies
each with its own parameters. An optional ``[policies]`` table is shorthand for such an axis:
``[policies.target-tracking]`` ``target = [40, 60]`` gives one autoscaler setting per value
(the product of its parameters' lists), ``[policies.static]`` one setting with the defaults.

Every grid point is validated (a whole scenario, its policy and parameters, its trace file)
before anything runs (:func:`load_spec`); the runs go to a resumable results store
(:mod:`experiments.store`) through a local process pool or a Dask cluster
(:func:`run_sweep`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.scenario import Scenario, ScenarioError, scenario_from_dict

#: Axes that index independent samples (seeds and windows): the report averages over them
#: and pairs policies by them; every other axis distinguishes configurations.
SAMPLE_AXES: tuple[str, ...] = ("run.seed", "traffic.start")

_SPEC_KEYS = ("scenario", "set", "axes", "policies", "name")


class SpecError(ValueError):
    """A sweep spec that cannot run; the message is one line naming the spec and the key."""


@dataclass(frozen=True)
class GridPoint:
    """One run of the grid: the axis values as written in the spec, and the resolved
    scenario (as a JSON-able dict) with its content hash."""

    index: int
    axes: dict[str, Any]
    scenario: dict[str, Any]
    scenario_hash: str


@dataclass
class SweepSpec:
    """A loaded, validated sweep: its source, axes and every grid point in grid order."""

    path: Path
    name: str
    axes: dict[str, list[Any]]
    points: list[GridPoint] = field(default_factory=list)


def _set_dotted(data: dict[str, Any], key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise SpecError(f"{where}: {key!r}: {part} is not a section")
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def _check_key(key: str, where: str) -> None:
    """Refuse a dotted key that names no scenario key (autoscaler parameters are checked by
    the policy registry when the grid point is validated)."""
    from experiments.scenario_keys import scenario_keys

    known = {r["key"].removesuffix("[]") for r in scenario_keys() if "[]." not in r["key"]}
    sections = {k.rsplit(".", 1)[0] for k in known if "." in k} | set(Scenario.model_fields)
    if key in known or key in sections or key.startswith("autoscaler."):
        return
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise SpecError(
        f"{where}: unknown scenario key {key!r}{hint} (see `fargate-lab scenario keys`)"
    )


def _policy_axis(policies: Any, where: str) -> list[dict[str, Any]]:
    """The ``[policies]`` shorthand as a list of ``autoscaler`` tables."""
    if not isinstance(policies, dict) or not policies:
        raise SpecError(f"{where}: [policies] must be a table of policy names, got {policies!r}")
    out: list[dict[str, Any]] = []
    for name, params in policies.items():
        if not isinstance(params, dict):
            raise SpecError(f"{where}: [policies.{name}] must be a table of parameter lists")
        keys = list(params)
        lists = [v if isinstance(v, list) else [v] for v in params.values()]
        for combo in itertools.product(*lists):
            out.append({"policy": name, **dict(zip(keys, combo, strict=True))})
    return out


def canonical_hash(scenario: dict[str, Any]) -> str:
    """sha256 of the scenario's canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(scenario, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _trace_value(value: Any, base: Path, where: str) -> Any:
    """A ``traffic.trace`` value: a catalog name as it is, a CSV path made absolute against
    ``base`` (the spec's folder); a missing file is refused."""
    from sim.traces.catalog import CATALOG

    if value is None or not isinstance(value, str) or value in CATALOG:
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise SpecError(
            f"{where}: traffic.trace {value!r}: no such file {path.resolve()} (a trace is a "
            f"CSV path relative to the spec, or one of the catalog names: {', '.join(CATALOG)})"
        )
    return str(path.resolve())


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a file's bytes (cached per path, modification time and size)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep spec and validate every grid point; raise :class:`SpecError` (one line,
    naming the spec and the key) before anything runs."""
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{where}: cannot read sweep spec: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{where}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_SPEC_KEYS))
    if unknown:
        raise SpecError(
            f"{where}: unknown top-level key(s) {unknown}; allowed: {', '.join(_SPEC_KEYS)}"
        )
    if "scenario" not in data or not isinstance(data["scenario"], str):
        raise SpecError(
            f"{where}: 'scenario' (the base scenario file, relative to the spec) is required"
        )
    spec_dir = path.resolve().parent
    base_path = spec_dir / data["scenario"]
    try:
        base = tomllib.loads(base_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(
            f"{where}: scenario {data['scenario']!r}: cannot read {base_path}: {exc.strerror}"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{where}: scenario {data['scenario']!r}: not valid TOML: {exc}") from None
    base.setdefault("name", base_path.stem)
    if isinstance(base.get("traffic", {}).get("trace"), str):  # relative to the base scenario
        base["traffic"]["trace"] = _trace_value(base["traffic"]["trace"], base_path.parent, where)

    overrides = data.get("set", {})
    if not isinstance(overrides, dict):
        raise SpecError(f"{where}: [set] must be a table of scenario keys")
    for key, value in overrides.items():
        _check_key(key, f"{where}: [set]")
        if key == "traffic.trace":
            value = _trace_value(value, spec_dir, f"{where}: [set]")
        _set_dotted(base, key, value, f"{where}: [set]")

    axes_in = data.get("axes", {})
    if not isinstance(axes_in, dict):
        raise SpecError(f"{where}: [axes] must be a table of scenario keys to lists")
    axes: dict[str, list[Any]] = {}
    for key, values in axes_in.items():
        _check_key(key, f"{where}: [axes]")
        if not isinstance(values, list):
            raise SpecError(f"{where}: [axes] {key!r} must be a list of values, got {values!r}")
        axes[key] = values
    if "policies" in data:
        if "autoscaler" in axes or any(k.startswith("autoscaler.") for k in axes):
            raise SpecError(f"{where}: [policies] and an autoscaler axis cannot be combined")
        axes = {"autoscaler": _policy_axis(data["policies"], where), **axes}
    for key, values in axes.items():
        if not values:
            raise SpecError(f"{where}: [axes] {key!r} is empty, so the grid is empty")
        seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
        if len(set(seen)) != len(seen):
            raise SpecError(f"{where}: [axes] {key!r} repeats a value: {values!r}")

    name = str(data.get("name", path.stem))
    spec = SweepSpec(path=path, name=name, axes=axes)
    keys = list(axes)
    hashes: dict[str, int] = {}
    for i, combo in enumerate(itertools.product(*(axes[k] for k in keys))):
        point = dict(zip(keys, combo, strict=True))
        scen = copy.deepcopy(base)
        label = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in point.items())
        for key, value in point.items():
            if key == "traffic.trace":
                value = _trace_value(value, spec_dir, f"{where}: [axes]")
            if key in Scenario.model_fields and key != "name":
                if not isinstance(value, dict):
                    raise SpecError(
                        f"{where}: [axes] {key!r}: a section's values must be tables, got {value!r}"
                    )
                if key == "traffic" and isinstance(value.get("trace"), str):
                    value = {**value, "trace": _trace_value(value["trace"], spec_dir, where)}
                scen[key] = copy.deepcopy(value)
                continue
            _set_dotted(scen, key, value, f"{where}: [axes]")
        try:
            validated = scenario_from_dict(scen, f"{where} (grid point {label})", base_dir=spec_dir)
        except ScenarioError as exc:
            raise SpecError(" ".join(str(exc).split())) from None
        resolved = validated.model_dump(mode="json")
        resolved["base_dir"] = None  # every path in it is absolute
        identity = dict(resolved)
        trace = resolved["traffic"]["trace"]
        if trace is not None and Path(trace).is_absolute():  # hash the file's content too
            st = os.stat(trace)
            identity["trace_sha256"] = _file_digest(trace, st.st_mtime_ns, st.st_size)
        digest = canonical_hash(identity)
        if digest in hashes:
            raise SpecError(
                f"{where}: grid points {hashes[digest] + 1} and {i + 1} are the same scenario "
                f"({label}); remove the duplicate axis value"
            )
        hashes[digest] = i
        spec.points.append(GridPoint(i, point, resolved, digest))
    if not spec.points:
        raise SpecError(f"{where}: the grid is empty")
    return spec
