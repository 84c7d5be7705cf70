"""The contract of the synthetic national re-offending dataset and of the upload template.

Every module that reads or writes the national dataset uses these names. The dataset directory
holds ``people.parquet``, ``aliases.parquet``, ``events.parquet``, ``manifest.json`` and
``risk_model.json`` (the true outcome model, so tests know the truth).
"""
from __future__ import annotations

from typing import Final

DATASET_VERSION: Final = "1.2"   # 1.1: outcomes to 2012-06-30, measures 4-7; 1.2: nationality

PEOPLE_FILE: Final = "people.parquet"
ALIASES_FILE: Final = "aliases.parquet"
EVENTS_FILE: Final = "events.parquet"
MANIFEST_FILE: Final = "manifest.json"
RISK_MODEL_FILE: Final = "risk_model.json"
LINKAGE_MODEL_FILE: Final = "linkage_model.json"  # trained Splink model, versioned, beside the data

# The demo dataset: its size and seed, the defaults of `jdl data generate`, `jdl up`/`jdl demo`
# and deploy/ alike (tests/unit/test_default_seed.py holds deploy/ to the seed).
DEFAULT_PEOPLE: Final = 100_000
DEFAULT_SEED: Final = 20260101

# Index events run over this window; an event is eligible for analysis only when its one-year
# follow-up plus six months for the proving conviction ends on or before FOLLOWUP_END. Outcomes
# are observed to 2012-06-30 so that every index event of 2002-2010 has its follow-up (the
# seed's "2010 cohort, outcomes in 2011-12"). These are the generator's defaults: everything
# downstream (intake window, analysable window, the report's period) reads them from the
# dataset's manifest (``national.DataWindow``), so a dataset is its own single source.
COVERAGE_START: Final = "2002-01-01"
COVERAGE_END: Final = "2010-12-31"
FOLLOWUP_END: Final = "2012-06-30"
FOLLOWUP_DAYS: Final = 365
PROVING_DAYS: Final = 182

# people.parquet: one row per person
PEOPLE_COLUMNS: Final = {
    "person_key": "int64",          # internal key, 0..N-1
    "pnc_id": "string",             # canonical YYYY/NNNNNNNC
    "prison_number": "string",      # A1234BC, null if never in custody
    "forename": "string",
    "surname": "string",
    "date_of_birth": "date32",
    "sex": "string",                # "M" | "F"
    "ethnicity": "string",          # "White" | "Black" | "Asian" | "Mixed" | "Other"
    "nationality": "string",        # one of NATIONALITIES
}

# aliases.parquet: other names (and occasionally another date of birth) a person is known by
ALIAS_COLUMNS: Final = {
    "person_key": "int64",
    "forename": "string",
    "surname": "string",
    "date_of_birth": "date32",
}

DISPOSALS: Final = ("custody", "community", "caution")
OFFENCE_GROUPS: Final = (
    "violence", "robbery", "burglary", "theft", "fraud", "drugs",
    "criminal_damage", "public_order", "motoring", "other",
)
REGIONS: Final = (
    "North East", "North West", "Yorkshire and the Humber", "East Midlands", "West Midlands",
    "East of England", "London", "South East", "South West", "Wales",
)
ETHNICITIES: Final = ("White", "Black", "Asian", "Mixed", "Other")
# As the MoJ's Offender Management Statistics record it.
NATIONALITIES: Final = ("British", "Foreign national", "Not recorded")

# events.parquet: one row per index event (disposal)
EVENT_COLUMNS: Final = {
    "event_id": "int64",
    "person_key": "int64",
    "disposal": "string",           # one of DISPOSALS
    "start_date": "date32",         # custody: reception; community: order start; caution: date
    "index_date": "date32",         # custody: release; community: order start; caution: date
    "end_date": "date32",           # custody: release; community: order end; caution: date
    "index_year": "int16",
    "offence_group": "string",      # one of OFFENCE_GROUPS
    "sentence_months": "float32",   # custody/community length; 0 for cautions
    "age_at_index": "int16",
    "prev_offences": "int16",       # proven offences before the index date
    "prev_custody": "int16",        # previous custodial sentences
    "age_first_contact": "int16",
    "copas_rate": "float32",        # log((offences+1)/(years since first contact+10))
    "ogrs_score": "float32",        # OGRS-style 2-year risk, 0..100
    "employed": "bool",             # in the year before the index date
    "on_benefit": "bool",
    "region": "string",             # one of REGIONS
    "followup_complete": "bool",    # index_date + FOLLOWUP_DAYS + PROVING_DAYS <= FOLLOWUP_END
    "reoffended": "Int8",           # 0/1, null when follow-up is not complete
    "reoffence_count": "Int16",     # proven re-offences in the year, null when incomplete
    "days_to_first": "Int16",       # days to first proven re-offence, null if none/incomplete
    # JDL measures 4-7 (null when follow-up is incomplete):
    "first_seriousness": "string",  # one of SERIOUSNESS for the first re-offence, null if none
    "reoffences_indictable": "Int16",   # re-offences in the year by seriousness (sum = count)
    "reoffences_either_way": "Int16",
    "reoffences_summary": "Int16",
    "first_custodial": "Int8",      # 0/1: custodial sentence for the first re-offence (0 if none)
    "custodial_sentences": "Int16",  # custodial sentences for re-offences in the year
}
# Seriousness of a proven re-offence (the JDL's Tables 4-5): indictable only, triable either
# way, summary.
SERIOUSNESS: Final = ("indictable", "either_way", "summary")

# The Data Upload Template (methodology.md section 2): columns of a submitted cohort file.
UPLOAD_REQUIRED: Final = ("forename", "surname", "date_of_birth", "sex", "intervention_start", "setting")
UPLOAD_OPTIONAL: Final = ("pnc_id", "prison_number", "intervention_end", "other_id")
# Programme attributes an organisation may add for sub-analyses (methodology.md section 2):
# kept as short text per person, encrypted with the cohort, analysed by subgroups.py.
PROGRAMME_ATTRIBUTES: Final = ("completed", "sessions_attended", "delivery_mode", "location")
# Longest attribute value kept; anything longer is free text, not a category.
ATTRIBUTE_MAX_CHARS: Final = 40
# Settings (custody/community) a programme may target.
SETTINGS: Final = ("custody", "community")
