"""The probabilistic linkage model: Splink settings, unsupervised training, versioned JSON beside the data."""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import schema
from ..errors import LinkageError
from . import variants
from ._national import dataset_fingerprint, national_path, prepared_national

if TYPE_CHECKING:
    from ..national import NationalData

logger = logging.getLogger(__name__)

MODEL_FORMAT_VERSION = "1"

# Training defaults. u comes from random pairs of national records (almost all non-matches);
# m comes from expectation maximisation on pairs sharing a blocking key, where the matches are a
# person's own alias records. Nothing from the generator's truth is used.
DEFAULT_SEED = 20240601
DEFAULT_U_MAX_PAIRS = 5e6
# EM on all blocked pairs of a sample of people: pair-level sampling (Splink's max_pairs) changes
# which pairs EM sees with the table names and, near 0.2% matches, which solution it finds.
DEFAULT_EM_MAX_PAIRS: float | None = None
DEFAULT_EM_SAMPLE_PEOPLE = 30_000
# No comparison level is made impossible for a true match (see regularise_m).
M_FLOOR = 1e-3
# The national aliases (EM's matches) hardly ever drop one part of a double-barrelled surname,
# so EM cannot estimate how often a match agrees only on a part and would drive it to 0: it is
# fixed at 2% (people with such a surname are a few per cent, and agencies drop a part often).
SURNAME_PART_M = 0.02


