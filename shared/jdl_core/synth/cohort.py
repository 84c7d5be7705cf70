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
0-30 days after the order starts (not after intake's window). Intervention end: custody, 0-120 days after release; community,
60-300 days after the start.

Who is in a cohort, by ``realism`` (rates in :mod:`jdl_core.synth.noise`, ``Realism``; counts
are rounded shares of ``size``): people not in the national data (invented names and dates; half
carry a well-formed PNC ID that belongs to nobody); people in the data with no sentence of the
setting's kind at all (``no_sentence``: intervention start anywhere in intake's window after their
18th birthday); people whose intervention started 105-455 days before their first sentence of
that kind (``far_from_sentence``: beyond the 90-day maximum gap); the rest as above. Then every
row of a national person is messed up as ``noise.mess_identities`` says (names, dates of birth,
identifiers), ``invalid_row`` of all rows are broken so intake refuses them, near duplicates
(the same person keyed again without identifiers) and exact duplicates are added after their
originals. ``clean`` has none of this: everyone linkable by PNC ID with an index event.
Sex is written as ``M``/``F`` or ``Male``/``Female`` (a third in the long form); dates are
``DD/MM/YYYY`` strings.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from .. import schema
from ..errors import InvalidArgument
from ..identifiers import format_pnc
from ..index_events import DEFAULT_MAX_GAP_DAYS
from ..national import NationalData
from . import names as N
from . import noise

SELECTIONS: Final = ("random", "higher-risk", "lower-risk", "employment")
SETTING_DISPOSAL: Final = {"custody": "custody", "community": "community"}
UPLOAD_COLUMNS: Final = (*schema.UPLOAD_REQUIRED, *schema.UPLOAD_OPTIONAL)
TRUTH_COLUMNS: Final = ("row_number", "person_key", "event_id", "is_duplicate", "noise",
                         "expected")
