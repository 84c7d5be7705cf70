"""Vectorised generator of the synthetic national re-offending dataset (methodology.md section 1).

How a dataset is made (all numpy, one pass per index-event number across every active person):

1. People: sex (85% male), ethnicity, region, date of birth, and a latent criminal propensity
   ``z`` that is never written out. ``z`` drives the history a person brings to 2002 (previous
   offences, custody, age at first contact), how employable they are and how likely they are to
   keep offending; the outcome itself depends only on *observed* columns through the risk model
   (:mod:`jdl_core.synth.risk`), so matching on observed covariates can recover the truth.
2. Index events, in sequence per person: offence group and disposal (custody / community /
   caution, chosen by a multinomial logit on history and offence), sentence, dates (custody:
   ``start_date`` = reception, ``index_date`` = ``end_date`` = release after half the sentence;
   community: ``index_date`` = ``start_date``, ``end_date`` = end of order; caution: one date),
   as-at-index history, employment and benefit, the OGRS-style score, then the outcome drawn from
   the risk model. A proven re-offence *is* the person's next index event (offence on
   ``index_date + days_to_first``, disposal up to 182 days later) so history grows consistently;
   people who do not re-offend within the year may still offend again later, or desist.
3. Names (UK frequency tables in :mod:`jdl_core.synth.names`), aliases for about 10% of people,
   PNC IDs (year of first contact, unique serial, check letter) and prison numbers for everyone
   ever in custody (a custody event, or previous custody before 2002).
4. Realism (:mod:`jdl_core.synth.noise`, ``realism`` clean / typical / hard): nationality, and
   double-barrelled surnames, surname changes and nicknames recorded as aliases, from a random
   stream of its own, so the index events are the same at every level.

Output is byte-deterministic for a seed: separate random streams per part (SeedSequence.spawn);
the files (Parquet with fixed options, a manifest with no timestamps) are written by
:mod:`jdl_core.synth.write`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..errors import InvalidArgument
from ..identifiers import CHECK_LETTERS
from . import names as N
from . import noise, risk
from .write import prepare_target, staging_directory, write_tables

GENERATOR_VERSION = "1.1.0"
DEFAULT_PEOPLE, DEFAULT_SEED = schema.DEFAULT_PEOPLE, schema.DEFAULT_SEED
MAX_PEOPLE = 20_000_000

_EPOCH = np.datetime64("1970-01-01", "D")


def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - _EPOCH).astype(np.int64))


COV_START = _day(schema.COVERAGE_START)
COV_END = _day(schema.COVERAGE_END)
FOLLOWUP_END = _day(schema.FOLLOWUP_END)
_DAYS_PER_MONTH = 30.4375

# --- population margins ------------------------------------------------------------------------
P_FEMALE = 0.15
ETHNICITY_P = np.array([0.80, 0.08, 0.06, 0.04, 0.02])           # schema.ETHNICITIES order
REGION_P = np.array([0.05, 0.14, 0.10, 0.08, 0.10, 0.09, 0.16, 0.13, 0.08, 0.07])  # schema.REGIONS

# Offence group probabilities by sex (schema.OFFENCE_GROUPS order).
OFFENCE_P_MALE = np.array([0.21, 0.03, 0.07, 0.20, 0.04, 0.12, 0.07, 0.08, 0.11, 0.07])
OFFENCE_P_FEMALE = np.array([0.16, 0.01, 0.03, 0.35, 0.08, 0.08, 0.05, 0.07, 0.07, 0.10])
# Disposal choice: log-odds shifts by offence (custody, caution) relative to community.
CUSTODY_OFFENCE = np.array([0.45, 1.70, 0.95, 0.15, 0.05, 0.30, -0.45, -0.30, -0.25, 0.0])
CAUTION_OFFENCE = np.array([0.05, -2.50, -1.60, 0.40, -0.30, 0.55, 0.40, 0.50, -1.80, 0.10])
SHORT_CUSTODY_P = np.array([0.55, 0.15, 0.45, 0.85, 0.55, 0.45, 0.85, 0.90, 0.85, 0.75])
# OGRS-style score: offence adjustments (a 2-year proven re-offending risk).
OGRS_OFFENCE = np.array([-0.10, 0.10, 0.35, 0.40, -0.35, 0.05, 0.10, 0.0, -0.40, 0.0])

SHORT_MONTHS = np.array([1, 2, 3, 4, 6, 8, 9, 10], dtype=np.float32)
SHORT_MONTHS_P = np.array([0.14, 0.20, 0.15, 0.16, 0.15, 0.07, 0.08, 0.05])
LONG_MONTHS = np.array([12, 15, 18, 24, 30, 36, 48, 60, 84], dtype=np.float32)
LONG_MONTHS_P = np.array([0.20, 0.10, 0.20, 0.20, 0.08, 0.08, 0.07, 0.04, 0.03])
COMMUNITY_MONTHS = np.array([6, 9, 12, 18, 24, 36], dtype=np.float32)
COMMUNITY_MONTHS_P = np.array([0.15, 0.10, 0.35, 0.15, 0.20, 0.05])

MAX_EVENTS_PER_PERSON = 40
ALIAS_SHARE = 0.10

_CUSTODY, _COMMUNITY, _CAUTION = 0, 1, 2  # codes into schema.DISPOSALS
assert schema.DISPOSALS == ("custody", "community", "caution")


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _choice(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """Categorical draws (int8 codes) by inverse CDF: much faster than rng.choice with p."""
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int16)


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970. Calendar arithmetic once per distinct day of the
    span (a few tens of thousands), then a lookup: converting millions of datetime64 values
    was a tenth of the generator's time."""
    if days.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    lo = int(days.min())
    d = np.arange(lo, int(days.max()) + 1).astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    year = y.astype(np.int64) + 1970
    month = (m - y.astype("datetime64[M]")).astype(np.int64) + 1
    day = (d - m.astype("datetime64[D]")).astype(np.int64) + 1
    i = days.astype(np.int64) - lo
    return year[i], month[i], day[i]


