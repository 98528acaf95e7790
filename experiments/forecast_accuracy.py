"""How accurate a predictive policy's hourly forecast was, scored after the run.

The forecast scored is the policy's own (``forecasts_`` of
:class:`policies.autoscaling.predictive.PredictivePolicy`: every forecast it made, with the
time it was made), against the load that came:

* **Actual load of an hour.** The mean of ``RequestCount / period`` over the hour's periods
  in the run's metrics: the load metric the policy forecasts (RequestCount, in requests/s),
  as CloudWatch shows it. Only complete hours of the run are scored.
* **The forecast of an hour.** The one in force when the hour starts: the latest forecast
  made at or before the hour's start that covers it (AWS refreshes forecasts every 6 h, so
  this is 0-6 h ahead; the hour in which a forecast is made is not scored with it, it was
  already running). An hour before any forecast is not scored.
* **Accuracy** = 1 - MAPE, the mean over the scored hours of ``|forecast - actual| /
  actual`` (hours with no load are left out: their percentage error is undefined). MAPE is
  the error measure the claim "95% accurate" is usually stated in; Hyndman and Koehler
  (International Journal of Forecasting 22(4), 2006) list its weaknesses (undefined at 0,
  heavier on over-forecasts of low values), which is why ``forecast_hours`` is reported
  beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

HOUR_S = 3600.0


def hourly_actual(metrics: pd.DataFrame) -> pd.Series:
    """Mean load (requests/s, ``RequestCount`` per period / period) per complete hour of the
    run, indexed by hour number (``floor(time_s / 3600)``)."""
    t = np.asarray(metrics["time_s"], dtype=float)
    if len(t) == 0:
        return pd.Series(dtype=float)
    period = float(np.median(np.diff(t))) if len(t) > 1 else 60.0
    rate = np.asarray(metrics["RequestCount"], dtype=float) / period
    hour = np.floor(t / HOUR_S + 1e-9).astype(np.int64)
    per_hour = int(round(HOUR_S / period))
    frame = pd.DataFrame({"hour": hour, "rate": rate})
    grouped = frame.groupby("hour").rate.agg(["mean", "size"])
    return grouped.loc[grouped["size"] == per_hour, "mean"]


def forecast_in_force(
    forecasts: Sequence[tuple[float, float, np.ndarray]], hours: Sequence[int]
) -> np.ndarray:
    """Per hour number, the forecast in force at the hour's start (see the module
    docstring); NaN where no forecast made by then covers it."""
    out = np.full(len(hours), np.nan)
    for made, start, values in sorted(forecasts, key=lambda f: f[0]):
        for j, h in enumerate(hours):
            begin = h * HOUR_S
            i = int(round((begin - start) / HOUR_S))
            if made <= begin + 1e-9 and 0 <= i < len(values):
                out[j] = float(values[i])  # later forecasts overwrite earlier ones
    return out


def forecast_accuracy(
    forecasts: Sequence[tuple[float, float, np.ndarray]], metrics: pd.DataFrame
) -> dict[str, Any]:
    """``forecast_mape``, ``forecast_accuracy`` (1 - MAPE) and ``forecast_hours`` (hours
    scored) of a run's forecasts against its metrics; NaN and 0 hours when none can be
    scored."""
    actual = hourly_actual(metrics)
    predicted = forecast_in_force(forecasts, list(actual.index))
    a = actual.to_numpy(dtype=float)
    ok = np.isfinite(predicted) & (a > 0)
    if not ok.any():
        return {"forecast_mape": math.nan, "forecast_accuracy": math.nan, "forecast_hours": 0}
    mape = float(np.mean(np.abs(predicted[ok] - a[ok]) / a[ok]))
    return {
        "forecast_mape": mape,
        "forecast_accuracy": 1.0 - mape,
        "forecast_hours": int(ok.sum()),
    }