# Where the service should count a truth row if linkage were perfect (truth column "expected").
EXPECTED: Final = ("analysed", "invalid_row", "duplicate", "not_found", "no_index_event")

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
                  seed: int = 0, realism: str = noise.DEFAULT_REALISM,
                  years: tuple[int, int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw a cohort upload file and its truth from the national data.

    Returns ``(upload, truth)``. ``upload`` has the Data Upload Template columns
    (``schema.UPLOAD_REQUIRED + UPLOAD_OPTIONAL``) as text: dates ``DD/MM/YYYY``, sex ``M``/``F``
    or ``Male``/``Female``, blanks as missing values. ``truth`` has one row per upload row:
    ``row_number`` (1-based, header excluded); ``person_key`` of the national person the row is
    (``<NA>`` for people not in the national data); ``event_id`` of the intended index event
    (``<NA>`` when there is none: not in the data, no sentence in the window, or an intervention
    far from any sentence); ``is_duplicate`` (True on the second and later rows of a person,
    exact copies and near duplicates); ``noise`` (the kinds applied, ``;``-separated: the cohort
    kinds in the module docstring and the row kinds of :mod:`jdl_core.synth.noise`); and
    ``expected``, where the service should count the row if linkage were perfect: ``analysed``
    (or lost to the caliper), ``invalid_row``, ``duplicate``, ``not_found`` or ``no_index_event``.

    ``size`` is the number of distinct people in the file; duplicates add rows on top.
    ``realism`` (``clean``, ``typical``, ``hard``) sets every rate (synth/noise.py). ``years``
    (first, last) keeps index events of those years only (e.g. a 2010 cohort). Same arguments
    give the same frames.
    """
    _check(national, size, setting, selection, seed)
    r = noise.realism(realism)
    if years is not None and (len(years) != 2 or years[0] > years[1]):
        raise InvalidArgument(f"years must be (first, last) with first <= last, got {years!r}")
    rng_sel, rng_dates, rng_noise, rng_fake, rng_order, rng_who, rng_rows = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, 20130]).spawn(7))
    n_fake = noise.count(r.not_in_data, size)
    n_none = noise.count(r.no_sentence, size)
    n_far = noise.count(r.far_from_sentence, size)
    n_real = size - n_fake - n_none - n_far

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

    start = chosen["start_date"].to_numpy()
    index = chosen["index_date"].to_numpy()
    if setting == "custody":
        back = rng_dates.integers(0, 181, n_real).astype("timedelta64[D]")
        i_start = np.maximum(start, index - back)
        i_end = index + rng_dates.integers(0, 121, n_real).astype("timedelta64[D]")
    else:
        # never after intake's window (an order starting in late December 2010)
        i_start = np.minimum(start + rng_dates.integers(0, 31, n_real).astype("timedelta64[D]"),
                             np.datetime64(national.window.intake_end, "ns"))
        i_end = i_start + rng_dates.integers(60, 301, n_real).astype("timedelta64[D]")

    taken = chosen["person_key"].to_numpy()
    none_keys, none_start = _no_sentence(national, setting, n_none, taken, rng_who)
    far_keys, far_start = _far_from_sentence(national, setting, n_far,
                                             np.r_[taken, none_keys], years, rng_who)
    keys = np.r_[taken, none_keys, far_keys].astype(np.int64)
    starts = np.r_[i_start.astype("datetime64[D]"), none_start, far_start]
    extra_end = starts[n_real:] + rng_who.integers(60, 301, keys.size - n_real
                                                   ).astype("timedelta64[D]")
    people = national.people.set_index("person_key")
    who = people.loc[keys]
    real = pd.DataFrame({
        "forename": who["forename"].astype(object).to_numpy(),
        "surname": who["surname"].astype(object).to_numpy(),
        "date_of_birth": who["date_of_birth"].to_numpy(),
        "sex": who["sex"].astype(object).to_numpy(),
        "intervention_start": starts.astype("datetime64[ns]"),
        "pnc_id": who["pnc_id"].astype(object).to_numpy(),
        "prison_number": who["prison_number"].astype(object).to_numpy(),
        "intervention_end": np.r_[i_end.astype("datetime64[D]"), extra_end
                                  ].astype("datetime64[ns]"),
    })
    real = real.astype(object).where(real.notna(), None)
    real["date_of_birth"] = who["date_of_birth"].to_numpy()
    events = [*chosen["event_id"].tolist(), *([pd.NA] * (keys.size - n_real))]
    kinds: list[list[str]] = ([[] for _ in range(n_real)]
                              + [["no_sentence"] for _ in range(none_keys.size)]
                              + [["far_from_sentence"] for _ in range(far_keys.size)])
    noise.mess_identities(real, kinds, keys, national.aliases, setting, r, rng_noise)

    frames = [real]
    person: list[Any] = list(keys)
    if n_fake:
        fake = _fake_people(n_fake, setting, national, rng_fake)
        frames.append(fake)
        person += [pd.NA] * n_fake
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
    broken = noise.break_rows(upload, kinds, np.arange(len(upload)), r,
                              pd.Timestamp(national.window.intake_end), rng_rows)
    expected = np.where(pd.isna(np.asarray(events, object)), "no_index_event", "analysed")
    expected[n_real + none_keys.size + far_keys.size:] = "not_found"
    expected[broken] = "invalid_row"
    truth = pd.DataFrame({
        "person_key": pd.array(person, dtype="Int64"), "event_id": pd.array(events, dtype="Int64"),
        "is_duplicate": False, "noise": [";".join(k) for k in kinds], "expected": expected,
    })
    # the same person again, keyed differently (only people who would otherwise be analysed)
    near_src, near = noise.near_duplicates(
        upload, np.flatnonzero(expected == "analysed"), noise.count(r.near_duplicate, size),
        rng_rows)
    near_t = truth.iloc[near_src].assign(
        is_duplicate=True, expected="duplicate",
        noise=[";".join(filter(None, [k, "near_duplicate"])) for k in truth["noise"].iloc[near_src]])
    n_rows = len(upload)
    upload = pd.concat([upload, near], ignore_index=True)
    truth = pd.concat([truth, near_t], ignore_index=True)
    # shuffle (a near duplicate must follow its original: swap the pair when it does not), then
    # repeat some rows exactly at random places
    perm = rng_order.permutation(len(upload))
    pos = np.empty_like(perm)
    pos[perm] = np.arange(perm.size)
    for j, s in enumerate(near_src):
        a, b = pos[s], pos[n_rows + j]
        if a > b:
            perm[a], perm[b] = perm[b], perm[a]
            pos[s], pos[n_rows + j] = b, a
    upload, truth = upload.iloc[perm].reset_index(drop=True), truth.iloc[perm].reset_index(drop=True)
    n_dup = noise.count(r.duplicate, size)
    if n_dup:
        src = rng_order.choice(len(upload), size=n_dup, replace=False)
        dup_u = upload.iloc[src]
        dup_t = truth.iloc[src].assign(
            is_duplicate=True,
            expected=np.where(truth["expected"].iloc[src] == "invalid_row", "invalid_row",
                              "duplicate"),
            noise=[";".join(filter(None, [k, "duplicate"])) for k in truth["noise"].iloc[src]])
        # each copy goes somewhere after its original, so "second copy" is well defined
        positions = np.array([int(rng_order.integers(s + 1, len(upload) + 1)) for s in src])
        upload = _insert_rows(upload, dup_u, positions)
        truth = _insert_rows(truth, dup_t, positions)
    truth.insert(0, "row_number", np.arange(1, len(truth) + 1, dtype=np.int64))
    return upload[list(UPLOAD_COLUMNS)], truth[list(TRUTH_COLUMNS)]


def _no_sentence(national: NationalData, setting: str, k: int, taken: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``k`` national people with no sentence of the setting's kind at all (remand prisoners,
    people on licence or attending voluntarily), and an intervention start inside intake's
    window when they were 18 or older."""
    if k == 0:
        return np.array([], np.int64), np.array([], "datetime64[D]")
    disposal = SETTING_DISPOSAL[setting]
    ev = national.events
    with_kind = ev.loc[ev["disposal"] == disposal, "person_key"].unique()
    people = national.people
    window = national.window
    first = np.datetime64(window.index_start, "D")
    last = np.datetime64(window.intake_end, "D")
    adult = people["date_of_birth"].to_numpy("datetime64[D]") + np.timedelta64(18 * 365 + 5, "D")
    ok = (~people["person_key"].isin(with_kind) & ~people["person_key"].isin(taken)).to_numpy() \
        & (adult < last - np.timedelta64(30, "D"))
    cand = np.flatnonzero(ok)
    if cand.size < k:
        raise InvalidArgument(f"the national data has only {cand.size:,} people with no {setting} "
                              f"sentence to put in the cohort, {k:,} needed; choose a smaller size "
                              "or realism clean")
    pick = np.sort(rng.choice(cand, size=k, replace=False))
    lo = np.maximum(first, adult[pick])
    span = (last - lo).astype(np.int64)
    start = lo + (rng.random(k) * span).astype("timedelta64[D]")
    return people["person_key"].to_numpy()[pick].astype(np.int64), start


def _far_from_sentence(national: NationalData, setting: str, k: int, taken: np.ndarray,
                       years: tuple[int, int] | None, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``k`` national people whose intervention started more than the maximum gap before their
    first sentence of the setting's kind (so index-event selection finds that sentence and
    refuses it as too far away)."""
    if k == 0:
        return np.array([], np.int64), np.array([], "datetime64[D]")
    gap = DEFAULT_MAX_GAP_DAYS
    ev = national.events
    mine = ev.loc[ev["disposal"] == SETTING_DISPOSAL[setting]].sort_values(
        ["person_key", "start_date"], kind="stable").drop_duplicates("person_key")
    earliest = np.datetime64(national.window.index_start, "D") + np.timedelta64(gap + 366, "D")
    ok = (mine["start_date"].to_numpy("datetime64[D]") >= earliest) \
        & ~mine["person_key"].isin(taken).to_numpy() & mine["followup_complete"].to_numpy(bool)
    if years is not None:
        ok &= mine["index_year"].between(years[0], years[1]).to_numpy()
    cand = np.flatnonzero(ok)
    if cand.size < k:
        raise InvalidArgument(f"the national data has only {cand.size:,} people whose first "
                              f"{setting} sentence can be put far from an intervention, {k:,} "
                              "needed; choose a smaller size or realism clean")
    pick = np.sort(rng.choice(cand, size=k, replace=False))
    before = rng.integers(gap + 15, gap + 366, k).astype("timedelta64[D]")
    start = mine["start_date"].to_numpy("datetime64[D]")[pick] - before
    return mine["person_key"].to_numpy()[pick].astype(np.int64), start


def _insert_rows(df: pd.DataFrame, extra: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """Insert ``extra`` rows so each lands before the row at ``positions`` in ``df``."""
    base_pos = np.arange(len(df), dtype=np.float64)
    # ties: an inserted row goes just before the original row at that position
    extra_pos = positions.astype(np.float64) - 0.5 + np.arange(len(extra)) * 1e-6
    both = pd.concat([df, extra], ignore_index=True)
    order = np.argsort(np.r_[base_pos, extra_pos], kind="stable")
    return both.iloc[order].reset_index(drop=True)


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
