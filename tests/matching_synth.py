"""Test-only helpers for the matching and outcome tests: small synthetic event tables with the
schema's event columns, cohort selection on observed covariates, and planting a known effect."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from jdl_core import schema


def synth_events(n_people: int = 6000, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(people, events) shaped like the national dataset, outcomes from a known logistic model.

    Each person has 1-4 index events; covariates are correlated with each other and with risk
    so that a selected cohort differs from the pool and matching has work to do.
    """
    rng = np.random.default_rng(seed)
    people = pd.DataFrame({
        "person_key": np.arange(n_people, dtype=np.int64),
        "sex": rng.choice(["M", "F"], size=n_people, p=[0.85, 0.15]),
        "ethnicity": rng.choice(list(schema.ETHNICITIES), size=n_people,
                                p=[0.8, 0.08, 0.06, 0.04, 0.02]),
    })
    n_ev = rng.integers(1, 5, size=n_people)
    pk = np.repeat(people["person_key"].to_numpy(), n_ev)
    n = len(pk)
    propensity = rng.normal(size=n_people)[pk]          # a person's criminal propensity
    age = np.clip(np.round(rng.normal(30, 9, n) - 3 * propensity), 18, 75).astype(np.int16)
    prev = np.clip(np.round(np.exp(1.3 + 0.6 * propensity + rng.normal(0, 0.6, n))), 0, 150)
    prev_custody = np.clip(np.round(prev * rng.uniform(0, 0.4, n)), 0, None)
    afc = np.clip(age - rng.integers(0, 15, n), 10, None).astype(np.int16)
    copas = np.log((prev + 1) / (age - afc + 10))
    year = rng.integers(2003, 2010, n).astype(np.int16)
    index_date = pd.to_datetime(year.astype(str)) + pd.to_timedelta(rng.integers(0, 365, n), "D")
    disposal = rng.choice(["custody", "community", "caution"], size=n, p=[0.35, 0.45, 0.2])
    sentence = np.where(disposal == "caution", 0.0,
                        np.round(rng.gamma(2.0, 4.0, n), 1)).astype(np.float32)
    employed = rng.random(n) < expit(-0.5 - 0.5 * propensity)
    benefit = rng.random(n) < expit(-0.3 + 0.4 * propensity)
    offence = rng.choice(list(schema.OFFENCE_GROUPS), size=n)
    region = rng.choice(list(schema.REGIONS), size=n)
    sex = people["sex"].to_numpy()[pk]
    eta = (-1.4 - 0.3 * (age - 30) / 10 + 0.5 * np.log1p(prev) + 0.25 * (copas + 1)
           - 0.4 * (sex == "F") - 0.3 * employed + 0.15 * benefit + 0.3 * (offence == "theft")
           + 0.4 * ((disposal == "custody") & (sentence < 12)) - 0.5 * (disposal == "caution"))
    p = expit(eta)
    ogrs = np.clip(100 * expit(eta + 0.6 + rng.normal(0, 0.3, n)), 0, 100).astype(np.float32)
    reoff = rng.random(n) < p
    count = np.where(reoff, 1 + rng.poisson(0.6 + 3 * p), 0)
    days = np.where(reoff, 1 + np.floor(364 * rng.beta(0.9, 1.0 + 2.0 * p)), np.nan)
    events = pd.DataFrame({
        "event_id": np.arange(n, dtype=np.int64) * 7 + 3,   # not equal to row numbers
        "person_key": pk,
        "disposal": disposal,
        "start_date": index_date,
        "index_date": index_date,
        "end_date": index_date,
        "index_year": year,
        "offence_group": offence,
        "sentence_months": sentence,
        "age_at_index": age,
        "prev_offences": prev.astype(np.int16),
        "prev_custody": prev_custody.astype(np.int16),
        "age_first_contact": afc,
        "copas_rate": copas.astype(np.float32),
        "ogrs_score": ogrs,
        "employed": employed,
        "on_benefit": benefit,
        "region": region,
        "followup_complete": True,
        "reoffended": pd.array(reoff.astype(np.int8), dtype="Int8"),
        "reoffence_count": pd.array(count.astype(np.int16), dtype="Int16"),
        "days_to_first": pd.array(days, dtype="Int16"),
        "sex": sex,
        "ethnicity": people["ethnicity"].to_numpy()[pk],
    })
    return people, events


