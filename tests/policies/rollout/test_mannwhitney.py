"""The Mann-Whitney shift interval against R's ``wilcox.test(x, y, conf.int = TRUE)``.

R's figures were computed once (R 4.2.2 Patched (2022-11-10 r83330), Debian package
r-base-core) and are written here as constants; R is not needed to run these tests. The R
code, verbatim apart from the data lines (the arrays below):

    options(digits = 17)
    show <- function(label, r) cat(label, ": estimate =", format(unname(r$estimate), digits = 17),
      " conf.int =", format(r$conf.int[1], digits = 17), format(r$conf.int[2], digits = 17),
      " level =", format(attr(r$conf.int, "conf.level"), digits = 17), " method =", r$method, "\\n")
    show("exact", wilcox.test(x1, y1, conf.int = TRUE, conf.level = 0.98))
    show("exact95", wilcox.test(x1, y1, conf.int = TRUE, conf.level = 0.95))
    show("small_normal", wilcox.test(x1, y1, conf.int = TRUE, conf.level = 0.98, exact = FALSE))
    show("normal", wilcox.test(x2, y2, conf.int = TRUE, conf.level = 0.98))   # x2, y2 from CSV
    show("ties", suppressWarnings(wilcox.test(x3, y3, conf.int = TRUE, conf.level = 0.98)))
    show("tiny", suppressWarnings(wilcox.test(x4, y4, conf.int = TRUE, conf.level = 0.98)))
    cat("qwilcox", qwilcox(0.01, 7, 6), qwilcox(0.025, 7, 6), qwilcox(0.01, 30, 40),
        qwilcox(0.9, 12, 5), "\\n")
    cat("pwilcox", format(pwilcox(c(3, 10, 21), 7, 6), digits = 17), "\\n")

x2, y2 were written by numpy with ``fmt="%.4f"`` from the formulas in :func:`_large` and read
with ``scan()``.
"""

from __future__ import annotations

import numpy as np
import pytest

from policies.rollout.mannwhitney import pwilcox, qwilcox, wilcox_shift_ci

X1 = [10.2, 11.5, 9.8, 12.1, 10.9, 13.3, 11.0]
Y1 = [9.1, 8.7, 10.0, 9.5, 8.2, 9.9]
X3 = [3, 4, 4, 5, 6, 6, 7, 9]
Y3 = [2, 3, 3, 4, 4, 5, 5, 6]
X4 = [1.1, 2.3, 3.9]
Y4 = [0.2, 0.9]


def _large() -> tuple[np.ndarray, np.ndarray]:
    """60 and 55 distinct values (no ties): R takes the normal approximation (n >= 50)."""
    i, j = np.arange(60), np.arange(55)
    x = np.round(50 + 7 * np.sin(1.3 * i) + 0.05 * i + 3.0, 4)
    y = np.round(50 + 6 * np.cos(0.7 * j) + 0.04 * j, 4)
    return x, y


# label: (x, y, conf.level, exact, R estimate, R lower, R upper, R conf.level, R used exact)
R_FIGURES = {
    "exact": (
        X1,
        Y1,
        0.98,
        None,
        1.9500000000000002,
        0.30000000000000071,
        3.8000000000000007,
        0.98,
        True,
    ),
    "exact95": (
        X1,
        Y1,
        0.95,
        None,
        1.9500000000000002,
        0.70000000000000107,
        3.4000000000000004,
        0.95,
        True,
    ),
    "small_normal": (
        X1,
        Y1,
        0.98,
        False,
        1.938734496200111,
        0.3000388783249206,
        3.8000210809530461,
        0.98,
        False,
    ),
    "normal": (
        "large",
        None,
        0.98,
        None,
        3.3963046666738643,
        1.238487442491762,
        5.4477316854901776,
        0.98,
        False,
    ),
    "ties": (
        X3,
        Y3,
        0.98,
        None,
        1.0000371212425778,
        -0.9999779775930594,
        3.9999550440687823,
        0.98,
        False,
    ),
    # 3 x 2 values cannot reach 98%: R warns and reports the achieved level, 0.8
    "tiny": (
        X4,
        Y4,
        0.98,
        None,
        1.7499999999999998,
        0.20000000000000007,
        3.6999999999999997,
        0.8,
        True,
    ),
}


@pytest.mark.parametrize("label", sorted(R_FIGURES))
def test_interval_and_estimate_agree_with_r(label):
    x, y, level, exact, est, lo, hi, r_level, r_exact = R_FIGURES[label]
    if x == "large":
        x, y = _large()
    got = wilcox_shift_ci(np.asarray(x, float), np.asarray(y, float), level, exact=exact)
    assert got.exact is r_exact
    # R's uniroot is reproduced step for step (R_zeroin2), so the roots agree to rounding.
    assert got.estimate == pytest.approx(est, rel=1e-12, abs=1e-12)
    assert got.lower == pytest.approx(lo, rel=1e-12, abs=1e-12)
    assert got.upper == pytest.approx(hi, rel=1e-12, abs=1e-12)
    assert got.conf_level == pytest.approx(r_level, rel=1e-12)


def test_large_samples_have_no_ties():
    x, y = _large()
    assert len(np.unique(np.r_[x, y])) == len(x) + len(y)


def test_qwilcox_and_pwilcox_agree_with_r():
    assert [
        qwilcox(0.01, 7, 6),
        qwilcox(0.025, 7, 6),
        qwilcox(0.01, 30, 40),
        qwilcox(0.9, 12, 5),
    ] == [
        5,
        7,
        405,
        42,
    ]
    r = [0.004079254079254079, 0.068764568764568768, 0.527389277389277322]
    assert [pwilcox(q, 7, 6) for q in (3, 10, 21)] == pytest.approx(r, rel=1e-14)


def test_shift_sign_is_experiment_minus_control():
    up = wilcox_shift_ci(np.array(Y1) + 5.0, np.array(Y1), 0.98)
    assert up.estimate == pytest.approx(5.0)
    assert up.lower <= 5.0 <= up.upper


def test_inputs_are_not_mutated_and_bad_input_is_refused():
    x, y = np.array(X3, float), np.array(Y3, float)
    x0, y0 = x.copy(), y.copy()
    wilcox_shift_ci(x, y)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)
    with pytest.raises(ValueError, match="all observations are tied"):
        wilcox_shift_ci(np.ones(3), np.ones(4), exact=False)
    with pytest.raises(ValueError, match="conf_level"):
        wilcox_shift_ci(x, y, conf_level=1.0)
    with pytest.raises(ValueError, match="NaN"):
        wilcox_shift_ci(np.array([1.0, np.nan]), y)