def _age(dob: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Whole years of age on ``on`` (calendar arithmetic, birthdays respected)."""
    by, bm, bd = _ymd(dob)
    oy, om, od = _ymd(on)
    return (oy - by - ((om * 100 + od) < (bm * 100 + bd))).astype(np.int16)


# --- people ------------------------------------------------------------------------------------
@dataclass
class _People:
    n: int
    female: np.ndarray
    ethnicity: np.ndarray
    region: np.ndarray
    z: np.ndarray
    dob: np.ndarray            # int32 days since 1970
    entry: np.ndarray          # int32 day of the first disposal in the window
    first_timer: np.ndarray    # no proven offence before the first index event
    afc_years: np.ndarray      # float age at first contact (first timers: set at first event)
    prev0: np.ndarray
    prev_custody0: np.ndarray
    employability: np.ndarray
    persistence: np.ndarray


def _make_people(n: int, rng: np.random.Generator) -> _People:
    female = rng.random(n) < P_FEMALE
    ethnicity = _choice(rng, ETHNICITY_P, n)
    region = _choice(rng, REGION_P, n)
    z = rng.standard_normal(n)
    # Higher propensity -> younger when first seen in the window; women somewhat older.
    age_entry = 18.0 + rng.gamma(1.8, 7.0, n) * np.exp(-0.22 * z) + 2.0 * female
    age_entry = np.minimum(age_entry, 80.0)
    # Entry into the window leans early so that, with careers accumulating events, index events
    # spread fairly evenly over 2002-2010 and people have several each.
    entry = (COV_START + np.floor((COV_END - COV_START + 1) * rng.random(n) ** 1.6)).astype(np.int32)
    dob = (entry - np.round(age_entry * 365.25)).astype(np.int32)
    first_timer = rng.random(n) < _logistic(-0.9 - 0.9 * z + 0.5 * female)
    afc_years = 11.0 + rng.gamma(1.5, 3.2, n) * np.exp(-0.35 * z)
    afc_years = np.clip(afc_years, 10.0, age_entry - 0.5)
    rate = np.exp(-1.05 + 0.65 * z) * np.where(female, 0.6, 1.0)  # offences per year of career
    years = np.maximum(age_entry - afc_years, 0.0)
    prev0 = np.where(first_timer, 0, 1 + rng.poisson(rate * years)).astype(np.int32)
    share_custody = np.clip(0.10 * np.exp(0.45 * z), 0.0, 0.6)
    prev_custody0 = rng.binomial(np.maximum(prev0 - 1, 0), share_custody).astype(np.int32)
    employability = -0.35 - 0.55 * z - 0.35 * female + rng.normal(0.0, 0.6, n)
    persistence = 0.7 + 0.75 * z
    return _People(n, female, ethnicity, region, z, dob, entry, first_timer, afc_years, prev0,
                   prev_custody0, employability, persistence)


# --- index events ------------------------------------------------------------------------------
_EVENT_FIELDS = ("person", "seq", "disposal", "offence", "start", "index", "end", "months",
                 "age", "prev", "prev_cust", "afc", "copas", "ogrs", "employed", "on_benefit",
                 "reoff", "count", "days")


def _simulate_events(pp: _People, rng: np.random.Generator, model: dict[str, Any]
                     ) -> dict[str, np.ndarray]:
    count_m, days_m = model["count_model"], model["days_model"]
    person = np.arange(pp.n, dtype=np.int64)
    day = pp.entry.copy()
    prev = pp.prev0.copy()
    prev_cust = pp.prev_custody0.copy()
    afc = np.zeros(pp.n, dtype=np.int16)
    chunks: list[dict[str, np.ndarray]] = []
    for seq in range(MAX_EVENTS_PER_PERSON):
        n = person.size
        if n == 0:
            break
        female = pp.female[person]
        z = pp.z[person]
        dob = pp.dob[person]
        offence = np.where(female, _choice(rng, OFFENCE_P_FEMALE, n),
                           _choice(rng, OFFENCE_P_MALE, n))
        lp = np.log1p(prev)
        age_now = (day - dob) / 365.25
        s_custody = -1.75 + 0.55 * lp + 0.45 * np.log1p(prev_cust) + CUSTODY_OFFENCE[offence] \
            - 0.35 * female
        s_caution = 0.35 - 1.15 * lp + 0.45 * female + CAUTION_OFFENCE[offence] \
            + 0.01 * (age_now - 30)
        gumbel = rng.gumbel(size=(3, n))
        disposal = np.argmax(np.stack([s_custody + gumbel[0], gumbel[1], s_caution + gumbel[2]]),
                             axis=0).astype(np.int16)
        custody = disposal == _CUSTODY
        community = disposal == _COMMUNITY
        short = rng.random(n) < SHORT_CUSTODY_P[offence]
        months = np.where(
            custody,
            np.where(short, SHORT_MONTHS[_choice(rng, SHORT_MONTHS_P, n)],
                     LONG_MONTHS[_choice(rng, LONG_MONTHS_P, n)]),
            np.where(community, COMMUNITY_MONTHS[_choice(rng, COMMUNITY_MONTHS_P, n)], 0.0),
        ).astype(np.float32)
        served = np.ceil(months * _DAYS_PER_MONTH / 2.0).astype(np.int32)
        if seq == 0:
            # a first custodial spell released after the window is moved earlier, so everyone
            # in people.parquet has at least one index event
            late = custody & (day + served > COV_END)
            day = np.where(late, np.maximum(COV_START, COV_END - served - rng.integers(0, 60, n)),
                           day).astype(np.int32)
        start = day
        index = np.where(custody, start + served, start).astype(np.int32)
        end = np.where(community, start + np.round(months * _DAYS_PER_MONTH).astype(np.int32),
                       index).astype(np.int32)
        keep = index <= COV_END
        if not keep.all():
            person, start, index, end = person[keep], start[keep], index[keep], end[keep]
            months, disposal, offence, prev = months[keep], disposal[keep], offence[keep], prev[keep]
            prev_cust, afc, female, z = prev_cust[keep], afc[keep], female[keep], z[keep]
            dob, custody, community = dob[keep], custody[keep], community[keep]
            n = person.size
            if n == 0:
                break
        age = _age(dob, index)
        if seq == 0:
            afc_f = np.floor(pp.afc_years[person]).astype(np.int16)
            afc = np.where(pp.first_timer[person], age, np.minimum(afc_f, age)).astype(np.int16)
        years_known = np.maximum(age - afc, 0).astype(np.float64)
        copas = np.log((prev + 1.0) / (years_known + 10.0))
        lp = np.log1p(prev)
        ogrs = 100.0 * _logistic(0.35 + 1.05 * (copas + 1.0) - 0.28 * (age - 30) / 10.0
                                 - 0.30 * female + OGRS_OFFENCE[offence]
                                 + 0.15 * np.log1p(prev_cust))
        employed = rng.random(n) < _logistic(pp.employability[person] - 0.18 * lp
                                             - 0.025 * np.abs(age - 34.0) + 0.4)
        on_benefit = rng.random(n) < _logistic(-0.15 + 0.35 * z - 2.0 * employed + 0.45 * female
                                               + 0.012 * (age - 30.0))
        data = {
            "age_at_index": age, "sex": female.astype(np.int8),  # code 1 == "F"
            "prev_offences": prev, "prev_custody": prev_cust, "copas_rate": copas,
            "disposal": disposal, "sentence_months": months, "offence_group": offence,
            "employed": employed, "on_benefit": on_benefit,
            "region": pp.region[person], "index_year": _ymd(index)[0],
        }
        p = _logistic(risk.linear_predictor(data, model))
        reoff = rng.random(n) < p
        count = np.where(reoff, 1 + rng.poisson(count_m["base"] + count_m["slope"] * p), 0)
        u = rng.beta(days_m["a"], days_m["b0"] + days_m["b1"] * p)
        days = np.where(reoff, 1 + np.floor(364.0 * u), 0).astype(np.int16)
        chunks.append({
            "person": person, "seq": np.full(n, seq, np.int16), "disposal": disposal,
            "offence": offence, "start": start, "index": index, "end": end, "months": months,
            "age": age, "prev": prev.astype(np.int16), "prev_cust": prev_cust.astype(np.int16),
            "afc": afc, "copas": copas.astype(np.float32), "ogrs": ogrs.astype(np.float32),
            "employed": employed, "on_benefit": on_benefit, "reoff": reoff,
            "count": count.astype(np.int16), "days": days,
        })
        # Next index event: the first re-offence (proven within 182 days), or for those who did
        # not re-offend in the year, a later offence if they persist, else they desist.
        again = _logistic(pp.persistence[person] - 0.03 * (age - 30.0)) > rng.random(n)
        delay = 1 + np.minimum(rng.gamma(2.0, 30.0, n), 181.0).astype(np.int32)
        later = 366 + rng.gamma(1.3, 420.0, n).astype(np.int32)
        next_offence = np.where(reoff, index + days, index + later)
        nxt = reoff | again
        n_offences = 1 + rng.poisson(0.3, n)  # offences dealt with at this disposal
        prev = prev + n_offences + np.where(reoff, count - 1, 0)
        prev_cust = prev_cust + custody
        day = (next_offence + delay).astype(np.int32)
        go = nxt & (day <= COV_END)
        person, day, prev, prev_cust, afc = person[go], day[go], prev[go], prev_cust[go], afc[go]
    out = {k: np.concatenate([c[k] for c in chunks]) for k in _EVENT_FIELDS}
    order = np.lexsort((out["seq"], out["person"]))
    return {k: v[order] for k, v in out.items()}


# --- JDL measures 4-7 ---------------------------------------------------------------------------
def _further_outcomes(ev: dict[str, np.ndarray], model: dict[str, Any],
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seriousness of each re-offence and custody for it (risk.py ``seriousness_model`` and
    ``custody_model``), vectorised over every event. Drawn from a stream of its own after the
    events, so adding these columns left every earlier draw (and so the events) unchanged."""
    reoff = ev["reoff"]
    count = ev["count"].astype(np.int64)
    sm = model["seriousness_model"]["by_offence_group"]
    P = np.array([sm[g] for g in schema.OFFENCE_GROUPS], dtype=np.float64)
    P /= P.sum(axis=1, keepdims=True)
    p = P[ev["offence"]]
    u = rng.random(count.size)
    first = ((u > p[:, 0]).astype(np.int8) + (u > p[:, 0] + p[:, 1])).astype(np.int8)
    rest = np.maximum(count - 1, 0)
    r_ind = rng.binomial(rest, p[:, 0])
    r_ew = rng.binomial(rest - r_ind, np.clip(p[:, 1] / (p[:, 1] + p[:, 2]), 0.0, 1.0))
    r_sum = rest - r_ind - r_ew
    pc = np.stack([risk.custody_probability(np.full(count.size, s), ev["prev_cust"], ev["prev"],
                                            ev["disposal"] == _CUSTODY, model)
                   for s in range(len(schema.SERIOUSNESS))], axis=1)
    first_cust = reoff & (rng.random(count.size) < pc[np.arange(count.size), first])
    custodial = (first_cust + rng.binomial(r_ind, pc[:, 0]) + rng.binomial(r_ew, pc[:, 1])
                 + rng.binomial(r_sum, pc[:, 2]))
    return {
        "first_seriousness": first,
        "indictable": (r_ind + (reoff & (first == 0))).astype(np.int16),
        "either_way": (r_ew + (reoff & (first == 1))).astype(np.int16),
        "summary": (r_sum + (reoff & (first == 2))).astype(np.int16),
        "first_custodial": first_cust.astype(np.int8),
        "custodial": np.where(reoff, custodial, 0).astype(np.int16),
    }


# --- identifiers and names ----------------------------------------------------------------------
def _digits(buf: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    v = values.astype(np.int64)
    for k in range(width):
        buf[:, col + width - 1 - k] = 48 + (v // 10 ** k) % 10


def _strings(buf: np.ndarray) -> pa.Array:
    width = buf.shape[1]
    return pa.array(np.ascontiguousarray(buf).view(f"S{width}").ravel()).cast(pa.string())


def _pnc_ids(year: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Unique PNC IDs: the year of first contact, a unique random-looking serial, check letter."""
    n = year.size
    order = np.lexsort((rng.random(n), year))
    ys = year[order]
    group_start = np.r_[0, np.flatnonzero(np.diff(ys)) + 1]
    sizes = np.diff(np.r_[group_start, n])
    rank = np.arange(n) - np.repeat(group_start, sizes)
    stride = max(1, min(25, 9_999_999 // max(int(sizes.max()), 1)))
    serial = np.empty(n, np.int64)
    serial[order] = rank * stride + rng.integers(1, stride + 1, n)
    check = (year % 100 * 10_000_000 + serial) % 23
    letters = np.frombuffer(CHECK_LETTERS.encode(), np.uint8)
    buf = np.empty((n, 13), np.uint8)
    _digits(buf, 0, year, 4)
    buf[:, 4] = ord("/")
    _digits(buf, 5, serial, 7)
    buf[:, 12] = letters[check]
    return _strings(buf)


def _prison_numbers(m: int, rng: np.random.Generator) -> pa.Array:
    """``m`` distinct prison numbers ``A1234BC``."""
    space = 26 * 10_000 * 26 * 26
    v = rng.choice(space, size=m, replace=False).astype(np.int64)
    buf = np.empty((m, 7), np.uint8)
    buf[:, 0] = 65 + v // (10_000 * 676)
    _digits(buf, 1, (v // 676) % 10_000, 4)
    buf[:, 5] = 65 + (v // 26) % 26
    buf[:, 6] = 65 + v % 26
    return _strings(buf)


class _Pool:
    """One string pool for every name column: indices into it become Arrow strings by take."""

    def __init__(self) -> None:
        self.strings: list[str] = []

    def add(self, items: list[str]) -> int:
        offset = len(self.strings)
        self.strings.extend(items)
        return offset

    def take(self, idx: np.ndarray) -> pa.Array:
        return pc.take(pa.array(self.strings, pa.string()), pa.array(idx.astype(np.int64)))


@dataclass
class _NameSource:
    table: N.NameTable
    offset: int                 # of the table in the pool
    var_offset: np.ndarray      # per name: first variant's index in the pool
    var_count: np.ndarray


def _name_source(table: N.NameTable, pool: _Pool) -> _NameSource:
    offset = pool.add(table.names)
    var_offset = np.empty(len(table), np.int64)
    var_count = np.empty(len(table), np.int64)
    for i, name in enumerate(table.names):
        variants = list(N.spelling_variants(name))
        var_offset[i] = pool.add(variants)
        var_count[i] = len(variants)
    return _NameSource(table, offset, var_offset, var_count)


def _draw_names(src: _NameSource, origin: dict[str, np.ndarray], rng: np.random.Generator
                ) -> np.ndarray:
    """Table indices; people flagged in ``origin[group]`` draw from names of that origin."""
    n = next(iter(origin.values())).size
    result = _choice_idx(rng, src.table.probabilities(), n)
    for group, use in origin.items():
        mask = src.table.groups == group
        if mask.any():
            specific = _choice_idx(rng, np.where(mask, src.table.weights, 0.0), n)
            result = np.where(use, specific, result)
    return result


def _choice_idx(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)


# --- assembly ----------------------------------------------------------------------------------
def _arrow_type(t: str) -> pa.DataType:
    return {
        "int64": pa.int64(), "int16": pa.int16(), "string": pa.string(), "date32": pa.date32(),
        "float32": pa.float32(), "bool": pa.bool_(), "Int8": pa.int8(), "Int16": pa.int16(),
    }[t]


def arrow_schema(columns: dict[str, str]) -> pa.Schema:
    """Arrow schema for one of schema.*_COLUMNS (nullable pandas ints map to nullable ints)."""
    return pa.schema([pa.field(name, _arrow_type(t)) for name, t in columns.items()])


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())


def _categorical(codes: np.ndarray, labels: tuple[str, ...]) -> pa.Array:
    return pc.take(pa.array(list(labels), pa.string()), pa.array(codes.astype(np.int64)))


@dataclass
class GeneratedData:
    """The three tables (Arrow) and the risk model, before writing."""

    people: pa.Table
    aliases: pa.Table
    events: pa.Table
    risk_model: dict[str, Any]
    generator_version: str = GENERATOR_VERSION
    realism: str = noise.DEFAULT_REALISM


def build_tables(people: int, seed: int, realism: str = noise.DEFAULT_REALISM) -> GeneratedData:
    """Generate the dataset in memory as Arrow tables (see :func:`generate_national`)."""
    _check_args(people, seed)
    noise.realism(realism)  # an unknown level fails before any work
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    # one stream per part: changing how one part draws leaves the others' draws unchanged
    r_people, r_events, r_names, r_alias, r_ids, r_further = streams
    model = risk.default_model()
    pp = _make_people(people, r_people)
    ev = _simulate_events(pp, r_events, model)
    further = _further_outcomes(ev, model, r_further)

    # Anyone with a custody event, or custody before the window, has a prison number.
    ever_custody = pp.prev_custody0 > 0
    ever_custody[ev["person"][ev["disposal"] == _CUSTODY]] = True

    # first contact year -> PNC year
    first_idx = np.r_[0, np.flatnonzero(np.diff(ev["person"])) + 1]
    afc = ev["afc"][first_idx]
    assert np.array_equal(ev["person"][first_idx], np.arange(people))
    birth_year = _ymd(pp.dob)[0]
    pnc_year = np.minimum(birth_year + afc, _ymd(ev["index"][first_idx])[0])
    pnc = _pnc_ids(pnc_year, r_ids)
    n_pris = int(ever_custody.sum())
    prison = _prison_numbers(n_pris, r_ids)
    pris_idx = np.full(people, -1, np.int64)
    pris_idx[ever_custody] = np.arange(n_pris)
    prison_col = pc.take(prison, pa.array(pris_idx, mask=pris_idx < 0))

    pool = _Pool()
    sur = _name_source(N.surnames(), pool)
    male = _name_source(N.male_forenames(), pool)
    fem = _name_source(N.female_forenames(), pool)
    # Most South Asian and some Black people have forename and surname of that origin; everyone
    # else draws from national frequencies (which include those names at their national weight).
    asian, black = schema.ETHNICITIES.index("Asian"), schema.ETHNICITIES.index("Black")
    origin = {"sa": (pp.ethnicity == asian) & (r_names.random(people) < 0.75),
              "af": (pp.ethnicity == black) & (r_names.random(people) < 0.35)}
    sn = _draw_names(sur, origin, r_names)
    fn_m = _draw_names(male, origin, r_names)
    fn_f = _draw_names(fem, origin, r_names)
    surname_pool = sur.offset + sn
    forename_pool = np.where(pp.female, fem.offset + fn_f, male.offset + fn_m)

    people_tbl = pa.Table.from_arrays([
        pa.array(np.arange(people, dtype=np.int64)), pnc, prison_col,
        pool.take(forename_pool), pool.take(surname_pool), _dates(pp.dob),
        _categorical(pp.female.astype(np.int64), ("M", "F")),
        _categorical(pp.ethnicity, schema.ETHNICITIES),
    ], schema=arrow_schema({k: v for k, v in schema.PEOPLE_COLUMNS.items() if k != "nationality"}))

    aliases_tbl = _make_aliases(pp, sn, fn_m, fn_f, sur, male, fem, pool, r_alias)
    # nationality and the national data's messiness (synth/noise.py), from a stream of its own
    people_tbl, aliases_tbl = noise.national_realism(people_tbl, aliases_tbl, realism, seed)
    # with outcomes observed to 2012-06-30 every index event (all end by 2010-12-31) is complete;
    # the flag stays for datasets generated with an earlier follow-up end
    complete = ev["index"] + schema.FOLLOWUP_DAYS + schema.PROVING_DAYS <= FOLLOWUP_END
    incomplete = ~complete
    events_tbl = pa.Table.from_arrays([
        pa.array(np.arange(ev["person"].size, dtype=np.int64)),
        pa.array(ev["person"]),
        _categorical(ev["disposal"], schema.DISPOSALS),
        _dates(ev["start"]), _dates(ev["index"]), _dates(ev["end"]),
        pa.array(_ymd(ev["index"])[0].astype(np.int16)),
        _categorical(ev["offence"], schema.OFFENCE_GROUPS),
        pa.array(ev["months"]),
        pa.array(ev["age"].astype(np.int16)),
        pa.array(ev["prev"]), pa.array(ev["prev_cust"]), pa.array(ev["afc"].astype(np.int16)),
        pa.array(ev["copas"]), pa.array(ev["ogrs"]),
        pa.array(ev["employed"]), pa.array(ev["on_benefit"]),
        _categorical(pp.region[ev["person"]], schema.REGIONS),
        pa.array(complete),
        pa.array(ev["reoff"].astype(np.int8), mask=incomplete),
        pa.array(ev["count"], mask=incomplete),
        pa.array(ev["days"], mask=incomplete | ~ev["reoff"]),
        pc.take(pa.array(list(schema.SERIOUSNESS), pa.string()),
                pa.array(further["first_seriousness"].astype(np.int64),
                         mask=incomplete | ~ev["reoff"])),
        pa.array(further["indictable"], mask=incomplete),
        pa.array(further["either_way"], mask=incomplete),
        pa.array(further["summary"], mask=incomplete),
        pa.array(further["first_custodial"], mask=incomplete),
        pa.array(further["custodial"], mask=incomplete),
    ], schema=arrow_schema(schema.EVENT_COLUMNS))
    return GeneratedData(people_tbl, aliases_tbl, events_tbl, model, realism=realism)


def _make_aliases(pp: _People, sn: np.ndarray, fn_m: np.ndarray, fn_f: np.ndarray,
                  sur: _NameSource, male: _NameSource, fem: _NameSource, pool: _Pool,
                  rng: np.random.Generator) -> pa.Table:
    """About 10% of people have one or two aliases: a surname spelling or a different surname,
    a forename spelling, and occasionally a different date of birth."""
    has = np.flatnonzero(rng.random(pp.n) < ALIAS_SHARE)
    k = np.where(rng.random(has.size) < 0.2, 2, 1)
    who = np.repeat(has, k)
    m = who.size
    female = pp.female[who]
    s_idx, fm_idx, ff_idx = sn[who], fn_m[who], fn_f[who]
    sur_out = sur.offset + s_idx
    fore_out = np.where(female, fem.offset + ff_idx, male.offset + fm_idx)
    kind = rng.random(m)
    # surname spelling variant (45%), another surname altogether (20%, e.g. a former or
    # partner's name), forename spelling variant (25%), same names (10%, the DOB differs below)
    u = rng.random(m)
    s_var = sur.var_offset[s_idx] + (u * sur.var_count[s_idx]).astype(np.int64)
    other_sur = sur.offset + _choice_idx(rng, sur.table.probabilities(), m)
    f_var = np.where(female, fem.var_offset[ff_idx] + (u * fem.var_count[ff_idx]).astype(np.int64),
                     male.var_offset[fm_idx] + (u * male.var_count[fm_idx]).astype(np.int64))
    sur_out = np.where(kind < 0.45, s_var, np.where(kind < 0.65, other_sur, sur_out))
    fore_out = np.where((kind >= 0.65) & (kind < 0.90), f_var, fore_out)
    # DOB: always different for the 10% "same names" kind, and for 5% of the others
    dob = pp.dob[who].astype(np.int64)
    diff_dob = (kind >= 0.90) | (rng.random(m) < 0.05)
    y, mo, d = _ymd(dob)
    swap_ok = (d <= 12) & (d != mo)
    swapped = _from_ymd(y, d, mo)  # day and month exchanged (only used where that is a date)
    how = rng.random(m)
    alt = np.where(swap_ok & (how < 0.4), swapped,
                   np.where(how < 0.7, dob + rng.choice([-365, 365], m),
                            dob + rng.integers(-40, 41, m)))
    alt = np.where(alt == dob, dob + 1, alt)
    dob_out = np.where(diff_dob, alt, dob)
    # "another surname" can draw the same one: use a spelling variant instead, so every alias
    # differs from the main record
    text = np.asarray(pool.strings, dtype=object)
    main_fore = np.where(female, fem.offset + ff_idx, male.offset + fm_idx)
    same = ((text[sur_out] == text[sur.offset + s_idx]) & (text[fore_out] == text[main_fore])
            & (dob_out == dob))
    sur_out = np.where(same, s_var, sur_out)
    return pa.Table.from_arrays([
        pa.array(who.astype(np.int64)), pool.take(fore_out), pool.take(sur_out), _dates(dob_out),
    ], schema=arrow_schema(schema.ALIAS_COLUMNS))


def _from_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970 for valid (year, month, day) arrays."""
    months = ((y - 1970) * 12 + (m - 1)).astype("timedelta64[M]")
    first = (np.datetime64("1970-01", "M") + months).astype("datetime64[D]")
    return (first - _EPOCH).astype(np.int64) + (d - 1)


def _check_args(people: int, seed: int) -> None:
    if isinstance(people, bool) or not isinstance(people, (int, np.integer)) or people < 1:
        raise InvalidArgument(f"people must be a whole number of at least 1, got {people!r}")
    if people > MAX_PEOPLE:
        raise InvalidArgument(f"people must be at most {MAX_PEOPLE:,}, got {people:,}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative whole number, got {seed!r}")


def generate_national(people: int = DEFAULT_PEOPLE, seed: int = DEFAULT_SEED,
                      out_dir: str | Path = "var/data/national", *,
                      overwrite: bool = False, realism: str = noise.DEFAULT_REALISM
                      ) -> dict[str, Any]:
    """Generate the national dataset into ``out_dir`` atomically and return its manifest.

    Simulation here (:func:`build_tables`), files in :mod:`jdl_core.synth.write`: they are
    written into a temporary directory beside ``out_dir`` and renamed into place only when
    complete, so a failure never leaves anything that looks like a dataset. ``out_dir`` must
    not exist or be empty, unless ``overwrite`` is set and it holds a previous dataset.
    Same ``people``, ``seed`` and ``realism`` give byte-identical files and manifest;
    ``realism`` (synth/noise.py) changes names and aliases only, never the index events.
    """
    _check_args(people, seed)
    noise.realism(realism)
    out = prepare_target(out_dir, overwrite)
    with staging_directory(out) as tmp:
        data = build_tables(people, seed, realism)
        manifest = write_tables(data, tmp, seed, people)
        del data
    return manifest


def summary(manifest: dict[str, Any], seconds: float | None = None) -> str:
    """A few lines describing a generated dataset (no personal data)."""
    rc, br = manifest["row_counts"], manifest["base_rates"]
    bd = br["by_disposal"]
    lines = [
        f"people {rc['people']:,}  aliases {rc['aliases']:,}  index events {rc['events']:,} "
        f"({br['events_with_complete_followup']:,} with complete follow-up)",
        f"one-year proven re-offending: overall {_pct(br['overall'])}; custody {_pct(bd['custody'])}, "
        f"community {_pct(bd['community'])}, caution {_pct(bd['caution'])}",
        f"index dates {manifest['coverage']['first_index_date']} to "
        f"{manifest['coverage']['last_index_date']}; seed {manifest['seed']}",
    ]
    if seconds is not None:
        lines.append(f"generated in {seconds:.1f} s")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


__all__ = ["DEFAULT_PEOPLE", "DEFAULT_SEED", "GENERATOR_VERSION", "GeneratedData",
           "arrow_schema", "build_tables", "generate_national", "summary"]
