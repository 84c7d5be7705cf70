"""Linkage of submitted cohort rows to national person keys: exact identifiers, then Splink.

Public API::

    from jdl_core.linkage import link_cohort, train_linkage_model, load_linkage_model
    model = load_linkage_model(national)          # trains and saves beside the data if absent
    result = link_cohort(rows, national)          # result.links, result.counts
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

__all__ = [
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