def comparisons() -> list[Any]:
    """The comparisons of the model, strongest agreement first in each."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def sql_or_false(sql: str) -> str:
        # a NULL in a helper column (no variant group, a one-part surname) is "no", not unknown
        return f"coalesce({sql}, false)"

    def name(col: str, label: str, variant: str, sound: str, extra: list[Any]) -> Any:
        return cl.CustomComparison(
            output_column_name=col,
            comparison_description=label,
            comparison_levels=[
                cll.NullLevel(col),
                # Term-frequency adjusted: agreeing on Smith says less than agreeing on Okafor.
                cll.ExactMatchLevel(col, term_frequency_adjustments=True),
                # Bill/William, Mohammed/Muhammad: edit distance misses or under-rates these.
                cll.CustomLevel(sql_or_false(f"{variant}_l = {variant}_r"),
                                label_for_charts=f"Known variant of the {col}"),
                # One insertion, deletion, substitution or transposition: the usual keying slip.
                cll.DamerauLevenshteinLevel(col, 1),
                *extra,
                cll.JaroWinklerLevel(col, 0.92),
                cll.CustomLevel(sql_or_false(f"{sound}_l = {sound}_r"),
                                label_for_charts=f"Same Soundex code of the {col}"),
                cll.JaroWinklerLevel(col, 0.80),
                cll.ElseLevel(),
            ],
        )

    # Smith-Jones recorded as Smith or as Jones (parts are NULL for a one-part surname).
    surname_part = cll.CustomLevel(
        sql_or_false("sn_first_l = surname_r or sn_last_l = surname_r or sn_first_r = surname_l "
                     "or sn_last_r = surname_l or (sn_first_l = sn_last_r and sn_last_l = sn_first_r)"),
        label_for_charts="One part of a double-barrelled surname",
    ).configure(m_probability=SURNAME_PART_M, fix_m_probability=True)

    # Date of birth is two comparisons, year and day-of-year (md = month * 100 + day), so that EM
    # can train each on pairs blocked by the other (see train_linkage_model). Both agreeing is
    # the exact date; a transposed day and month keeps the year and swaps md's halves; a date
    # one field off keeps two of year, month and day.
    year = cl.CustomComparison(
        output_column_name="dob_year",
        comparison_description="Year of birth",
        comparison_levels=[
            cll.NullLevel("yob"),
            cll.ExactMatchLevel("yob"),
            cll.CustomLevel("abs(yob_l - yob_r) = 1", label_for_charts="Year of birth one apart"),
            cll.CustomLevel(
                "yob_l // 10 = yob_r // 10 or (yob_l % 10 = yob_r % 10 and yob_l // 100 = yob_r // 100)",
                label_for_charts="Year of birth one digit different",
            ),
            cll.ElseLevel(),
        ],
    )
    day_month = cl.CustomComparison(
        output_column_name="dob_day_month",
        comparison_description="Day and month of birth",
        comparison_levels=[
            cll.NullLevel("md"),
            cll.ExactMatchLevel("md"),
            cll.CustomLevel(
                "md_l // 100 = md_r % 100 and md_l % 100 = md_r // 100",
                label_for_charts="Day and month transposed",
            ),
            cll.CustomLevel("md_l // 100 = md_r // 100", label_for_charts="Same month, another day"),
            cll.CustomLevel("md_l % 100 = md_r % 100", label_for_charts="Same day, another month"),
            cll.ElseLevel(),
        ],
    )
    return [name("forename", "Forename", "fn_var", "fn_sx", []),
            name("surname", "Surname", "sn_var", "sn_sx", [surname_part]), year, day_month,
            cl.ExactMatch("sex")]


def blocking_rules() -> list[Any]:
    """Candidate pairs for prediction: each rule survives a different kind of error.

    Against 1,000,000 people each rule yields tens of candidates per submitted row, so a
    1,000-row cohort is scored on a few hundred thousand pairs.
    """
    from splink import block_on

    return [
        block_on("dob"),                 # any name error, exact date of birth
        block_on("surname", "yob"),      # day/month transposed or mistyped
        block_on("fn_sx", "sn_sx"),      # wrong date of birth, names alike in sound
        block_on("forename", "md"),      # new or mistyped surname and a wrong year
    ]


def settings_creator(probability_two_random_records_match: float = 1e-6) -> Any:
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="record_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=blocking_rules(),
        probability_two_random_records_match=probability_two_random_records_match,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        max_iterations=25,
        em_convergence=1e-4,
    )


@functools.cache
def model_spec_sha256() -> str:
    """Hash of the model's structure (comparison levels, blocking rules and variant groups), not its parameters:
    a model file written by a version of this code with other comparisons is retrained."""
    spec = settings_creator().create_settings_dict("duckdb")
    structure = {
        "comparisons": [
            [lvl.get("sql_condition") for lvl in c["comparison_levels"]] for c in spec["comparisons"]
        ],
        "blocking_rules": [
            br["blocking_rule"] if isinstance(br, dict) else str(br)
            for br in spec["blocking_rules_to_generate_predictions"]
        ],
        # the variant groups decide which pairs reach the "known variant" levels
        "variants": [sorted(variants.forename_keys().items()), sorted(variants.surname_keys().items())],
    }
    return hashlib.sha256(json.dumps(structure, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class LinkageModel:
    """A trained Splink model and the dataset it belongs to (stored as JSON beside the data)."""

    splink_settings: dict[str, Any] = field(repr=False)
    dataset_version: str
    manifest_sha256: str
    n_people: int
    trained_at: str
    training: dict[str, Any] = field(default_factory=dict)
    splink_version: str = ""
    spec_sha256: str = ""               # hash of the comparisons and blocking rules (no parameters)
    format_version: str = MODEL_FORMAT_VERSION

    @property
    def fingerprint(self) -> str:
        """Stable hash of the model parameters (a cache key for prepared linkers)."""
        text = json.dumps(self.splink_settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> LinkageModel:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LinkageError(f"linkage model file is not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict) or data.get("format_version") != MODEL_FORMAT_VERSION:
            got = data.get("format_version") if isinstance(data, dict) else None
            raise LinkageError(
                f"linkage model format_version is {got!r}; this software reads {MODEL_FORMAT_VERSION!r}",
                hint="retrain with `train_linkage_model`",
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> Path:
        """Write atomically (a half-written model must never be loaded by a concurrent request)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".linkage_model.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.to_json())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> LinkageModel:
        path = Path(path)
        if not path.is_file():
            raise LinkageError(f"linkage model file {str(path)!r} does not exist")
        return cls.from_json(path.read_text(encoding="utf-8"))

    def matches(self, national: NationalData) -> bool:
        """True when the model was trained on this version of the national dataset, with the
        comparisons and blocking rules this software defines."""
        version, sha = dataset_fingerprint(national)
        return (self.manifest_sha256 == sha and self.dataset_version == version
                and self.spec_sha256 == model_spec_sha256())


