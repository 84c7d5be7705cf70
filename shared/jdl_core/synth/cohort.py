"""Sample submissions: a fictional organisation's cohort file drawn from the national data, with
realistic noise, and the truth needed to check linkage, index-event choice and estimates.

Selection rules (``selection``), each a weight on an eligible index event, one event per person
drawn without replacement in proportion to the weight (Efraimidis-Spirakis keys):

``random``
    weight 1: a cohort like the eligible population.
``higher-risk``
    ``exp(0.04 * (ogrs_score - 50) + 0.3 * log(1 + prev_offences))``: a programme that takes
    the most prolific offenders, so the naive comparison with everyone is biased upwards.
``lower-risk``
    the reciprocal of ``higher-risk``: a programme that takes people least likely to re-offend.
``employment``
    ``exp(1.2 * employed - 0.04 * (age_at_index - 30))``: an employment scheme favouring the
    employed and the young.

Eligible events: ``followup_complete`` and of the setting's disposal (``custody`` for custody,
``community`` for community); community orders overlapping another community order of the same
person within the intervention window are left out, so the intended index event is unambiguous.
Intervention start: custody, 0-180 days before release and inside the custodial spell; community,
0-30 days after the order starts. Intervention end: custody, 0-120 days after release; community,
60-300 days after the start.

Noise (``noise=True``; counts are rounded rates of ``size``, drawn from the seed):
  * 2% people not in the national data (invented names and dates; half carry a well-formed PNC ID
    that belongs to nobody);
  * 3% a typing error in the forename or surname;
  * about 2.5% named by one of their aliases (a quarter of those who have one);
  * 15% PNC ID left blank; prison number blank for 10% of custody rows, and given for only a
    quarter of community rows whose person has one;
  * 2% date of birth with day and month exchanged (only where that is still a valid, different
    date);
  * 0.5% (at least one when ``size`` >= 100) a PNC ID with a wrong check letter;
  * 2% rows repeated exactly (duplicates), placed at random.
Sex is written as ``M``/``F`` or ``Male``/``Female`` (a third in the long form) with or without
noise; dates are ``DD/MM/YYYY`` strings.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from .. import schema
from ..errors import InvalidArgument
from ..identifiers import CHECK_LETTERS, format_pnc
from ..national import NationalData
from . import names as N

SELECTIONS: Final = ("random", "higher-risk", "lower-risk", "employment")
SETTING_DISPOSAL: Final = {"custody": "custody", "community": "community"}
UPLOAD_COLUMNS: Final = (*schema.UPLOAD_REQUIRED, *schema.UPLOAD_OPTIONAL)
TRUTH_COLUMNS: Final = ("row_number", "person_key", "event_id", "is_duplicate", "noise")

RATE_NOT_IN_DATA: Final = 0.02
RATE_TYPO: Final = 0.03
ALIAS_USE_SHARE: Final = 0.25
RATE_NO_PNC: Final = 0.15
RATE_NO_PRISON_CUSTODY: Final = 0.10
SHARE_PRISON_COMMUNITY: Final = 0.25
RATE_DOB_TRANSPOSED: Final = 0.02
RATE_BAD_CHECK_LETTER: Final = 0.005
RATE_DUPLICATE: Final = 0.02
SHARE_LONG_SEX: Final = 1 / 3

_MAX_SIZE: Final = 1_000_000


def _weights(ev: pd.DataFrame, selection: str) -> np.ndarray:
    ogrs = ev["ogrs_score"].to_numpy(np.float64)
    prev = ev["prev_offences"].to_numpy(np.float64)
    if selection == "random":
        return np.ones(len(ev))
    if selection in ("higher-risk", "lower-risk"):
        s = 0.04 * (ogrs - 50.0) + 0.3 * np.log1p(prev)
        return np.exp(s if selection == "higher-risk" else -s)
    age = ev["age_at_index"].to_numpy(np.float64)
    return np.exp(1.2 * ev["employed"].to_numpy(np.float64) - 0.04 * (age - 30.0))


def eligible_events(national: NationalData, setting: str) -> pd.DataFrame:
    """Index events a cohort of this setting may be drawn from (see module docstring)."""
    ev = national.events
    disp = SETTING_DISPOSAL[setting]
    same = ev[ev["disposal"] == disp].sort_values(["person_key", "start_date"], kind="stable")
    ok = same["followup_complete"].to_numpy(bool).copy()
    if setting == "community":
        # no other order of the person in force during [start, start + 30 days]
        person = same["person_key"].to_numpy()
        start = same["start_date"].to_numpy()
        end = same["end_date"].to_numpy()
        prev_same = np.r_[False, person[1:] == person[:-1]]
        next_same = np.r_[person[1:] == person[:-1], False]
        next_start = np.r_[start[1:], start[-1:]]
        window_end = start + np.timedelta64(30, "D")
        running_max_end = pd.Series(end).groupby(person).cummax().shift(1).to_numpy()
        clash_before = prev_same & (running_max_end >= start)
        clash_after = next_same & (next_start <= window_end)
        ok &= ~(clash_before | clash_after)
    return same[ok]


def _check(national: NationalData, size: int, setting: str, selection: str, seed: int) -> None:
    if not isinstance(national, NationalData):
        raise InvalidArgument("national must be a NationalData (see jdl_core.national.load_national)")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InvalidArgument(f"size must be a whole number of at least 1, got {size!r}")
    if size > _MAX_SIZE:
        raise InvalidArgument(f"size must be at most {_MAX_SIZE:,}, got {size:,}")
    if setting not in schema.SETTINGS:
        raise InvalidArgument(f"setting must be one of {', '.join(schema.SETTINGS)}, got {setting!r}")
    if selection not in SELECTIONS:
        raise InvalidArgument(
            f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative whole number, got {seed!r}")


def _count(rate: float, size: int, minimum: int = 0) -> int:
    return max(minimum, int(round(rate * size)))


def _fmt_dates(d: pd.Series | np.ndarray) -> list[str | None]:
    s = pd.to_datetime(pd.Series(d))
    return [None if pd.isna(x) else f"{x.day:02d}/{x.month:02d}/{x.year:04d}" for x in s]


def _fake_people(k: int, setting: str, national: NationalData,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Invented people who are not in the national data (names, dates of birth, PNC IDs)."""
    sur, male, fem = N.surnames(), N.male_forenames(), N.female_forenames()
    people = national.people
    out: list[pd.DataFrame] = []
    have = 0
    while have < k:
        m = k - have
        female = rng.random(m) < 0.15
        fore = np.where(female,
                        np.asarray(fem.names, object)[rng.choice(len(fem), m, p=fem.probabilities())],
                        np.asarray(male.names, object)[rng.choice(len(male), m, p=male.probabilities())])
        surname = np.asarray(sur.names, object)[rng.choice(len(sur), m, p=sur.probabilities())]
        i_start = np.datetime64("2003-01-01") + rng.integers(0, 7 * 365, m).astype("timedelta64[D]")
        dob = i_start - rng.integers(18 * 365, 60 * 365, m).astype("timedelta64[D]")
        pnc = np.array([format_pnc(int(y), int(s)) for y, s in
                        zip(rng.integers(1985, 2009, m), rng.integers(1, 9_999_999, m))], object)
        pnc[rng.random(m) >= 0.5] = None
        letters = rng.integers(0, 26, (m, 3))
        prison = np.array([f"{chr(65 + a)}{int(d):04d}{chr(65 + b)}{chr(65 + c)}" for (a, b, c), d in
                           zip(letters, rng.integers(0, 10_000, m))], object)
        prison[(rng.random(m) >= 0.3) | (setting != "custody")] = None
        cand = pd.DataFrame({
            "forename": fore, "surname": surname, "date_of_birth": dob.astype("datetime64[ns]"),
            "sex": np.where(female, "F", "M"), "intervention_start": i_start,
            "pnc_id": pnc, "prison_number": prison,
            "intervention_end": i_start + rng.integers(60, 300, m).astype("timedelta64[D]"),
        })
        # drop any invented person who happens to exist: same name and date of birth, or an
        # identifier that belongs to someone
        clash = cand[["forename", "surname", "date_of_birth"]].merge(
            people[["forename", "surname", "date_of_birth"]].astype(
                {"forename": object, "surname": object}), how="left", indicator=True)
        bad = (clash["_merge"] == "both").to_numpy().copy()
        for col in ("pnc_id", "prison_number"):
            mine = cand[col].dropna().tolist()
            known = people[col].dropna()
            # search the few candidates in the big column (fast), not the other way round
            taken = set(known[known.isin(mine)].tolist())
            bad |= (cand[col].notna() & cand[col].isin(taken)).to_numpy()
        out.append(cand[~bad])
        have += int((~bad).sum())
    return pd.concat(out, ignore_index=True)


