"""Intervals that hold at the edges: coverage of the rate interval by simulation in a matched
design with shared controls (including rates near 0%), the 0-of-60 case, and the bootstrap that
respects shared controls against the analytic interval on the Lalonde data (MatchIt's
``lalonde``: NSW treated and PSID comparisons, 614 people, exported once from R MatchIt 4.5.1 to
``data/lalonde.csv``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jdl_core.matching import MatchSpec, match
from jdl_core.outcomes import MEASURES, _measure, bootstrap_interval, cluster_vcov, wilson_interval

RATE = MEASURES[0]
LALONDE = Path(__file__).with_name("data") / "lalonde.csv"


def matched_sets(rng: np.random.Generator, n: int, p_t: float, p_c: float, k: int = 5,
                 pool: int | None = None) -> pd.DataFrame:
    """A long matched frame: n treated, each with k comparison people drawn with replacement
    from a pool of 3n (so controls are shared across sets), Bernoulli outcomes."""
    pool = pool or 3 * n
    yt = rng.random(n) < p_t
    yp = rng.random(pool) < p_c
    ctrl = rng.integers(0, pool, size=(n, k)).ravel()
    treated = np.r_[np.ones(n, bool), np.zeros(n * k, bool)]
    person = np.r_[np.arange(n) + pool, ctrl]
    y = np.r_[yt, yp[ctrl]].astype(int)
    return pd.DataFrame({
        "subclass": np.r_[np.arange(n), np.repeat(np.arange(n), k)], "treated": treated,
        "pair_weight": np.where(treated, 1.0, 1.0 / k), "reoffended": y, "reoffence_count": y,
        "days_to_first": pd.array(np.where(y == 1, 100.0, np.nan), dtype="Float64"),
        "event_id": person, "person_key": person})


def _coverage(n: int, p_t: float, p_c: float, method: str, reps: int = 400) -> float:
    spec = MatchSpec(bootstrap_reps=0, proportion_interval=method)  # type: ignore[arg-type]
    rng = np.random.default_rng([n, int(1000 * p_t), int(1000 * p_c)])
    truth = 100 * (p_t - p_c)
    hits = total = 0
    for _ in range(reps):
        m = _measure(RATE, matched_sets(rng, n, p_t, p_c), spec, rng)
        if m.estimable:
            total += 1
            hits += m.ci_low <= truth <= m.ci_high
    assert total >= 0.95 * reps
    return hits / total


@pytest.mark.parametrize(("n", "p_t", "p_c"), [(60, 0.05, 0.05), (60, 0.02, 0.30)])
def test_score_interval_covers_about_95_percent_at_the_edges(n, p_t, p_c):
    # 400 repeats: a coverage of 95% gives 93-97% with about 95% probability; 85% would not
    coverage = _coverage(n, p_t, p_c, "newcombe_wilson")
    assert 0.93 <= coverage <= 0.98, coverage


@pytest.mark.slow
def test_wald_interval_undercovers_near_zero_where_the_score_interval_does_not():
    # why the method changed: at 2% the cluster-robust Wald interval covers about 92%
    wald = _coverage(100, 0.02, 0.02, "cluster_t")
    score = _coverage(100, 0.02, 0.02, "newcombe_wilson")
    assert wald < 0.935 and score > wald + 0.02


def test_zero_of_sixty_keeps_the_treated_groups_own_uncertainty():
    rng = np.random.default_rng(3)
    frame = matched_sets(rng, 60, 0.0, 0.55)
    m = _measure(RATE, frame, MatchSpec(bootstrap_reps=0), rng)
    assert m.treated_value == 0 and m.estimable and m.interval_method == "newcombe_wilson"
    wald = {i.method: i for i in m.other_intervals}["cluster_t"]
    # 0 of 60 is compatible with a true rate up to Wilson's 6.0%: the interval's upper end
    # allows for it, where the Wald interval (treated variance 0) does not
    _, upper_t = wilson_interval(0.0, 60, 1.959964)
    assert upper_t == pytest.approx(0.0601, abs=1e-3)
    assert m.ci_high - m.difference >= 100 * upper_t
    # ... on the side where the treated rate could be higher: the interval is asymmetric, where
    # the Wald interval (all its width from the comparison group) is symmetric
    assert (m.ci_high - m.difference) > (m.difference - m.ci_low) + 1.5
    assert (wald.ci_high - wald.difference) == pytest.approx(wald.difference - wald.ci_low)


@pytest.fixture(scope="module")
def lalonde() -> tuple[pd.DataFrame, pd.DataFrame]:
    """MatchIt's lalonde, its covariates under names the match spec accepts (the statistics do
    not care what a column is called): age, education (years), race, married, no degree,
    earnings 1974 and 1975; outcome earnings 1978."""
    df = pd.read_csv(LALONDE)
    frame = pd.DataFrame({
        "event_id": np.arange(len(df)), "person_key": np.arange(len(df)),
        "age_at_index": df["age"], "prev_offences": df["educ"], "copas_rate": df["re74"],
        "ogrs_score": df["re75"], "employed": df["married"].astype(bool),
        "on_benefit": df["nodegree"].astype(bool),
        "ethnicity": df["race"].map({"black": "Black", "hispan": "Mixed", "white": "White"}),
        "re78": df["re78"]})
    return frame[df["treat"] == 1], frame[df["treat"] == 0]


LALONDE_COVARIATES = ("age_at_index", "prev_offences", "copas_rate", "ogrs_score", "employed",
                      "on_benefit", "ethnicity")


@pytest.mark.parametrize("k", [5, 1])
def test_bootstrap_agrees_with_the_analytic_interval_on_lalonde(lalonde, k):
    treated, pool = lalonde
    # the service default (k = 5 with replacement, caliper 0.2 SD), and 1:1 with replacement
    spec = MatchSpec(covariates=LALONDE_COVARIATES, exact=(), k=k, bootstrap_reps=1999,
                     terms="linear", gate=False)
    m = match(treated, pool, spec).matched
    y, t, w = m["re78"].to_numpy(float), m["treated"].to_numpy(), m["pair_weight"].to_numpy()
    sets, person = m["subclass"].to_numpy(), m["person_key"].to_numpy()
    beta, V, sizes = cluster_vcov(y, t, w, [sets, person])
    q = stats.t.ppf(0.975, min(sizes) - 1)
    lo, hi = beta[1] - q * np.sqrt(V[1, 1]), beta[1] + q * np.sqrt(V[1, 1])
    b_lo, b_hi = bootstrap_interval(y, t, w, sets, person, spec, np.random.default_rng(1))
    width = hi - lo
    assert b_lo is not None and b_hi is not None
    assert abs(b_lo - lo) <= 0.10 * width and abs(b_hi - hi) <= 0.10 * width
    assert (b_hi - b_lo) == pytest.approx(width, rel=0.10)
    # the old bootstrap (matched sets resampled as if independent) was too narrow here
    if k == 1:
        codes, s = np.unique(sets, return_inverse=True)
        rng = np.random.default_rng(1)
        T = np.bincount(s, weights=y * t)
        N = np.bincount(s, weights=t.astype(float))
        C = np.bincount(s, weights=w * y * ~t)
        Wc = np.bincount(s, weights=w * ~t)
        idx = rng.integers(0, len(codes), size=(1999, len(codes)))
        naive = T[idx].sum(1) / N[idx].sum(1) - C[idx].sum(1) / Wc[idx].sum(1)
        n_lo, n_hi = np.quantile(naive, [0.025, 0.975])
        assert (n_hi - n_lo) < 0.95 * width
