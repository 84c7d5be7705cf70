"""Comparison groups by propensity score matching: ``from jdl_core.matching import MatchSpec, match``."""
from __future__ import annotations

from .balance import balance_table
from .core import METHODS, MatchResult, match
from .propensity import PropensityModel
from .spec import COVARIATE_KINDS, DEFAULT_COVARIATES, MatchSpec

__all__ = ["MatchSpec", "MatchResult", "match", "METHODS", "PropensityModel", "balance_table",
           "COVARIATE_KINDS", "DEFAULT_COVARIATES"]
