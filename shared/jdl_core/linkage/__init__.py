"""Linkage of submitted cohort rows to national person keys: exact identifiers, then Splink.

Public API::

    from jdl_core.linkage import link_cohort, train_linkage_model, load_linkage_model
    model = load_linkage_model(national)          # trains and saves beside the data if absent
    result = link_cohort(rows, national)          # result.links, result.counts

Modules: ``prepare`` (standardised names, blocking keys), ``variants`` (nickname and spelling
groups), ``model`` (comparisons, training), ``exact`` and ``probabilistic`` (the two passes),
``link`` (decision per row, one row per person), ``quality`` (shortfall wording, accuracy
against a synthetic truth). Decision rule and measured precision/recall:
services/linkage/README.md.
"""
from __future__ import annotations

from ._national import clear_cache
from .link import (
    DEFAULT_MARGIN_BITS,
    DEFAULT_THRESHOLD,
    LINKED_STATUSES,
    STATUSES,
    LinkageResult,
    LinkStatus,
    link_cohort,
)
from .model import LinkageModel, load_linkage_model, train_linkage_model


def warm_up(national) -> None:
    """Do once what the first ``link_cohort`` call would: load the trained model and build the
    prepared national side (indexes, DuckDB tables). Workers call it at start-up."""
    from ._national import prepared_national
    from .probabilistic import _Runtime

    load_linkage_model(national)
    prepared = prepared_national(national)
    with prepared.lock:
        # the process's own DuckDB copy of the records: seconds at national scale, so not in
        # the first request's time
        if prepared.runtime is None:
            prepared.runtime = _Runtime.build(prepared)

__all__ = [
    "warm_up",
    "DEFAULT_MARGIN_BITS",
    "DEFAULT_THRESHOLD",
    "LINKED_STATUSES",
    "STATUSES",
    "LinkStatus",
    "LinkageModel",
    "LinkageResult",
    "clear_cache",
    "link_cohort",
    "load_linkage_model",
    "train_linkage_model",
]