def sample_cohort(national: NationalData, size: int, setting: str, selection: str = "random",
                  seed: int = 0, noise: bool = True, years: tuple[int, int] | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw a cohort upload file and its truth from the national data.

    Returns ``(upload, truth)``. ``upload`` has the Data Upload Template columns
    (``schema.UPLOAD_REQUIRED + UPLOAD_OPTIONAL``) as text: dates ``DD/MM/YYYY``, sex ``M``/``F``
    or ``Male``/``Female``, blanks as missing values. ``truth`` has one row per upload row:
    ``row_number`` (1-based, header excluded), ``person_key`` and ``event_id`` of the intended
    index event (``<NA>`` for people not in the national data), ``is_duplicate`` (True on the
    second and later copies of a repeated row) and ``noise`` (the kinds applied to the row,
    ``;``-separated: not_in_data, typo, alias, no_pnc, no_prison_number, dob_transposed,
    bad_check_letter, duplicate).

    ``size`` is the number of distinct people in the file, including the ones not in the
    national data; duplicates add rows on top. Selection rules and noise rates are in the module
    docstring. ``years`` (first, last) keeps index events of those years only (e.g. a 2010
    cohort). Same arguments give the same frames.
    """
    _check(national, size, setting, selection, seed)
    if years is not None and (len(years) != 2 or years[0] > years[1]):
        raise InvalidArgument(f"years must be (first, last) with first <= last, got {years!r}")
    rng_sel, rng_dates, rng_noise, rng_fake, rng_order = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, 20130]).spawn(5))
    n_fake = _count(RATE_NOT_IN_DATA, size) if noise else 0
    n_real = size - n_fake

    pool = eligible_events(national, setting)
    if years is not None:
        pool = pool[pool["index_year"].between(years[0], years[1])]
    n_people = pool["person_key"].nunique()
    if n_real > n_people:
        raise InvalidArgument(
            f"size {size:,} is more than the {n_people:,} people with an eligible {setting} index "
            "event in the national data; choose a smaller size")
    # Efraimidis-Spirakis: the n largest of u ** (1 / w) are a weighted draw without replacement;
    # keep each person's best key so everyone appears once.
    w = _weights(pool, selection)
    key = np.log(rng_sel.random(len(pool))) / w
    order = np.argsort(-key, kind="stable")
    ranked = pool.iloc[order]
    chosen = ranked.drop_duplicates("person_key", keep="first").iloc[:n_real]
    chosen = chosen.sort_values("event_id", kind="stable")

    people = national.people.set_index("person_key")
    who = people.loc[chosen["person_key"].to_numpy()]
    start = chosen["start_date"].to_numpy()
    index = chosen["index_date"].to_numpy()
    if setting == "custody":
        back = rng_dates.integers(0, 181, n_real).astype("timedelta64[D]")
        i_start = np.maximum(start, index - back)
        i_end = index + rng_dates.integers(0, 121, n_real).astype("timedelta64[D]")
    else:
        i_start = start + rng_dates.integers(0, 31, n_real).astype("timedelta64[D]")
        i_end = i_start + rng_dates.integers(60, 301, n_real).astype("timedelta64[D]")

    real = pd.DataFrame({
        "forename": who["forename"].astype(object).to_numpy(),
        "surname": who["surname"].astype(object).to_numpy(),
        "date_of_birth": who["date_of_birth"].to_numpy(),
        "sex": who["sex"].astype(object).to_numpy(),
        "intervention_start": i_start, "pnc_id": who["pnc_id"].astype(object).to_numpy(),
        "prison_number": who["prison_number"].astype(object).to_numpy(),
        "intervention_end": i_end,
    })
    real = real.astype(object).where(real.notna(), None)
    truth_key = chosen["person_key"].to_numpy()
    truth_event = chosen["event_id"].to_numpy()
    kinds: list[list[str]] = [[] for _ in range(n_real)]

    if noise:
        _apply_noise(real, kinds, national, truth_key, setting, rng_noise)
    # prison numbers for community rows are mostly unknown to the organisation (not noise)
    if setting == "community":
        has = real["prison_number"].notna().to_numpy()
        drop = has & (rng_noise.random(n_real) >= SHARE_PRISON_COMMUNITY)
        real.loc[drop, "prison_number"] = None

    frames = [real]
    keys = list(truth_key)
    events = list(truth_event)
    if n_fake:
        fake = _fake_people(n_fake, setting, national, rng_fake)
        frames.append(fake)
        keys += [pd.NA] * n_fake
        events += [pd.NA] * n_fake
        kinds += [["not_in_data"] for _ in range(n_fake)]
    rows = pd.concat(frames, ignore_index=True)

    # text form of the template
    long_sex = rng_order.random(len(rows)) < SHARE_LONG_SEX
    sex = rows["sex"].to_numpy(object)
    upload = pd.DataFrame({
        "forename": rows["forename"], "surname": rows["surname"],
        "date_of_birth": _fmt_dates(rows["date_of_birth"]),
        "sex": np.where(long_sex, np.where(sex == "F", "Female", "Male"), sex),
        "intervention_start": _fmt_dates(rows["intervention_start"]),
        "setting": setting,
        "pnc_id": rows["pnc_id"], "prison_number": rows["prison_number"],
        "intervention_end": _fmt_dates(rows["intervention_end"]),
        "other_id": [f"REF{i:06d}" for i in rng_order.permutation(len(rows)) + 1],
    }).astype(object)
    upload = upload.where(upload.notna(), None)
    truth = pd.DataFrame({
        "person_key": pd.array(keys, dtype="Int64"), "event_id": pd.array(events, dtype="Int64"),
        "is_duplicate": False, "noise": [";".join(k) for k in kinds],
    })
    # shuffle, then repeat some rows exactly at random places
    perm = rng_order.permutation(len(upload))
    upload, truth = upload.iloc[perm].reset_index(drop=True), truth.iloc[perm].reset_index(drop=True)
    n_dup = _count(RATE_DUPLICATE, size) if noise else 0
    if n_dup:
        src = rng_order.choice(len(upload), size=n_dup, replace=False)
        dup_u = upload.iloc[src]
        dup_t = truth.iloc[src].assign(
            is_duplicate=True, noise=[";".join(filter(None, [k, "duplicate"])) for k in truth["noise"].iloc[src]])
        # each copy goes somewhere after its original, so "second copy" is well defined
        positions = np.array([int(rng_order.integers(s + 1, len(upload) + 1)) for s in src])
        upload = _insert_rows(upload, dup_u, positions)
        truth = _insert_rows(truth, dup_t, positions)
    truth.insert(0, "row_number", np.arange(1, len(truth) + 1, dtype=np.int64))
    return upload[list(UPLOAD_COLUMNS)], truth[list(TRUTH_COLUMNS)]


def _insert_rows(df: pd.DataFrame, extra: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """Insert ``extra`` rows so each lands before the row at ``positions`` in ``df``."""
    base_pos = np.arange(len(df), dtype=np.float64)
    # ties: an inserted row goes just before the original row at that position
    extra_pos = positions.astype(np.float64) - 0.5 + np.arange(len(extra)) * 1e-6
    both = pd.concat([df, extra], ignore_index=True)
    order = np.argsort(np.r_[base_pos, extra_pos], kind="stable")
    return both.iloc[order].reset_index(drop=True)


def _apply_noise(real: pd.DataFrame, kinds: list[list[str]], national: NationalData,
                 person_keys: np.ndarray, setting: str, rng: np.random.Generator) -> None:
    n = len(real)
    size = n

    def pick(k: int, candidates: np.ndarray | None = None) -> np.ndarray:
        cand = np.arange(n) if candidates is None else candidates
        k = min(k, cand.size)
        return np.sort(rng.choice(cand, size=k, replace=False)) if k else np.array([], np.int64)

    # alias names: a quarter of those who have one are known to the organisation by it
    aliases = national.aliases
    with_alias = np.flatnonzero(np.isin(person_keys, aliases["person_key"].to_numpy()))
    use = with_alias[rng.random(with_alias.size) < ALIAS_USE_SHARE]
    if use.size:
        first_alias = aliases.drop_duplicates("person_key").set_index("person_key")
        al = first_alias.loc[person_keys[use]]
        real.loc[use, "forename"] = al["forename"].astype(object).to_numpy()
        real.loc[use, "surname"] = al["surname"].astype(object).to_numpy()
        real.loc[use, "date_of_birth"] = al["date_of_birth"].to_numpy()
        for i in use:
            kinds[i].append("alias")

    for i in pick(_count(RATE_TYPO, size)):
        col = "forename" if rng.random() < 0.5 else "surname"
        real.at[i, col] = N.typo(str(real.at[i, col]), rng)
        kinds[i].append("typo")

    dob = pd.to_datetime(real["date_of_birth"])
    ok = ((dob.dt.day <= 12) & (dob.dt.day != dob.dt.month)).to_numpy()
    for i in pick(_count(RATE_DOB_TRANSPOSED, size), np.flatnonzero(ok)):
        d = dob.iloc[i]
        real.at[i, "date_of_birth"] = np.datetime64(f"{d.year:04d}-{d.day:02d}-{d.month:02d}")
        kinds[i].append("dob_transposed")

    for i in pick(_count(RATE_NO_PNC, size)):
        real.at[i, "pnc_id"] = None
        kinds[i].append("no_pnc")
    with_pnc = np.flatnonzero(real["pnc_id"].notna().to_numpy())
    for i in pick(_count(RATE_BAD_CHECK_LETTER, size, minimum=1 if size >= 100 else 0), with_pnc):
        pnc = str(real.at[i, "pnc_id"])
        right = pnc[-1]
        wrong = [c for c in CHECK_LETTERS if c != right]
        real.at[i, "pnc_id"] = pnc[:-1] + wrong[int(rng.integers(len(wrong)))]
        kinds[i].append("bad_check_letter")

    if setting == "custody":
        with_pris = np.flatnonzero(real["prison_number"].notna().to_numpy())
        for i in pick(_count(RATE_NO_PRISON_CUSTODY, size), with_pris):
            real.at[i, "prison_number"] = None
            kinds[i].append("no_prison_number")


def check_output_path(path: str | Path, argument: str = "path", *, overwrite: bool = False
                      ) -> Path:
    """Raise InvalidArgument unless ``path`` is a .csv/.xlsx file that can be created."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InvalidArgument(f"{argument} must end in .csv or .xlsx, got {p.name!r}")
    if p.is_dir():
        raise InvalidArgument(f"{argument} {p} is a directory; give a file name")
    if p.exists() and not overwrite:
        raise InvalidArgument(f"{argument} {p} already exists; choose a new file name")
    parent = p.absolute().parent
    if not parent.is_dir():
        raise InvalidArgument(f"parent directory of {argument} ({parent}) does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidArgument(f"parent directory of {argument} ({parent}) is not writable")
    return p


def write_cohort(df: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a cohort (or truth) frame as .csv or .xlsx, atomically (temporary name, rename).

    Refuses an existing file unless ``overwrite``; the parent directory must exist. Missing
    values are blank cells.
    """
    p = check_output_path(path, "output file", overwrite=overwrite)
    suffix = p.suffix.lower()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=f".tmp{suffix}",
                                        dir=p.absolute().parent)
    except OSError as e:
        raise InvalidArgument(f"cannot create a file in {p.absolute().parent}: {e.strerror}"
                              ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if suffix == ".csv":
            df.to_csv(tmp, index=False, lineterminator="\n")
        else:
            df.to_excel(tmp, index=False, engine="openpyxl")
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def read_cohort(path: str | Path) -> pd.DataFrame:
    """Read a cohort file back as text (blank cells as missing), .csv or .xlsx."""
    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        return pd.read_excel(p, dtype=str, engine="openpyxl")
    return pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])


__all__ = ["SELECTIONS", "TRUTH_COLUMNS", "UPLOAD_COLUMNS", "check_output_path", "eligible_events",
           "read_cohort",
           "sample_cohort", "write_cohort"]
