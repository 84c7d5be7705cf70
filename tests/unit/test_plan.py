"""`jdl plan` and GET /v1/plan: the stated interval width against simulated analyses through the
service's own estimator, the detectable difference against simulated power, and impossible
inputs refused with one clear line."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jdl_cli.main import app
from jdl_core.errors import InvalidArgument
from jdl_core.matching import MatchSpec
from jdl_core.outcomes import MEASURES, _measure
from jdl_core.plan import plan
from tests.unit.test_api import api  # noqa: F401  (fixture)

RATE = MEASURES[0]


def _analysis(rng: np.random.Generator, n: int, k: int, p_t: float, p_c: float) -> pd.DataFrame:
    """Matched sets as the plan assumes them: n treated, k distinct comparisons each (weights
    1/k, so the comparison group's effective size is k * n)."""
    yt = rng.random(n) < p_t
    yc = rng.random(n * k) < p_c
    treated = np.r_[np.ones(n, bool), np.zeros(n * k, bool)]
    ids = np.arange(n * (k + 1))
    y = np.r_[yt, yc].astype(int)
    return pd.DataFrame({"subclass": np.r_[np.arange(n), np.repeat(np.arange(n), k)],
                         "treated": treated, "pair_weight": np.where(treated, 1.0, 1.0 / k),
                         "reoffended": y, "reoffence_count": y,
                         "days_to_first": pd.array(np.where(y == 1, 50.0, np.nan), dtype="Float64"),
                         "event_id": ids, "person_key": ids})


@pytest.mark.parametrize(("n", "rate"), [(200, 0.3),
                                         pytest.param(100, 0.45, marks=pytest.mark.slow)])
def test_stated_width_covers_95_percent_of_simulated_analyses(n, rate):
    p = plan(n, "custody", rate, comparison_ratio=4)
    spec = MatchSpec(bootstrap_reps=0)
    rng = np.random.default_rng(n)
    widths = np.array([(m.ci_high - m.ci_low) for m in
                       (_measure(RATE, _analysis(rng, n, 4, rate, rate), spec, rng)
                        for _ in range(500))])
    inside = np.mean((widths >= p.width_low) & (widths <= p.width_high))
    print(f"n={n}: stated {p.width_low:.2f}-{p.width_high:.2f}, inside {inside:.3f}")
    assert 0.93 <= inside <= 0.97
    assert np.median(widths) == pytest.approx(p.expected_width, rel=0.02)


def test_detectable_difference_has_about_80_percent_power():
    n, rate = 150, 0.4
    p = plan(n, "custody", rate, comparison_ratio=4)
    spec = MatchSpec(bootstrap_reps=0)
    rng = np.random.default_rng(9)
    d = p.detectable_difference / 100
    found = [_measure(RATE, _analysis(rng, n, 4, rate - d, rate), spec, rng).significant
             for _ in range(200)]
    # 200 repeats: 80% power gives 73-87% with probability about 0.98
    assert 0.72 <= np.mean(found) <= 0.88


def test_plan_defaults_and_scaling():
    small, big = plan(60, "custody"), plan(240, "custody")
    assert small.rate == 0.44 and small.rate_source.startswith("national")
    # four times the people, about half the width
    assert big.expected_width == pytest.approx(small.expected_width / 2, rel=0.1)
    assert plan(60, "community").expected_width < small.expected_width   # rarer outcome
    assert plan(60, "custody", 0.0).width_high > 0                       # valid at 0%


@pytest.mark.parametrize(("args", "message"), [
    (["--size", "0", "--setting", "custody"], "group size must be at least 1, got 0"),
    (["--size", "-5", "--setting", "custody"], "group size must be at least 1, got -5"),
    (["--size", "60", "--setting", "custody", "--rate", "1.2"], "rate must be a proportion"),
    (["--size", "60", "--setting", "custody", "--rate", "-0.1"], "rate must be a proportion"),
    (["--size", "60", "--setting", "caution"], "setting must be one of custody, community"),
])
def test_cli_refuses_impossible_inputs_with_one_line(args, message):
    r = CliRunner().invoke(app, ["plan", *args])
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in r.output


def test_cli_prints_the_plan_and_json():
    r = CliRunner().invoke(app, ["plan", "--size", "60", "--setting", "custody", "--rate", "0.4"])
    assert r.exit_code == 0 and "percentage points" in r.output and "60 people" in r.output
    r = CliRunner().invoke(app, ["plan", "-n", "60", "--setting", "custody", "--json"])
    figures = json.loads(r.output)
    assert figures == plan(60, "custody").to_dict()


def test_api_endpoint_gives_the_same_figures_and_refuses_bad_input(api):  # noqa: F811
    client, store, sent = api
    r = client.get("/v1/plan", params={"group_size": 60, "setting": "custody", "rate": 0.4})
    assert r.status_code == 200 and r.json() == plan(60, "custody", 0.4).to_dict()
    bad = client.get("/v1/plan", params={"group_size": 0, "setting": "custody"})
    assert bad.status_code == 422 and "at least 1" in bad.json()["error"]["message"]
    assert client.get("/v1/plan", params={"group_size": 60, "setting": "custody",
                                          "rate": 2}).status_code == 422
    assert sent == [] and list(store.list("")) == []     # nothing stored, nothing sent


def test_cli_takes_the_rate_from_a_dataset_manifest(national_dir, tmp_path):
    m = json.loads((national_dir / "manifest.json").read_text())
    r = CliRunner().invoke(app, ["plan", "-n", "80", "--setting", "community", "--json",
                                 "--data", str(national_dir)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["rate"] == m["base_rates"]["by_disposal"]["community"]
    missing = CliRunner().invoke(app, ["plan", "-n", "80", "--setting", "community",
                                       "--data", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and missing.output.startswith("error: ")


def test_plan_function_names_what_is_wrong():
    with pytest.raises(InvalidArgument, match="whole number"):
        plan(60.5, "custody")  # type: ignore[arg-type]
