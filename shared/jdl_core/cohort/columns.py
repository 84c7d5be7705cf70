"""Column vocabulary of an upload: readable labels, the headings people write for each canonical
column, the headings refused as too sensitive, and how messages name a column."""
from __future__ import annotations

import re
import unicodedata
from typing import Final

from ..schema import PROGRAMME_ATTRIBUTES, UPLOAD_OPTIONAL, UPLOAD_REQUIRED

LABELS: Final[dict[str, str]] = {
    "forename": "forename", "surname": "surname", "date_of_birth": "date of birth", "sex": "sex",
    "intervention_start": "intervention start date", "setting": "setting (custody or community)",
    "pnc_id": "PNC ID", "prison_number": "prison number",
    "intervention_end": "intervention end date", "other_id": "other identifier",
    "completed": "completed the programme", "sessions_attended": "sessions attended",
    "delivery_mode": "delivery mode", "location": "location",
}
KNOWN_COLUMNS: Final = tuple(UPLOAD_REQUIRED) + tuple(UPLOAD_OPTIONAL) + tuple(PROGRAMME_ATTRIBUTES)

# Headings people actually write, matched after dropping case, spaces, punctuation and anything in
# brackets (so "Date of Birth (DD/MM/YYYY)", "D.O.B." and "date_of_birth" all match).
SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "forename": ("forename", "forenames", "first name", "first names", "given name", "given names",
                 "christian name", "name first", "fname"),
    "surname": ("surname", "last name", "family name", "second name", "name last", "lname"),
    "date_of_birth": ("date of birth", "dob", "birth date", "birthdate", "date birth", "born"),
    "sex": ("sex", "gender", "sex mf", "male female"),
    "intervention_start": ("intervention start", "intervention start date", "start date", "start",
                           "programme start", "programme start date", "program start",
                           "program start date", "start of intervention", "date started",
                           "intervention date", "date of intervention"),
    "intervention_end": ("intervention end", "intervention end date", "end date", "end",
                         "programme end", "programme end date", "program end", "program end date",
                         "end of intervention", "date ended", "date left"),
    "setting": ("setting", "custody or community", "custody community", "custodial or community",
                "custody status"),
    "pnc_id": ("pnc id", "pnc", "pnc number", "pnc no", "pnc ref", "pnc reference",
               "police national computer id", "police national computer number"),
    "prison_number": ("prison number", "prison no", "prison id", "prisoner number", "prisoner no",
                      "prisoner id", "noms number", "noms no", "noms id", "nomis number",
                      "nomis id", "prison ref"),
    "other_id": ("other id", "other identifier", "other identifiers", "client id",
                 "client reference", "case id", "case reference", "your reference", "reference",
                 "ref", "crn"),
    "completed": ("completed", "completer", "completed programme", "completed the programme",
                  "programme completed", "completion"),
    "sessions_attended": ("sessions attended", "sessions", "number of sessions", "attendance"),
    "delivery_mode": ("delivery mode", "mode of delivery", "delivery", "mode"),
    "location": ("location", "site", "venue", "delivery location"),
}

# Refused columns (methodology.md section 2): special-category data under UK GDPR art. 9
# (health, sex life or sexual orientation, religion or belief, racial or ethnic origin, political
# opinion, trade union membership, genetic or biometric data) and free text about a person.
# Whole words of the heading (camelCase split) ...
SENSITIVE_WORDS: Final = frozenset({
    "health", "medical", "medication", "medications", "medicine", "diagnosis", "diagnoses",
    "diagnosed", "illness", "mental", "psychiatric", "psychological", "disability", "disabilities",
    "disabled", "gp", "nhs", "hiv", "pregnant", "pregnancy", "treatment", "therapy", "counselling",
    "drug", "drugs", "alcohol", "substance", "addiction", "addictions",
    "sexuality", "orientation", "gay", "lesbian", "bisexual", "lgbt", "lgbtq", "lgbtqi", "trans",
    "transgender", "religion", "religious", "faith", "belief", "beliefs",
    "ethnicity", "ethnic", "race", "racial", "political", "politics", "union",
    "genetic", "biometric", "biometrics", "dna", "fingerprint", "fingerprints",
    "note", "notes", "comment", "comments", "remark", "remarks", "narrative", "observation",
    "observations", "description", "freetext",
})
# ... and fragments of the heading with spaces and punctuation removed ("MentalHealthNeeds").
SENSITIVE_FRAGMENTS: Final = ("health", "medic", "diagnos", "sexual", "religio", "psychiatr",
                              "disabilit", "ethnic", "freetext", "genderidentity")


def _header_key(heading: str) -> str:
    text = unicodedata.normalize("NFKC", heading).replace("\ufeff", "")
    text = re.sub(r"\(.*?\)|\[.*?\]", " ", text)   # drop "(DD/MM/YYYY)" and similar hints
    return re.sub(r"[^0-9a-z]", "", text.lower())


_SYNONYM_KEYS: Final[dict[str, str]] = {
    _header_key(v): canon for canon, variants in SYNONYMS.items() for v in (canon, *variants)
}


def canonical_column(heading: str) -> str | None:
    """The canonical upload column a heading names, or None when it is not recognised."""
    return _SYNONYM_KEYS.get(_header_key(heading))


def is_sensitive_column(heading: str) -> bool:
    """Whether a heading names data too sensitive to accept (see SENSITIVE_WORDS / _FRAGMENTS)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", unicodedata.normalize("NFKC", heading))
    words = re.findall(r"[a-z0-9]+", spaced.lower())
    compact = "".join(words)
    return any(w in SENSITIVE_WORDS for w in words) or any(f in compact for f in SENSITIVE_FRAGMENTS)


def _column_letter(position: int) -> str:
    """Spreadsheet letters of a 1-based column position (1 -> A, 27 -> AA)."""
    letters = ""
    while position > 0:
        position, rem = divmod(position - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _heading_label(heading: str, position: int) -> str:
    """How a message names a column: by its position and spreadsheet letter, never by its heading.

    A heading is submitted text like any cell (a column headed with a person's name, or a first
    row of people when the header is missing), so it is never echoed: not in refusals, warnings,
    exceptions or logs. ``heading`` is accepted so callers need not change when that rule does."""
    del heading
    return f"column {position} ({_column_letter(position)})"