def train_linkage_model(
    national: NationalData,
    out_path: str | Path | None = None,
    *,
    seed: int = DEFAULT_SEED,
    u_max_pairs: float = DEFAULT_U_MAX_PAIRS,
    em_max_pairs: float | None = DEFAULT_EM_MAX_PAIRS,
    em_sample_people: int = DEFAULT_EM_SAMPLE_PEOPLE,
) -> LinkageModel:
    """Estimate the model without labels and save it (default: ``<dataset>/linkage_model.json``).

    Training links the national people table to the national alias table (``link_only``): an
    alias is another record of some person, recorded with different details, so these two tables
    hold true matches that EM can find without being told which they are.

    - u: random sampling of (person, alias) record pairs (``u_max_pairs``, ``seed``): almost all
      are different people.
    - m: expectation maximisation on pairs sharing a date of birth (estimates forename, surname
      and sex), then on pairs sharing forename and sex (estimates surname and date of birth).
      Splink averages a comparison's m over the sessions that estimated it.
    - regularisation (``regularise_m``): aliases differ from the main record by construction, so
      EM sees near-spellings more often than exact agreement among matches; the fitted Bayes
      factors are made non-increasing from the closest agreement level to the loosest (pool
      adjacent violators), and no level is made impossible for a match (m >= M_FLOOR).
    - prior: a submitted row is, a priori, equally likely to be any of the N national people, so
      the probability that a random (row, person) pair matches is 1/N.
    """
    import splink
    from splink import DuckDBAPI, Linker, block_on

    started = time.perf_counter()
    prepared = prepared_national(national)
    version, sha = dataset_fingerprint(national)
    n_people = int(len(national.people))
    n_aliases = int(len(prepared.records)) - n_people
    if n_people < 2 or n_aliases < 1:
        raise LinkageError(
            f"training needs at least 2 people and 1 alias record; the national data has {n_people} "
            f"people and {n_aliases} aliases"
        )

    records = prepared.records
    is_alias = np.arange(len(records)) >= n_people
    # EM runs on a random sample of people with all their recorded aliases: the share of true
    # matches among blocked pairs falls as 1/N, and with 50,000 people or more EM sometimes
    # settles on near-spellings of different people instead. m is a property of matching pairs,
    # so a sample estimates it as well as the whole; EM is never told which pairs match.
    rng = np.random.default_rng(seed)
    n_sample = min(n_people, em_sample_people)
    person_keys = national.people["person_key"].to_numpy(dtype="int64")
    sampled_keys = rng.choice(person_keys, size=n_sample, replace=False)
    in_sample = np.isin(prepared.person_of_record, sampled_keys)

    db_api = DuckDBAPI()
    _configure_connection(db_api.duckdb_con)
    # Each session blocks on something independent of the comparisons it trains, and leaves at
    # least two informative comparisons free, so EM can tell matches from non-matches:
    em_rules = [
        block_on("md"),                       # trains forename, surname, sex, year of birth
        block_on("yob", "forename", "sex"),   # trains surname, day and month of birth
        # (exact date of birth is not a session: among matches it leaves too few near-spellings
        # that are neither exact nor known variants, and EM drives their m to 0)
    ]
    try:
        linker = Linker(
            [db_api.register(records.loc[~is_alias], table_name="national_people"),
             db_api.register(records.loc[is_alias], table_name="national_aliases")],
            settings_creator(), log_level=None,
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
        with_u = linker.misc.save_model_to_json()
        em_linker = Linker(
            [db_api.register(records.loc[~is_alias & in_sample], table_name="sample_people"),
             db_api.register(records.loc[is_alias & in_sample], table_name="sample_aliases")],
            with_u, log_level=None,
        )
        for rule in em_rules:
            try:
                em_linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, max_pairs=em_max_pairs, estimate_without_term_frequencies=True
                )
            except ValueError as exc:  # Splink rejects degenerate fits (an m of exactly 0)
                raise LinkageError(
                    "expectation maximisation failed on blocking rule "
                    f"{rule.get_blocking_rule('duckdb').blocking_rule_sql!r}: {exc}"
                ) from exc
        raw = em_linker.misc.save_model_to_json()
    finally:
        db_api.duckdb_con.close()
    settings = regularise_m(raw)
    settings["probability_two_random_records_match"] = 1.0 / n_people
    model = LinkageModel(
        splink_settings=settings,
        dataset_version=version,
        manifest_sha256=sha,
        n_people=n_people,
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        training={
            "method": "link people to aliases; u by random sampling; m by expectation "
                      "maximisation (unsupervised), monotone and floored",
            "seed": seed,
            "u_max_pairs": u_max_pairs,
            "em_max_pairs": em_max_pairs,
            "em_sample_people": n_sample,
            "em_blocking_rules": [r.get_blocking_rule("duckdb").blocking_rule_sql for r in em_rules],
            "m_floor": M_FLOOR,
            "n_people": n_people,
            "n_alias_records": n_aliases,
            "m_before_regularisation": {
                c["output_column_name"]: [lvl.get("m_probability") for lvl in c["comparison_levels"]]
                for c in raw["comparisons"]
            },
            "seconds": round(time.perf_counter() - started, 2),
        },
        splink_version=splink.__version__,
        spec_sha256=model_spec_sha256(),
    )
    target = Path(out_path) if out_path is not None else _default_model_path(national)
    if target is not None:
        model.save(target)
        logger.info("linkage model trained and saved", extra={"seconds": model.training["seconds"]})
    return model


