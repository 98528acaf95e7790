"""The release generator: schedule, metadata, calibrated bad rate, kinds, config errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sim.releases import (
    BAD_KINDS,
    DAY_S,
    HOUR_S,
    Release,
    ReleasesConfigError,
    expected_bayes_auc,
    generate_releases,
    releases_config,
    releases_frame,
    weighted_auc,
)


def _frame(cfg: dict, days: float, seed: int = 1):
    return releases_frame(
        generate_releases(releases_config(cfg), days * DAY_S, np.random.default_rng(seed))
    )


def test_same_seed_same_releases_bit_for_bit() -> None:
    cfg = releases_config({"per_day": 10, "explicit": [{"at": "2h", "kind": "latency"}]})
    a = generate_releases(cfg, 30 * DAY_S, np.random.default_rng(42))
    b = generate_releases(cfg, 30 * DAY_S, np.random.default_rng(42))
    c = generate_releases(cfg, 30 * DAY_S, np.random.default_rng(43))
    assert len(a) > 100 and a == b
    assert releases_frame(a).equals(releases_frame(b))
    assert a != c


@pytest.mark.parametrize("cfr", [0.05, 0.15, 0.4])
def test_marginal_bad_rate_matches_change_failure_rate(cfr: float) -> None:
    df = _frame({"per_day": 30, "change_failure_rate": cfr}, 300, seed=7)
    n = len(df)
    assert n > 6000
    tolerance = 4 * math.sqrt(cfr * (1 - cfr) / n) + 0.003  # binomial + calibration sample
    assert abs(df["bad"].mean() - cfr) < tolerance
    # the stored Bayes probability is calibrated too
    assert abs(df["p_bad"].mean() - cfr) < 0.01


def test_bad_kind_mix_follows_its_parameters() -> None:
    df = _frame({"per_day": 30, "change_failure_rate": 0.3}, 300, seed=3)
    bad = df[df["bad"]]
    default = {"crash-loop": 0.2, "errors": 0.3, "latency": 0.2, "late-failure": 0.15}
    default["partial"] = 0.15
    for kind, share in default.items():
        observed = (bad["truth"] == kind).mean()
        assert abs(observed - share) < 4 * math.sqrt(share * (1 - share) / len(bad)), kind
    mix = {"errors": 1, "latency": 3}
    df = _frame({"per_day": 40, "change_failure_rate": 0.3, "kind_mix": mix}, 100)
    bad = df[df["bad"]]
    assert set(bad["truth"]) == {"errors", "latency"}
    share = (bad["truth"] == "latency").mean()
    assert abs(share - 0.75) < 4 * math.sqrt(0.75 * 0.25 / len(bad))


def test_kind_parameters_in_their_ranges_and_only_on_their_kind() -> None:
    df = _frame({"per_day": 40, "change_failure_rate": 0.4}, 120, seed=5)
    err = df[df["truth"] == "errors"]["error_share"]
    assert err.between(0.01, 0.5).all() and err.notna().all()
    lat = df[df["truth"] == "latency"]["latency_factor"]
    assert lat.between(1.5, 5.0).all() and lat.notna().all()
    late = df[df["truth"] == "late-failure"]
    assert late["failure_delay_s"].between(600, 4 * 3600).all()
    assert set(late["late_mode"]) == {"crash", "errors"}
    assert late.loc[late["late_mode"] == "errors", "error_share"].notna().all()
    assert late.loc[late["late_mode"] == "crash", "error_share"].isna().all()
    part = df[df["truth"] == "partial"]["affected_share"]
    assert part.between(0.02, 0.3).all()
    good = df[df["truth"] == "good"]
    cols = ["error_share", "latency_factor", "failure_delay_s", "affected_share"]
    assert good[cols].isna().all().all() and good["late_mode"].isna().all()


def test_explicit_releases_are_honoured_exactly() -> None:
    explicit = [
        {"at": "2h", "kind": "crash-loop"},
        {"at": 9000, "kind": "errors", "error_share": 0.25},
        {"at": "1d", "kind": "good"},
        {"at": "3h", "kind": "late-failure", "failure_delay": "30m", "late_mode": "crash"},
        {"at": "3h", "kind": "partial"},
    ]
    cfg = releases_config({"explicit": explicit})
    rel = generate_releases(cfg, 2 * DAY_S, np.random.default_rng(0))
    assert [(r.at_s, r.truth) for r in rel] == [
        (7200.0, "crash-loop"),
        (9000.0, "errors"),
        (10800.0, "late-failure"),
        (10800.0, "partial"),
        (86400.0, "good"),
    ]
    assert all(r.explicit for r in rel) and [r.id for r in rel] == list(range(5))
    assert rel[1].error_share == 0.25
    assert rel[2].failure_delay_s == 1800.0 and rel[2].late_mode == "crash"
    assert rel[2].error_share is None
    assert 0.02 <= rel[3].affected_share <= 0.3
    # explicit releases keep their place among scheduled ones
    cfg = releases_config({"explicit": explicit, "per_day": 20})
    rel = generate_releases(cfg, 2 * DAY_S, np.random.default_rng(0))
    ex = [(r.at_s, r.truth) for r in rel if r.explicit]
    assert len(ex) == 5 and (7200.0, "crash-loop") in ex
    assert [r.at_s for r in rel] == sorted(r.at_s for r in rel)


def test_per_day_counts_and_working_hours() -> None:
    days = 280  # 40 weeks: 200 working days
    df = _frame({"per_day": 6, "off_hours_share": 0.0}, days, seed=11)
    assert set(df["day_of_week"]) <= {0, 1, 2, 3, 4}  # no weekend releases by default
    expected = 6 * 200
    assert abs(len(df) - expected) < 4 * math.sqrt(expected)
    assert df["hour_of_day"].between(10, 18, inclusive="left").all()
    assert not df["off_hours"].any()
    hours = np.floor(df["hour_of_day"]).value_counts()
    # the profile: the lunch hour and the last hour have half the weight of the others
    assert hours[12] < 0.7 * hours[11] and hours[17] < 0.7 * hours[15]
    df = _frame({"per_day": 6}, days, seed=12)
    off = df["off_hours"].mean()
    assert abs(off - 0.1) < 4 * math.sqrt(0.1 * 0.9 / len(df))
    assert (df["off_hours"] == ~df["hour_of_day"].between(10, 18, inclusive="left")).all()
    df = _frame({"per_day": 6, "weekend_factor": 0.5}, days, seed=13)
    weekend = int(df["day_of_week"].isin([5, 6]).sum())
    assert abs(weekend - 6 * 0.5 * 80) < 4 * math.sqrt(240)


def test_calendar_offset_places_time_zero() -> None:
    # time 0 is Saturday 00:00: no release in the first two days, Monday is day_of_week 0
    df = _frame({"per_day": 10, "calendar_offset": "5d"}, 14)
    assert (df["at_s"] >= 2 * DAY_S).all()
    first = df.iloc[0]
    assert first["day_of_week"] == 0
    assert math.isclose(first["hour_of_day"], (first["at_s"] - 2 * DAY_S) / HOUR_S)


def test_metadata_follows_the_cited_size_distribution() -> None:
    df = _frame({"per_day": 40}, 200, seed=2)
    lines, files = df["lines_changed"], df["files_touched"]
    assert 20 <= lines.median() <= 28  # Sadowski et al. 2018: median 24 lines
    assert abs((lines == 1).mean() - 0.10) < 0.02  # over 10% modify a single line
    assert abs((files == 1).mean() - 0.35) < 0.03  # 35% a single file
    assert abs((files < 10).mean() - 0.90) < 0.02  # 90% fewer than 10 files
    assert not (df["config_only"] & df["dependency_change"]).any()
    assert df["author"].nunique() == 20
    assert df.groupby("author")["author_failure_rate"].nunique().eq(1).all()


def test_risk_is_learnable_but_not_perfect() -> None:
    df = _frame({"per_day": 40}, 200, seed=4)
    realised = roc_auc_score(df["bad"], df["p_bad"])
    assert 0.7 < realised < 0.9
    expected = expected_bayes_auc(releases_config({}), np.random.default_rng(0), pools=3)
    assert 0.72 < expected < 0.86
    assert abs(realised - expected) < 0.05


def test_weighted_auc_is_the_expected_auc() -> None:
    p = np.array([0.1, 0.9, 0.5, 0.5, 0.2])
    y = np.r_[np.ones(5), np.zeros(5)]
    w = np.r_[p, 1 - p]
    assert math.isclose(weighted_auc(p), roc_auc_score(y, np.r_[p, p], sample_weight=w))


def test_release_is_frozen_and_bad_follows_truth() -> None:
    rel = generate_releases(
        releases_config({"explicit": [{"at": 0, "kind": "errors"}]}),
        DAY_S,
        np.random.default_rng(0),
    )[0]
    assert isinstance(rel, Release) and rel.bad
    with pytest.raises(AttributeError):
        rel.truth = "good"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"explicit": [{"at": "2h", "kind": "oops"}]}, ["releases.explicit.0.kind", "crash-loop"]),
        ({"explicit": [{"kind": "errors"}]}, ["releases.explicit.0.at", "required"]),
        ({"explicit": [{"at": "2x", "kind": "good"}]}, ["releases.explicit.0.at", "'5m'"]),
        (
            {"explicit": [{"at": 1, "kind": "errors", "latency_factor": 2}]},
            ["releases.explicit.0", "latency_factor applies only to kind 'latency'"],
        ),
        ({"per_day": -1}, ["releases.per_day", "greater than or equal to 0"]),
        ({"change_failure_rate": 1.5}, ["releases.change_failure_rate", "less than 1"]),
        ({"kind_mix": {"slow": 1}}, ["releases.kind_mix", "allowed: crash-loop, errors"]),
        ({"working_hours": ["18h", "10h"]}, ["releases", "working_hours"]),
        ({"latency_factor": [0.5, 2]}, ["releases", "latency_factor", "1.0 < low"]),
        ({"perday": 3}, ["releases.perday", "unknown key"]),
    ],
)
def test_bad_config_is_refused_naming_the_key(section: dict, expected: list[str]) -> None:
    with pytest.raises(ReleasesConfigError) as err:
        releases_config(section, "scenario.toml")
    message = str(err.value)
    assert message.startswith("scenario.toml: invalid [releases] section")
    for part in expected:
        assert part in message, (part, message)


def test_all_kinds_are_known() -> None:
    assert BAD_KINDS == ("crash-loop", "errors", "latency", "late-failure", "partial")
