"""Synthetic national re-offending dataset: generator, name tables, true risk model, cohorts."""
from __future__ import annotations

from .generator import DEFAULT_PEOPLE, DEFAULT_SEED, GENERATOR_VERSION, generate_national
from .risk import load_risk_model, true_probability

__all__ = ["DEFAULT_PEOPLE", "DEFAULT_SEED", "GENERATOR_VERSION", "generate_national",
           "load_risk_model", "true_probability"]