def select_cohort(events: pd.DataFrame, size: int, seed: int, *, disposal: str = "custody",
                  strength: float = 1.5, column: str = "ogrs_score") -> pd.DataFrame:
    """One event per person, chosen with probability rising with ``column`` (no effect planted)."""
    rng = np.random.default_rng(seed)
    ev = events[(events["disposal"] == disposal) & events["followup_complete"]]
    ev = ev.drop_duplicates("person_key")
    z = ev[column].to_numpy(dtype=float)
    z = (z - z.mean()) / z.std()
    w = np.exp(strength * z)
    idx = rng.choice(len(ev), size=size, replace=False, p=w / w.sum())
    return ev.iloc[np.sort(idx)]


def plant_rate_effect(cohort: pd.DataFrame, points: float, seed: int) -> tuple[pd.DataFrame, float]:
    """Lower the re-offending rate of ``cohort`` by ``points`` percentage points exactly.

    Flips round(points/100 * n) re-offenders to non-re-offenders (count 0, no days). Returns the
    new cohort and the realised shift in percentage points (negative).
    """
    rng = np.random.default_rng(seed)
    out = cohort.copy()
    flip_n = int(round(points / 100 * len(out)))
    reoff = np.flatnonzero(out["reoffended"].to_numpy(dtype=int) == 1)
    flip = rng.choice(reoff, size=flip_n, replace=False)
    col = out.columns
    out.iloc[flip, col.get_loc("reoffended")] = 0
    out.iloc[flip, col.get_loc("reoffence_count")] = 0
    out.iloc[flip, col.get_loc("days_to_first")] = pd.NA
    return out, -100.0 * flip_n / len(out)


def plant_frequency_effect(cohort: pd.DataFrame, extra: int, seed: int) -> tuple[pd.DataFrame, float]:
    """Add ``extra`` proven re-offences to every re-offender; returns the realised shift per person."""
    out = cohort.copy()
    reoff = out["reoffended"].to_numpy(dtype=int) == 1
    counts = out["reoffence_count"].to_numpy(dtype=int)
    out["reoffence_count"] = pd.array((counts + extra * reoff).astype(np.int16), dtype="Int16")
    return out, extra * reoff.mean()


# Non-linear selection rules on recorded characteristics (weights are exp of these scores), the
# kinds of selection real programmes make and a model linear in age, previous offences and
# sentence length misses: steps, bands, U-shapes and interactions.
def _nl(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (frame["age_at_index"].to_numpy(float), frame["sentence_months"].to_numpy(float),
            frame["prev_offences"].to_numpy(float))


NONLINEAR_RULES = {
    "short sentences": lambda f: 2.0 * (_nl(f)[1] < 12),
    "prolific (15+ previous)": lambda f: 2.0 * (_nl(f)[2] >= 15),
    "young prolific": lambda f: 2.5 * ((_nl(f)[0] <= 24) & (_nl(f)[2] >= 8)),
    "first offenders": lambda f: 2.5 * (_nl(f)[2] <= 1),
    "older on long sentences": lambda f: 1.5 * (_nl(f)[1] >= 24) + 1.5 * (_nl(f)[0] >= 45),
}


def select_nonlinear(events: pd.DataFrame, size: int, seed: int, rule: str) -> pd.DataFrame:
    """One event per person, drawn with weight exp(NONLINEAR_RULES[rule]) (no effect planted)."""
    once = events.drop_duplicates("person_key")
    w = np.exp(NONLINEAR_RULES[rule](once))
    idx = np.random.default_rng(seed).choice(len(once), size=size, replace=False, p=w / w.sum())
    return once.iloc[np.sort(idx)]
