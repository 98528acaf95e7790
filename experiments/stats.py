"""Statistics over seeds for experiment tables: Student-t confidence intervals, per-group
summaries and paired differences (a policy against a reference on the same seeds)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def ci95(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t confidence interval (nan for one value)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), math.nan
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def summarise(runs: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """One row per (trace, policy): mean and 95% CI half-width of each of ``columns``."""
    rows = []
    for (trace, policy), group in runs.groupby(["trace", "policy"], sort=False):
        row: dict[str, Any] = {"trace": trace, "policy": policy, "seeds": len(group)}
        for col in columns:
            mean, half = ci95(group[col].to_numpy())
            row[col] = mean
            row[f"{col}_ci95"] = half
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(
    runs: pd.DataFrame, policy: str, reference: str, column: str = "cost_usd"
) -> pd.DataFrame:
    """Per trace: relative difference of ``column`` (policy vs reference), paired by seed,
    with its 95% CI; negative means the policy is cheaper."""
    rows = []
    for trace, group in runs.groupby("trace", sort=False):
        a = group[group.policy == policy].set_index("seed")[column]
        b = group[group.policy == reference].set_index("seed")[column]
        seeds = a.index.intersection(b.index)
        if len(seeds) == 0:
            continue
        rel = (a[seeds] / b[seeds] - 1.0).to_numpy()
        mean, half = ci95(rel)
        rows.append(
            {
                "trace": trace,
                "policy": policy,
                "reference": reference,
                "mean": mean,
                "ci95": half,
                "seeds": len(seeds),
            }
        )
    return pd.DataFrame(rows)