def regularise_m(settings: dict[str, Any]) -> dict[str, Any]:
    """Floor and make monotone the m probabilities of every comparison (returns a copy).

    Levels are ordered from closest agreement to "all other comparisons". For each comparison:
    0. a level with no u (never seen among the random pairs) takes the u of the level above it;
    1. m_k = max(m_k, M_FLOOR), renormalised: a keying error can put a true match at any level,
       and an m of 0 would veto a link outright;
    2. the Bayes factors m_k / u_k are made non-increasing down the levels by pooling adjacent
       violators (m and u summed over a pooled block, the block's factor given to each level),
       which keeps the m of the comparison summing to 1.
    """
    out = copy.deepcopy(settings)
    for comparison in out["comparisons"]:
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        if not levels:
            continue
        # A level never seen among the random pairs (e.g. a part of a double-barrelled surname
        # in data that has none) gets the u of the level above it: as rare a coincidence as
        # the closer agreement, rather than no u at all.
        for above, lvl in zip(levels, levels[1:]):
            if not isinstance(lvl.get("u_probability"), (int, float)):
                lvl["u_probability"] = above.get("u_probability")
        m = np.array([float(lvl.get("m_probability") or 0.0) for lvl in levels])
        u = np.array([max(float(lvl.get("u_probability") or 0.0), 1e-12) for lvl in levels])
        m = np.maximum(m, M_FLOOR)
        m = m / m.sum()
        # Pool adjacent violators on the ratio m/u (non-increasing), weights u.
        blocks: list[list[float]] = []  # [m_sum, u_sum, count]
        for mk, uk in zip(m, u):
            blocks.append([mk, uk, 1])
            while len(blocks) > 1 and blocks[-1][0] / blocks[-1][1] > blocks[-2][0] / blocks[-2][1]:
                m2, u2, c2 = blocks.pop()
                blocks[-1][0] += m2
                blocks[-1][1] += u2
                blocks[-1][2] += c2
        fitted: list[float] = []
        i = 0
        for m_sum, u_sum, count in blocks:
            ratio = m_sum / u_sum
            fitted.extend(ratio * u[i + j] for j in range(int(count)))
            i += int(count)
        for lvl, value in zip(levels, fitted):
            lvl["m_probability"] = float(value)
    return out


def load_linkage_model(national: NationalData, *, train_if_missing: bool = True) -> LinkageModel:
    """Load ``<dataset>/linkage_model.json``; train and save it when absent or trained on other data."""
    path = _default_model_path(national)
    if path is not None and path.is_file():
        model = _load_cached(path)
        if model.matches(national):
            return model
        if not train_if_missing:
            raise LinkageError(
                f"linkage model {str(path)!r} was trained on another dataset version "
                f"({model.manifest_sha256[:12]}) or with other comparisons",
                hint="retrain with `train_linkage_model`",
            )
    elif not train_if_missing:
        raise LinkageError(
            f"no linkage model at {str(path)!r}", hint="train one with `train_linkage_model`"
        )
    return train_linkage_model(national, path)


_LOADED: dict[str, tuple[tuple[int, int], LinkageModel]] = {}


def _load_cached(path: Path) -> LinkageModel:
    """Parse a model file once per version of the file (requests load it on every call)."""
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    hit = _LOADED.get(str(path))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    model = LinkageModel.load(path)
    _LOADED[str(path)] = (stamp, model)
    return model


def _default_model_path(national: NationalData) -> Path | None:
    base = national_path(national)
    return None if base is None else base / schema.LINKAGE_MODEL_FILE


def _configure_connection(con: Any) -> None:
    # Never spill to a temporary directory: personal data stays in memory or in the dataset dir.
    con.execute("SET temp_directory = ''")
    con.execute("SET preserve_insertion_order = false")
