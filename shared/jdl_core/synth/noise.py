"""Realistic messiness of the synthetic data, at three levels (``clean``, ``typical``, ``hard``).

Two halves, both numpy-vectorised and seeded (the same seed gives the same mess):

* **national** (:func:`national_realism`, called once by the generator): nationality for
  everyone; double-barrelled surnames; surname changes and nicknames recorded as aliases.
  Index events are never touched, so every level has the same events and outcomes.
* **submitted rows** (:func:`mess_identities`, :func:`break_rows`, :func:`near_duplicates`,
  called by :mod:`jdl_core.synth.cohort`): nicknames, spelling variants, typos and transpositions,
  one half of a double-barrelled surname, a new surname, an alias, day/month swapped or wrong-year
  dates of birth, missing PNC IDs and prison numbers, wrong check letters, rows intake must refuse,
  and near duplicates. Who is in a cohort (people not in the data, with no sentence in the window,
  or with an intervention far from any sentence) is decided in ``cohort.py`` from the same rates.

Every rate is a field of :class:`Realism` with its source or reason beside it; docs/data-realism.md
has the table and the calibration (a ``typical`` cohort keeps 65-75% of the people submitted, as
real JDL submissions do: Leeds IOM 2017 kept 142 of 203).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..errors import InvalidArgument
from ..identifiers import CHECK_LETTERS
from . import names as N

REALISMS: Final = ("clean", "typical", "hard")
DEFAULT_REALISM: Final = "typical"

# Nationality as the MoJ's Offender Management Statistics record it (British / foreign national /
# not recorded). Foreign nationals were about 12% of the prison population in 2002-2010 (OMSQ,
# prison population tables) and somewhat fewer among all proven offenders; the share differs by
# ethnicity, so it is drawn by ethnicity (schema.ETHNICITIES order) and comes to about 9% overall.
FOREIGN_BY_ETHNICITY: Final = np.array([0.07, 0.22, 0.15, 0.06, 0.40])
NATIONALITY_NOT_RECORDED: Final = 0.02     # OMSQ: 1-2% "nationality not recorded"


@dataclass(frozen=True)
class Realism:
    """Rates of every kind of messiness at one level. Shares are of the rows (or people) that
    can have the kind (a nickname needs a formal forename, a half needs a double-barrelled
    surname); counts are rounded rates, so a cohort gets exactly its share."""

    # -- national data --------------------------------------------------------------------
    # Double-barrelled or hyphenated surname on the police record. No official figure; about 1%
    # of surnames in England and Wales are hyphenated in electoral-roll samples (assumption).
    hyphenated: float
    # Of those, the one-part name is recorded as an alias too (agencies record both forms).
    hyphen_alias: float
    # A later surname (marriage, partner, deed poll) recorded as an alias, by sex. About 90% of
    # women marrying take the spouse's name; a few % of the offending population marry in a
    # decade (ONS marriage statistics); men rarely change (assumption).
    surname_change_female: float
    surname_change_male: float
    # A nickname recorded as an alias (Bill for William), of people with a formal forename.
    nickname_alias: float

    # -- who is submitted (shares of the people in a cohort) ---------------------------------
    # Never convicted, so not in the national data: community organisations work with people
    # at risk who have no proven offence (assumption; the JDL's "not matched" line).
    not_in_data: float
    # In the data but with no sentence of the programme's kind: remand prisoners (15-20% of the
    # prison population, OMSQ), people on licence or voluntary attendance in community schemes.
    no_sentence: float
    # The intervention started more than the maximum gap (90 days) before the sentence: referral
    # long before sentencing, or an intervention date keyed in the wrong year.
    far_from_sentence: float

    # -- rows (shares of the rows that can have the kind) -------------------------------------
    # Rows intake must refuse: a blank date of birth or sex, a month-first date, an
    # intervention start after the data's window (assumption: 1-3% of spreadsheet rows).
    invalid_row: float
    duplicate: float            # exact repeat of a row (copy-paste)
    near_duplicate: float       # the same person again, keyed differently, without identifiers
    # Name errors, each of the rows that can have it. Rates of forename and surname
    # disagreement between sources are 5-10% in linkage studies of administrative data
    # (Harron et al. 2017, "Challenges in administrative data linkage"); split here by kind.
    nickname: float             # forename given as a nickname (of rows with a formal forename)
    spelling_variant: float     # Mohammed/Muhammad, Steven/Stephen (of rows with a known variant)
    typo: float                 # a dropped, doubled, changed or swapped letter (of all rows)
    hyphen_one_part: float      # one half of a double-barrelled surname (of such rows)
    new_surname_female: float   # a surname the national data has never seen (of women)
    new_surname_male: float
    alias_use: float            # known by an alias the national data holds (of people with one)
    # Date of birth: day and month exchanged (only where still a date), year one or ten off.
    dob_transposed: float
    dob_wrong_year: float
    # Identifiers the organisation has, by setting. Prison-based programmes usually know the
    # prison number and often the PNC ID; community organisations mostly know neither (JDL user
    # guidance asks for them "where available"; assumption calibrated to the 65-75% retention).
    pnc_given_custody: float
    pnc_given_community: float
    prison_given_custody: float      # of people who have a prison number
    prison_given_community: float
    bad_check_letter: float          # of rows with a PNC ID: last letter mistyped


LEVELS: Final[dict[str, Realism]] = {
    # Nothing wrong: every identifier given, names and dates as recorded, everyone linkable
    # with an index event (the analysis alone is under test).
    "clean": Realism(
        hyphenated=0.0, hyphen_alias=0.0, surname_change_female=0.0, surname_change_male=0.0,
        nickname_alias=0.0,
        not_in_data=0.0, no_sentence=0.0, far_from_sentence=0.0,
        invalid_row=0.0, duplicate=0.0, near_duplicate=0.0,
        nickname=0.0, spelling_variant=0.0, typo=0.0, hyphen_one_part=0.0,
        new_surname_female=0.0, new_surname_male=0.0, alias_use=0.0,
        dob_transposed=0.0, dob_wrong_year=0.0,
        pnc_given_custody=1.0, pnc_given_community=1.0,
        prison_given_custody=1.0, prison_given_community=1.0, bad_check_letter=0.0),
    # Calibrated so a cohort keeps 65-75% of the people submitted (docs/data-realism.md).
    "typical": Realism(
        hyphenated=0.01, hyphen_alias=0.5, surname_change_female=0.08, surname_change_male=0.005,
        nickname_alias=0.05,
        not_in_data=0.05, no_sentence=0.12, far_from_sentence=0.07,
        invalid_row=0.02, duplicate=0.02, near_duplicate=0.01,
        nickname=0.10, spelling_variant=0.15, typo=0.04, hyphen_one_part=0.5,
        new_surname_female=0.06, new_surname_male=0.005, alias_use=0.25,
        dob_transposed=0.02, dob_wrong_year=0.015,
        pnc_given_custody=0.6, pnc_given_community=0.3,
        prison_given_custody=0.7, prison_given_community=0.1, bad_check_letter=0.01),
    # A poorly kept spreadsheet from an organisation with little access to records.
    "hard": Realism(
        hyphenated=0.02, hyphen_alias=0.3, surname_change_female=0.12, surname_change_male=0.01,
        nickname_alias=0.08,
        not_in_data=0.08, no_sentence=0.16, far_from_sentence=0.10,
        invalid_row=0.03, duplicate=0.03, near_duplicate=0.02,
        nickname=0.20, spelling_variant=0.30, typo=0.08, hyphen_one_part=0.7,
        new_surname_female=0.12, new_surname_male=0.01, alias_use=0.4,
        dob_transposed=0.04, dob_wrong_year=0.03,
        pnc_given_custody=0.35, pnc_given_community=0.1,
        prison_given_custody=0.5, prison_given_community=0.05, bad_check_letter=0.02),
}
assert tuple(LEVELS) == REALISMS


def realism(level: str) -> Realism:
    """The rates of ``level`` (one of REALISMS)."""
    try:
        return LEVELS[level]
    except (KeyError, TypeError):
        raise InvalidArgument(f"realism must be one of {', '.join(REALISMS)}, got {level!r}"
                              ) from None


def count(rate: float, n: int) -> int:
    """Rows of ``n`` that get a kind of ``rate`` (rounded, so cohorts get exactly their share)."""
    return int(round(rate * n))


# A stream of its own for the national mess, so every level leaves the generator's draws (and so
# the people, events and outcomes) exactly as they are.
_NATIONAL_STREAM: Final = 1717


# --- national data -----------------------------------------------------------------------------
def national_realism(people: pa.Table, aliases: pa.Table, level: str, seed: int
                     ) -> tuple[pa.Table, pa.Table]:
    """The generator's people and aliases made as messy as ``level``, with nationality added.

    ``people`` has schema.PEOPLE_COLUMNS except ``nationality``; the result has all of them.
    Double-barrelled surnames replace the drawn surname of ``hyphenated`` of people (the other
    half is another person's surname, so halves follow national frequencies); surname changes,
    nicknames and the one-part form of double-barrelled names become extra alias rows. Aliases
    come back ordered by person_key (stable: the generator's aliases of a person stay first).
    """
    r = realism(level)
    rng_nat, rng_hyphen, rng_alias = (np.random.default_rng(s) for s in
                                      np.random.SeedSequence([seed, _NATIONAL_STREAM]).spawn(3))
    n = people.num_rows
    nationality = _nationality(people.column("ethnicity"), rng_nat)

    surname = people.column("surname").combine_chunks()
    extra: list[tuple[np.ndarray, pa.Array, pa.Array]] = []   # (person, forename, surname)
    hyph = np.flatnonzero(rng_hyphen.random(n) < r.hyphenated)
    if hyph.size:
        other = pc.take(surname, pa.array(rng_hyphen.integers(0, n, hyph.size)))
        mine = pc.take(surname, pa.array(hyph))
        first = rng_hyphen.random(hyph.size) < 0.5
        joined = pc.if_else(pa.array(first), pc.binary_join_element_wise(mine, other, "-"),
                            pc.binary_join_element_wise(other, mine, "-"))
        ok = pc.not_equal(mine, other).to_numpy(zero_copy_only=False)   # no Smith-Smith
        hyph, joined, mine = hyph[ok], joined.filter(pa.array(ok)), mine.filter(pa.array(ok))
        mask = np.zeros(n, bool)
        mask[hyph] = True
        surname = pc.replace_with_mask(surname, pa.array(mask), joined)
        keep = rng_hyphen.random(hyph.size) < r.hyphen_alias
        extra.append((hyph[keep], pc.take(people.column("forename"), pa.array(hyph[keep])),
                      mine.filter(pa.array(keep))))

    female = pc.equal(people.column("sex"), "F").to_numpy(zero_copy_only=False)
    change = np.flatnonzero(rng_alias.random(n) < np.where(female, r.surname_change_female,
                                                           r.surname_change_male))
    if change.size:
        new = pc.take(surname, pa.array(rng_alias.integers(0, n, change.size)))
        differs = pc.not_equal(new, pc.take(surname, pa.array(change)))  # a change, not Smith again
        change, new = change[differs.to_numpy(zero_copy_only=False)], new.filter(differs)
        extra.append((change, pc.take(people.column("forename"), pa.array(change)), new))

    forename = people.column("forename").combine_chunks()
    formal = pc.is_in(forename, value_set=pa.array(sorted(N.NICKNAMES))).to_numpy(
        zero_copy_only=False)
    nick = np.flatnonzero(formal & (rng_alias.random(n) < r.nickname_alias))
    if nick.size:
        u = rng_alias.random(nick.size)
        short = [_pick(N.nicknames(f), x) for f, x in
                 zip(pc.take(forename, pa.array(nick)).to_pylist(), u)]
        extra.append((nick, pa.array(short, pa.string()), pc.take(surname, pa.array(nick))))

    people_out = pa.Table.from_arrays(
        [*(people.column(c) for c in people.column_names if c != "surname"), surname,
         nationality],
        names=[*(c for c in people.column_names if c != "surname"), "surname", "nationality"],
    ).select(list(schema.PEOPLE_COLUMNS))
    if extra:
        dob = people.column("date_of_birth")
        parts = [aliases] + [pa.Table.from_arrays(
            [pa.array(who.astype(np.int64)), fore.cast(pa.string()), sur.cast(pa.string()),
             pc.take(dob, pa.array(who))], schema=aliases.schema) for who, fore, sur in extra]
        aliases = pa.concat_tables(parts).combine_chunks()
        aliases = aliases.take(pc.sort_indices(aliases, [("person_key", "ascending")]))
    return people_out, aliases


def _nationality(ethnicity: pa.ChunkedArray, rng: np.random.Generator) -> pa.Array:
    eth = pc.index_in(ethnicity, value_set=pa.array(schema.ETHNICITIES)).to_numpy(
        zero_copy_only=False)
    u = rng.random(eth.size)
    # codes index schema.NATIONALITIES: British, Foreign national, Not recorded
    code = np.where(u < NATIONALITY_NOT_RECORDED, 2,
                    np.where(u < NATIONALITY_NOT_RECORDED + FOREIGN_BY_ETHNICITY[eth], 1, 0))
    return pc.take(pa.array(list(schema.NATIONALITIES), pa.string()), pa.array(code))


def _pick(options: tuple[str, ...], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


# --- submitted rows ----------------------------------------------------------------------------
def _choose(rng: np.random.Generator, candidates: np.ndarray, k: int) -> np.ndarray:
    k = min(k, candidates.size)
    return np.sort(rng.choice(candidates, size=k, replace=False)) if k else candidates[:0]


def _mark(kinds: list[list[str]], rows: np.ndarray, kind: str) -> None:
    for i in rows:
        kinds[i].append(kind)


def mess_identities(rows: pd.DataFrame, kinds: list[list[str]], person_keys: np.ndarray,
                    aliases: pd.DataFrame, setting: str, r: Realism,
                    rng: np.random.Generator) -> None:
    """Make the identities of submitted rows of national people as messy as ``r``, in place.

    ``rows``: forename, surname, date_of_birth (datetime64), sex, pnc_id, prison_number (object
    columns, None for missing), one per person ``person_keys``; ``kinds[i]`` gets the name of
    every kind applied to row i (the truth's ``noise`` column). Each kind picks exactly its
    rounded share of the rows that can have it.
    """
    n = len(rows)
    every = np.arange(n)
    fore = rows["forename"].to_numpy(object).copy()
    sur = rows["surname"].to_numpy(object).copy()
    dob = rows["date_of_birth"].to_numpy("datetime64[D]").copy()

    # an alias the national data holds (its name and date of birth)
    has_alias = np.flatnonzero(np.isin(person_keys, aliases["person_key"].to_numpy()))
    use = has_alias[rng.random(has_alias.size) < r.alias_use]
    if use.size:
        # one of the person's aliases at random: shuffle, keep the first of each person
        mine = aliases.loc[aliases["person_key"].isin(person_keys[use])]
        mine = mine.iloc[rng.permutation(len(mine))].drop_duplicates("person_key")
        picked = mine.set_index("person_key").loc[person_keys[use]]
        fore[use] = picked["forename"].astype(object).to_numpy()
        sur[use] = picked["surname"].astype(object).to_numpy()
        dob[use] = picked["date_of_birth"].to_numpy("datetime64[D]")
        _mark(kinds, use, "alias")

    formal = np.flatnonzero([bool(N.nicknames(f)) for f in fore])
    pick = _choose(rng, formal, count(r.nickname, formal.size))
    fore[pick] = [_pick(N.nicknames(fore[i]), u) for i, u in zip(pick, rng.random(pick.size))]
    _mark(kinds, pick, "nickname")

    # a recorded spelling variant of the forename, else of the surname
    fv = np.array([bool(N.known_variants(f)) for f in fore])
    sv = np.array([bool(N.known_variants(s)) for s in sur])
    pick = _choose(rng, np.flatnonzero(fv | sv), count(r.spelling_variant, int((fv | sv).sum())))
    for i, u in zip(pick, rng.random(pick.size)):
        if fv[i]:
            fore[i] = _pick(N.known_variants(fore[i]), u)
        else:
            sur[i] = _pick(N.known_variants(sur[i]), u)
    _mark(kinds, pick, "spelling_variant")

    hyphen = np.flatnonzero(["-" in s for s in sur])
    pick = _choose(rng, hyphen, count(r.hyphen_one_part, hyphen.size))
    sur[pick] = [s.split("-")[int(u < 0.5)] for s, u in zip(sur[pick], rng.random(pick.size))]
    _mark(kinds, pick, "hyphen_one_part")

    female = rows["sex"].to_numpy(object) == "F"
    pick = np.sort(np.r_[
        _choose(rng, np.flatnonzero(female), count(r.new_surname_female, int(female.sum()))),
        _choose(rng, np.flatnonzero(~female), count(r.new_surname_male, int((~female).sum())))])
    table = N.surnames()
    drawn = rng.choice(len(table), pick.size, p=table.probabilities())
    new = np.asarray(table.names, object)[drawn]
    # a change, not Smith again: the next name in the table instead
    new = np.where(new == sur[pick], np.asarray(table.names, object)[(drawn + 1) % len(table)], new)
    sur[pick] = new
    _mark(kinds, pick, "new_surname")

    pick = _choose(rng, every, count(r.typo, n))
    on_fore = rng.random(pick.size) < 0.5
    for i, f in zip(pick, on_fore):
        if f:
            fore[i] = N.typo(str(fore[i]), rng)
        else:
            sur[i] = N.typo(str(sur[i]), rng)
    _mark(kinds, pick, "typo")

    dob = _mess_dates(dob, kinds, r, rng)
    rows["forename"], rows["surname"] = fore, sur
    rows["date_of_birth"] = dob.astype("datetime64[ns]")
    _mess_identifiers(rows, kinds, setting, r, rng)


def _mess_dates(dob: np.ndarray, kinds: list[list[str]], r: Realism,
                rng: np.random.Generator) -> np.ndarray:
    d = pd.DatetimeIndex(dob)
    swappable = np.flatnonzero((d.day <= 12) & (d.day != d.month))
    pick = _choose(rng, swappable, count(r.dob_transposed, dob.size))
    if pick.size:
        dob[pick] = pd.to_datetime({"year": d.year[pick], "month": d.day[pick],
                                    "day": d.month[pick]}).to_numpy("datetime64[D]")
        _mark(kinds, pick, "dob_transposed")
    # a year one off (most) or ten earlier (a digit slip); 29 February becomes the 28th
    rest = np.setdiff1d(np.arange(dob.size), pick)
    pick = _choose(rng, rest, count(r.dob_wrong_year, dob.size))
    if pick.size:
        # (a slip of ten goes back only, so nobody becomes implausibly young for intake)
        shift = np.where(rng.random(pick.size) < 0.8, rng.choice([-1, 1], pick.size), -10)
        d = pd.DatetimeIndex(dob[pick])
        day = np.where((d.month == 2) & (d.day == 29), 28, d.day)
        dob[pick] = pd.to_datetime({"year": d.year + shift, "month": d.month, "day": day}
                                   ).to_numpy("datetime64[D]")
        _mark(kinds, pick, "dob_wrong_year")
    return dob


def _mess_identifiers(rows: pd.DataFrame, kinds: list[list[str]], setting: str, r: Realism,
                      rng: np.random.Generator) -> None:
    pnc = rows["pnc_id"].to_numpy(object).copy()
    prison = rows["prison_number"].to_numpy(object).copy()
    given = r.pnc_given_custody if setting == "custody" else r.pnc_given_community
    has = np.flatnonzero(pd.notna(pnc))
    blank = _choose(rng, has, has.size - count(given, has.size))
    pnc[blank] = None
    _mark(kinds, blank, "no_pnc")
    has = np.flatnonzero(pd.notna(pnc))
    bad = _choose(rng, has, count(r.bad_check_letter, has.size))
    for i, u in zip(bad, rng.random(bad.size)):
        wrong = [c for c in CHECK_LETTERS if c != pnc[i][-1]]
        pnc[i] = pnc[i][:-1] + _pick(tuple(wrong), u)
    _mark(kinds, bad, "bad_check_letter")
    given = r.prison_given_custody if setting == "custody" else r.prison_given_community
    has = np.flatnonzero(pd.notna(prison))
    blank = _choose(rng, has, has.size - count(given, has.size))
    prison[blank] = None
    _mark(kinds, blank, "no_prison_number")
    rows["pnc_id"], rows["prison_number"] = pnc, prison


# Ways a row breaks intake's rules (jdl_core.cohort), in turn: a required cell left blank, a
# month-first (US) date of birth, an intervention start after the data's window.
BREAKS: Final = ("blank_dob", "blank_sex", "month_first_dob", "start_after_window")


def break_rows(upload: pd.DataFrame, kinds: list[list[str]], candidates: np.ndarray,
               r: Realism, last_start: pd.Timestamp, rng: np.random.Generator) -> np.ndarray:
    """Make ``invalid_row`` of the ``candidates`` rows of the text upload fail intake, in place;
    returns the rows broken. ``last_start`` is the last intervention start intake accepts."""
    pick = _choose(rng, candidates, count(r.invalid_row, candidates.size))
    how = rng.integers(0, len(BREAKS), pick.size)
    for i, h in zip(pick, how):
        kind = BREAKS[h]
        if kind == "blank_dob":
            upload.at[i, "date_of_birth"] = None
        elif kind == "blank_sex":
            upload.at[i, "sex"] = None
        elif kind == "month_first_dob":
            day, month, year = str(upload.at[i, "date_of_birth"]).split("/")
            # month first: a valid UK date only when the day is 12 or less; make the day > 12
            upload.at[i, "date_of_birth"] = f"{month}/{max(int(day), 13):02d}/{year}"
        else:
            late = last_start + pd.Timedelta(days=int(rng.integers(1, 366)))
            upload.at[i, "intervention_start"] = late.strftime("%d/%m/%Y")
            upload.at[i, "intervention_end"] = (late + pd.Timedelta(days=90)).strftime("%d/%m/%Y")
        kinds[i].append(kind)
    return pick


def near_duplicates(upload: pd.DataFrame, candidates: np.ndarray, k: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame]:
    """``k`` of the ``candidates`` rows submitted again as a different-looking row: no PNC ID or
    prison number, a typo in the forename and another reference, so intake's duplicate check
    (same identifier, or same name and date of birth) lets it through and linkage must find it.
    Returns the source rows and the copies."""
    src = _choose(rng, candidates, k)
    copies = upload.iloc[src].copy()
    copies["pnc_id"] = None
    copies["prison_number"] = None
    copies["forename"] = [N.typo(str(f), rng) for f in copies["forename"]]
    copies["other_id"] = [f"REF{int(x):06d}" for x in
                          rng.integers(len(upload) + 1, 10 * len(upload) + 10, src.size)]
    return src, copies


__all__ = ["BREAKS", "DEFAULT_REALISM", "LEVELS", "REALISMS", "Realism", "break_rows", "count",
           "mess_identities", "national_realism", "near_duplicates", "realism"]
