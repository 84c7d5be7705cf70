"""Probabilistic pass: Splink (DuckDB) scores submitted rows against national name records."""
from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LinkageError
from ._national import PreparedNational
from .model import LinkageModel, _configure_connection

logger = logging.getLogger(__name__)

# Pairs scoring below this are dropped inside DuckDB: they can change neither the best candidate
# (which must reach the threshold) nor the margin test (a runner-up this weak is always far below).
_MIN_PAIR_PROBABILITY = 1e-4
_table_ids = itertools.count()


@dataclass
class _Runtime:
    """One DuckDB connection holding the national record table and term-frequency tables."""

    db_api: Any
    national_sdf: Any
    linkers: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, prepared: PreparedNational) -> _Runtime:
        from splink import DuckDBAPI

        db_api = DuckDBAPI()
        con = db_api.duckdb_con
        _configure_connection(con)
        # A native table (not a view over pandas) so every request scans columnar DuckDB storage.
        con.register("_national_records_df", prepared.records)
        con.execute("CREATE TABLE national_records AS SELECT * FROM _national_records_df")
        con.unregister("_national_records_df")
        national_sdf = db_api.register("national_records", table_name="national")
        return cls(db_api=db_api, national_sdf=national_sdf)

    def linker(self, model: LinkageModel) -> Any:
        from splink import Linker

        key = model.fingerprint
        linker = self.linkers.get(key)
        if linker is None:
            linker = Linker(self.national_sdf, model.splink_settings, log_level=None)
            # Term frequencies of names come from the national records only, computed once.
            for column in ("forename", "surname"):
                linker.table_management.compute_tf_table(column)
            self.linkers[key] = linker
        return linker

    def close(self) -> None:
        try:
            self.db_api.duckdb_con.close()
        except Exception:  # noqa: BLE001 - closing a dead connection is not an error
            pass


def score_pairs(prepared: PreparedNational, model: LinkageModel, submitted: pd.DataFrame) -> pd.DataFrame:
    """Scored candidate pairs: row_number, person_key, match_weight, match_probability.

    One line per (row, person): a person's best-scoring record (main name or alias) stands for them.
    """
    if submitted.empty:
        return pd.DataFrame({"row_number": pd.Series(dtype="int64"), "person_key": pd.Series(dtype="int64"),
                             "match_weight": pd.Series(dtype="float64"),
                             "match_probability": pd.Series(dtype="float64")})
    with prepared.lock:
        if prepared.runtime is None:
            prepared.runtime = _Runtime.build(prepared)
        runtime: _Runtime = prepared.runtime
        linker = runtime.linker(model)
        db_api = runtime.db_api
        name = f"submitted_{next(_table_ids)}"
        submitted_sdf = db_api.register(submitted, table_name=name)
        try:
            predictions = linker.inference.predict_between(
                runtime.national_sdf,
                submitted_sdf,
                threshold_match_probability=_MIN_PAIR_PROBABILITY,
                warning_mode="never",
            )
            pairs = predictions.as_pandas_dataframe()
            predictions.drop_table_from_database_and_remove_from_cache()
        finally:
            db_api.duckdb_con.unregister(name)
            # Splink refuses a table name registered before; the name is ours and now free.
            registered = getattr(db_api, "_registered_table_names", None)
            if isinstance(registered, set):
                registered.discard(name)
    if pairs.empty:
        return score_pairs(prepared, model, submitted.iloc[0:0])
    id_l = pairs["record_id_l"].to_numpy(dtype="int64")
    id_r = pairs["record_id_r"].to_numpy(dtype="int64")
    if (id_l < 0).any() or (id_r >= 0).any():
        raise LinkageError("linkage produced pairs in an unexpected orientation (national, submitted)")
    out = pd.DataFrame(
        {
            "row_number": -1 - id_r,
            "person_key": prepared.person_of_record[id_l],
            "match_weight": pairs["match_weight"].to_numpy(dtype="float64"),
            "match_probability": pairs["match_probability"].to_numpy(dtype="float64"),
        }
    )
    best = out.sort_values("match_weight", ascending=False).drop_duplicates(["row_number", "person_key"])
    return best.reset_index(drop=True)


def decide(
    pairs: pd.DataFrame, row_numbers: np.ndarray, *, threshold: float, margin_bits: float
) -> pd.DataFrame:
    """One decision per submitted row: row_number, person_key, status, match_probability, match_weight.

    - best person's match probability >= ``threshold`` and the runner-up (a different person) at
      least ``margin_bits`` lower in match weight -> "linked_probabilistic";
    - best >= threshold but a runner-up within the margin -> "ambiguous" (not linked);
    - otherwise -> "not_found". ``match_probability`` and ``match_weight`` are the best
      candidate's (0 and -inf when there is none).
    """
    ranked = pairs.sort_values(["row_number", "match_weight"], ascending=[True, False])
    ranked["rank"] = ranked.groupby("row_number").cumcount()
    first = ranked.loc[ranked["rank"] == 0].set_index("row_number")
    second = ranked.loc[ranked["rank"] == 1].set_index("row_number")["match_weight"]
    out = pd.DataFrame({"row_number": row_numbers.astype("int64")}).set_index("row_number", drop=False)
    best_p = first["match_probability"].reindex(out.index).fillna(0.0)
    best_w = first["match_weight"].reindex(out.index).fillna(-math.inf)
    second_w = second.reindex(out.index).fillna(-math.inf)
    above = best_p >= threshold
    clear = (best_w - second_w) >= margin_bits
    status = np.where(above & clear, "linked_probabilistic", np.where(above, "ambiguous", "not_found"))
    person = first["person_key"].reindex(out.index).astype("Int64").where(above & clear, pd.NA)
    return pd.DataFrame(
        {
            "row_number": out["row_number"].to_numpy(),
            "person_key": person.to_numpy(),
            "status": status,
            "match_probability": best_p.to_numpy(dtype="float64"),
            "match_weight": best_w.to_numpy(dtype="float64"),
        }
    )
