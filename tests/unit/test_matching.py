"""Matching: spec round trip, the propensity model against scikit-learn, nearest-neighbour rules
against brute force, MatchIt weights, balance arithmetic, invariants and bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from jdl_core.errors import ConstantCovariates, DataError, InvalidArgument, NoOverlap
from jdl_core.matching import MatchSpec, PropensityModel, match
from jdl_core.matching.balance import balance_one, flag
from jdl_core.matching.nearest import match_nearest
from tests.matching_synth import select_cohort, synth_events


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return synth_events(8000, seed=3)[1]


@pytest.fixture(scope="module")
def problem(events) -> tuple[pd.DataFrame, pd.DataFrame]:
    treated = select_cohort(events, 200, seed=4)
    pool = events[events["disposal"] == "custody"]       # includes the treated people's events
    return treated, pool


@pytest.fixture(scope="module")
def result(problem):
    return match(*problem, MatchSpec(bootstrap_reps=0))


# -- spec -----------------------------------------------------------------------------------

def test_spec_defaults_follow_the_methodology():
    s = MatchSpec()
    assert (s.method, s.distance, s.caliper, s.std_caliper, s.k, s.replace, s.estimand) == \
        ("nearest", "logit", 0.2, True, 5, True, "ATT")
    assert s.exact == ("sex", "disposal")
    assert {"ogrs_score", "prev_offences", "region", "index_year", "employed"} <= set(s.covariates)


def test_spec_json_round_trip():
    s = MatchSpec(k=3, replace=False, caliper=None, covariates=["age_at_index", "sex"])
    assert MatchSpec.from_json(s.to_json()) == s
    assert MatchSpec.from_dict(s.to_dict()).to_dict() == s.to_dict()


@pytest.mark.parametrize("bad,field", [
    ({"caliper": -1}, "caliper"), ({"k": 0}, "k"), ({"method": "optimal"}, "method"),
    ({"covariates": ["shoe_size"]}, "shoe_size"), ({"exact": ["age_at_index"]}, "exact"),
    ({"unknown": 1}, "unknown"),
])
def test_spec_rejects_bad_values_naming_the_field(bad, field):
    with pytest.raises(InvalidArgument, match=field):
        MatchSpec.from_dict(bad)


def test_spec_from_json_rejects_non_json():
    with pytest.raises(InvalidArgument, match="not JSON"):
        MatchSpec.from_json("{caliper: 0.2")


# -- propensity model ---------------------------------------------------------------------------

def test_propensity_is_the_unpenalised_mle(problem):
    treated, pool = problem
    pool = pool[~pool["person_key"].isin(treated["person_key"])]
    frame = pd.concat([treated, pool])
    y = np.r_[np.ones(len(treated)), np.zeros(len(pool))]
    model = PropensityModel(MatchSpec().covariates)
    assert model.fit(frame, y) is model                  # scikit-learn convention
    assert model.converged_ and model.n_iter_ < 20
    X = model._design(frame)[:, 1:]
    sk = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=200).fit(X, y)
    np.testing.assert_allclose(model.decision_function(frame), sk.decision_function(X), atol=1e-7)
    # the score of the log-likelihood is zero at the estimate
    p = model.predict_proba(frame)[:, 1]
    grad = np.column_stack([np.ones(len(y)), X]).T @ (y - p)
    assert np.abs(grad).max() < 1e-6
    coefs = model.coefficients()
    assert coefs.index[0] == "(Intercept)" and "region: London" in coefs.index
    assert "region: North East" not in coefs.index      # the reference level


def test_subsampled_hessian_reaches_the_same_estimate(problem):
    treated, pool = problem
    frame = pd.concat([treated, pool[~pool["person_key"].isin(treated["person_key"])]])
    y = np.r_[np.ones(len(treated)), np.zeros(len(frame) - len(treated))]
    full = PropensityModel(MatchSpec().covariates).fit(frame, y)
    sub = PropensityModel(MatchSpec().covariates, hessian_rows=1500).fit(frame, y)
    assert sub.converged_
    np.testing.assert_allclose(sub.fitted_logit_, full.fitted_logit_, atol=1e-7)


def test_collinear_and_constant_columns_are_left_out(problem):
    treated, pool = problem
    frame = pd.concat([treated, pool[~pool["person_key"].isin(treated["person_key"])]]).copy()
    frame["age_first_contact"] = frame["age_at_index"] - 5     # a combination of age and intercept
    frame["index_year"] = 2006
    y = np.r_[np.ones(len(treated)), np.zeros(len(frame) - len(treated))]
    model = PropensityModel(["age_at_index", "age_first_contact", "index_year", "ogrs_score"])
    model.fit(frame, y)
    assert ("age_first_contact", "collinear") in model.dropped_
    assert ("index_year", "constant") in model.dropped_
    assert model.feature_names_ == ["age_at_index", "ogrs_score"]


def test_separation_is_a_clear_no_overlap_error():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, 400)
    frame = pd.DataFrame({"ogrs_score": x})
    with pytest.raises(NoOverlap, match="separate"):
        PropensityModel(["ogrs_score"]).fit(frame, x > 80)


# -- nearest neighbour rules against brute force -----------------------------------------------

def _brute_force(dt, dc, st, sc, k, replace, caliper, order):
    """The rules written out plainly: O(n_t * n_c) per step."""
    used = np.zeros(len(dc), dtype=bool)
    chosen: dict[int, list[int]] = {i: [] for i in range(len(dt))}
    for _ in range(k if not replace else 1):
        for i in order:
            ok = (sc == st[i]) & ~np.isin(np.arange(len(dc)), chosen[i])
            if not replace:
                ok &= ~used
            d = np.abs(dc - dt[i])
            if caliper is not None:
                ok &= d <= caliper
            cand = np.flatnonzero(ok)
            if not len(cand):
                continue
            # nearest; on an exact tie the smaller distance value (MatchIt's left side)
            cand = cand[np.lexsort((dc[cand], d[cand]))]
            take = cand[:k] if replace else cand[:1]
            chosen[i].extend(int(c) for c in take)
            used[take] = True
    return {i: sorted(v) for i, v in chosen.items() if v}


@pytest.mark.parametrize("replace,k,caliper", [(True, 5, 0.3), (True, 1, None), (False, 1, 0.3),
                                               (False, 3, 0.5), (False, 2, None)])
def test_nearest_matches_brute_force(replace, k, caliper):
    rng = np.random.default_rng(7)
    dt = rng.normal(0.5, 1, 60)
    dc = rng.normal(0, 1, 300)
    st, sc = rng.integers(0, 2, 60), rng.integers(0, 2, 300)
    pairs = match_nearest(dt, dc, st, sc, k=k, replace=replace, caliper=caliper, m_order="largest")
    got: dict[int, list[int]] = {}
    for t, c in zip(pairs.treated, pairs.control):
        got.setdefault(int(t), []).append(int(c))
    order = np.argsort(-dt, kind="stable")
    assert {i: sorted(v) for i, v in got.items()} == _brute_force(dt, dc, st, sc, k, replace,
                                                                  caliper, order)
    if not replace:
        assert len(set(pairs.control.tolist())) == len(pairs.control)   # each used once


# -- matching ---------------------------------------------------------------------------------

def test_treated_people_are_never_in_the_comparison_group(result, problem):
    treated, pool = problem
    assert pool["person_key"].isin(treated["person_key"]).any()      # the caller left them in
    assert result.n_pool_removed_treated_people > 0
    comp = result.matched[~result.matched["treated"]]
    assert not comp["person_key"].isin(treated["person_key"]).any()


def test_matched_sets_respect_exact_strata_and_caliper(result):
    m = result.matched
    t = m[m["treated"]].set_index("subclass")
    c = m[~m["treated"]]
    for col in ("sex", "disposal"):
        assert (c[col].to_numpy() == t.loc[c["subclass"], col].to_numpy()).all()
    gap = np.abs(c["distance"].to_numpy() - t.loc[c["subclass"], "distance"].to_numpy())
    assert gap.max() <= result.caliper
    assert c.groupby("subclass").size().max() <= result.spec.k


def test_weights_follow_matchit(result):
    m, w = result.matched, result.weights
    c = m[~m["treated"]]
    # per set, comparison pair weights are 1/k_i and sum to one
    np.testing.assert_allclose(c.groupby("subclass")["pair_weight"].sum(), 1.0)
    assert (w.loc[w["treated"], "weight"] == 1.0).all()
    wc = w[~w["treated"]].set_index("event_id")["weight"]
    assert wc.sum() == pytest.approx(len(wc))                   # scaled to the records used
    raw = c.groupby("event_id")["pair_weight"].sum()
    np.testing.assert_allclose(wc.loc[raw.index], raw * len(raw) / raw.sum())
    assert (w.loc[~w["treated"], "times_used"] >= 1).all()
    assert w.loc[~w["treated"], "times_used"].max() > 1         # with replacement, reused


def test_matching_improves_the_distance_balance(result):
    b = result.balance.set_index("covariate")
    assert abs(b.loc["distance", "smd_after"]) <= abs(b.loc["distance", "smd_before"])
    assert abs(b.loc["distance", "smd_before"]) > 0.5           # the cohort was selected on risk
    assert (b["flag"] == "good").mean() > 0.8
    assert {"sex: M", "sex: F", "region: Wales", "employed", "ogrs_score"} <= set(b.index)


def test_shuffled_input_gives_the_same_result(problem):
    treated, pool = problem
    spec = MatchSpec(bootstrap_reps=0)
    a = match(treated, pool, spec)
    b = match(treated.sample(frac=1, random_state=1), pool.sample(frac=1, random_state=2), spec)
    cols = ["subclass", "event_id", "treated", "pair_weight", "weight", "distance"]
    pd.testing.assert_frame_equal(a.matched[cols], b.matched[cols])
    pd.testing.assert_frame_equal(a.balance, b.balance)


def test_without_replacement_uses_each_record_once(problem):
    r = match(*problem, MatchSpec(k=2, replace=False, bootstrap_reps=0))
    c = r.matched[~r.matched["treated"]]
    assert not c["event_id"].duplicated().any()
    assert (r.weights["times_used"] == 1).all()
    assert c.groupby("subclass").size().max() == 2


def test_treated_without_a_close_comparison_are_dropped(problem):
    treated, pool = problem
    r = match(treated, pool, MatchSpec(caliper=0.002, bootstrap_reps=0))
    assert len(r.dropped_treated) > 0
    assert set(r.dropped_treated["reason"]) == {"no_match_in_caliper"}
    assert r.n_treated + len(r.dropped_treated) == len(treated)
    assert any("dropped" in w for w in r.warnings)


def test_a_level_without_comparisons_drops_those_treated(problem):
    treated, pool = problem
    pool = pool[pool["sex"] == "M"]
    r = match(treated, pool, MatchSpec(bootstrap_reps=0))
    women = treated.loc[treated["sex"] == "F", "event_id"]
    assert len(women) > 0
    assert set(r.dropped_treated["event_id"]) == set(women)
    assert set(r.dropped_treated["reason"]) == {"not_in_strata"}


def test_a_level_no_treated_person_has_is_set_aside(problem):
    treated, pool = problem
    treated = treated[treated["region"] != "Wales"]
    r = match(treated, pool, MatchSpec(bootstrap_reps=0))
    assert r.propensity.converged_
    assert "region: Wales" not in r.propensity.feature_names_
    assert any("Wales" in w and "set aside" in w for w in r.warnings)
    assert not (r.matched.loc[~r.matched["treated"], "region"] == "Wales").any()


def test_constant_covariate_is_dropped_with_a_warning(problem):
    treated, pool = problem
    treated, pool = treated.assign(index_year=2006), pool.assign(index_year=2006)
    r = match(treated, pool, MatchSpec(bootstrap_reps=0))
    assert any("index_year" in w and "same value" in w for w in r.warnings)
    assert r.n_treated > 150


def test_all_covariates_constant_is_a_clear_error(problem):
    treated, pool = problem
    spec = MatchSpec(covariates=("index_year", "employed"), exact=())
    with pytest.raises(ConstantCovariates, match="same value"):
        match(treated.assign(index_year=2006, employed=False),
              pool.assign(index_year=2006, employed=False), spec)


def test_no_overlap_is_a_clear_error(problem):
    treated, pool = problem
    spec = MatchSpec(covariates=("ogrs_score", "age_at_index"), exact=())
    with pytest.raises(NoOverlap, match="caliper|separate"):
        match(treated.assign(ogrs_score=99.0 + treated["age_at_index"] / 1000),
              pool.assign(ogrs_score=10.0 + pool["age_at_index"] / 1000), spec)
    with pytest.raises(NoOverlap, match="empty"):
        match(treated, pool[pool["person_key"].isin(treated["person_key"])], spec)


def test_missing_columns_and_values_are_data_errors(problem):
    treated, pool = problem
    with pytest.raises(DataError, match="ogrs_score"):
        match(treated.drop(columns="ogrs_score"), pool)
    bad = treated.copy()
    bad["copas_rate"] = bad["copas_rate"].astype(float)
    bad.iloc[0, bad.columns.get_loc("copas_rate")] = np.nan
    with pytest.raises(DataError, match="copas_rate"):
        match(bad, pool)


# -- balance arithmetic ------------------------------------------------------------------------

def test_balance_known_answer():
    # treated 1, 2, 3 (sd 1); comparisons 2, 4 weighted 3:1 after matching
    x = np.array([1.0, 2.0, 3.0, 2.0, 4.0])
    t = np.array([True, True, True, False, False])
    w = np.array([1, 1, 1, 1.5, 0.5])
    r = balance_one(x, t, w)
    assert r["smd_before"] == pytest.approx((2 - 3) / 1.0)
    assert r["smd_after"] == pytest.approx((2 - 2.5) / 1.0)
    assert r["var_ratio_before"] == pytest.approx(1.0 / 2.0)
    # binary: sd is sqrt(p(1-p)) of the treated, no variance ratio
    b = balance_one(np.array([1.0, 0, 0, 1, 1]), t, np.ones(5))
    p = 1 / 3
    assert b["smd_before"] == pytest.approx((p - 1) / np.sqrt(p * (1 - p)))
    assert b["var_ratio_before"] is None


@pytest.mark.parametrize("smd,expected", [(0.0, "good"), (-0.049, "good"), (0.05, "acceptable"),
                                          (-0.1, "acceptable"), (0.1001, "poor"), (None, "poor")])
def test_balance_flags(smd, expected):
    assert flag(smd) == expected
