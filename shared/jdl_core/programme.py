"""The description of a programme submitted with a cohort, and the rule that refuses untestable ones.

A ``Programme`` says who submitted the cohort (organisation, org id, contact), what the programme
is (name; who it targets, what it delivers, how people are selected) and whether it works with
people in custody or in the community.

Not testable (methodology.md section 2): the published Justice Data Lab does not analyse
programmes aimed at people convicted of sexual offences, people with severe mental illness, or
people who misuse drugs or alcohol, because no reliable comparison group can be formed:

- *sexual offending*: proven re-offending within a year is rare for this group and its risk
  factors differ from those the national data describes, so a one-year comparison says little;
- *severe mental illness* and *substance misuse*: the national re-offending data record neither,
  so a matched comparison group cannot be made to share the need the programme addresses, and
  the comparison would measure the need as much as the programme.

These are detected by keyword rules (``NOT_TESTABLE_RULES``) over the programme's name, target
group, what it delivers and how people are selected. A phrase preceded, within the same clause
and at most five words before it, by a word that negates or excludes (``not``, ``no``,
``excluding``, ``except``, ``without``, ``other than``...) does not count, so "people with
convictions, excluding sexual offences" is testable while "adults with a drug addiction, excluding
under-21s" is not. Rules are deliberately
specific phrases ("mental health needs", not "mental health") so that a general programme that
mentions wellbeing is not refused; anyone refused wrongly can rephrase or ask the operations team.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import CohortError
from .result import ProgrammeInfo

Setting = Literal["custody", "community"]
NotTestableCategory = Literal["sex_offending", "mental_illness", "substance_misuse"]

OrgSlug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not our concern.
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=254,
                      pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}$"),
]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]
_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OWN_WORDS_MAX_CHARS: Final = 3000   # about a page of the report: the JDL prints it in full
# C0 control characters other than tab and line breaks, DEL and the C1 range: they have no place
# in printed text and can corrupt a PDF or a terminal
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_printable(field: str, text: str) -> str:
    """``text`` unchanged, or ValueError naming the field and where the control character is."""
    m = _CONTROL.search(text or "")
    if m:
        raise ValueError(f"{field} contains a control character (code 0x{ord(m.group(0)):02x}) at "
                         f"character {m.start() + 1}; remove it (plain text and line breaks only)")
    return text

# Regular expressions (case-insensitive, whole words) per category. Each is a phrase that says the
# programme is aimed at the group, not merely that the group exists.
NOT_TESTABLE_RULES: Final[dict[NotTestableCategory, tuple[str, ...]]] = {
    "sex_offending": (
        r"sex(?:ual)?\s+offen[cs]es?",
        r"sex(?:ual)?\s+offenders?",
        r"sex(?:ual)?\s+offending",
        r"sexually\s+harmful\s+behaviou?r",
        r"harmful\s+sexual\s+behaviou?r",
        r"registered\s+sex",
        r"indecent\s+images",
        r"SOTP",                                   # Sex Offender Treatment Programme
    ),
    "mental_illness": (
        r"(?:severe|serious|enduring)\s+mental\s+(?:illness|ill-health|health\s+(?:problems?|conditions?|needs?))",
        r"mental\s+illness(?:es)?",
        r"mentally\s+ill",
        r"mental\s+health\s+(?:needs?|problems?|conditions?|issues?|difficulties|disorders?|diagnos[ie]s)",
        r"mental\s+disorders?",
        r"psychiatric",
        r"psychos[ie]s|psychotic",
        r"schizophreni\w*",
        r"bipolar",
        r"personality\s+disorders?",
        r"dual\s+diagnosis",
        r"SMI",                                    # severe mental illness, as commissioners write it
    ),
    "substance_misuse": (
        r"substance\s+(?:mis)?use(?:rs?)?",
        r"substance\s+abuse",
        r"substance\s+dependen(?:ce|cy)",
        r"(?:drugs?|alcohol|opiates?|opioids?)\s+(?:misuse|misusers?|abuse|addiction|dependen(?:ce|cy)|"
        r"problems?|treatment|rehabilitation|users?|detox\w*|recovery)",
        r"problem\s+(?:drinking|drinkers?|drug\s+use)",
        r"addict(?:s|ed|ion)?",
        r"alcoholi(?:c|cs|sm)",
        r"heroin|crack\s+cocaine|methadone",
        r"detoxification",
    ),
}

EXPLANATIONS: Final[dict[NotTestableCategory, str]] = {
    "sex_offending": (
        "programmes for people convicted of sexual offences cannot be tested: proven sexual "
        "re-offending within one year is too rare, and this group's risk differs from what the "
        "national data describe, so no reliable comparison group can be formed"
    ),
    "mental_illness": (
        "programmes aimed at people with severe mental illness cannot be tested: the national "
        "re-offending data do not record mental health, so a comparison group cannot be made to "
        "share the need the programme addresses and no reliable comparison group can be formed"
    ),
    "substance_misuse": (
        "programmes aimed at drug or alcohol misuse cannot be tested: the national re-offending "
        "data do not record substance misuse, so a comparison group cannot be made to share the "
        "need the programme addresses and no reliable comparison group can be formed"
    ),
}

# A match shortly after one of these words (same clause) is about who is left out: ignored.
_NEGATION = re.compile(r"\b(?:not|no|excluding|excludes?|excluded|except|without|other\s+than|"
                       r"unless|never|nor)\b|n't\b", re.IGNORECASE)
_NEGATION_WINDOW = 5   # words before a match searched for a negation
_CLAUSE_SPLIT = re.compile(r"[.,;:!?\n()]|\bbut\b", re.IGNORECASE)
_COMPILED: Final = {
    cat: tuple(
        # Acronyms are matched case-sensitively so "smi" inside ordinary words cannot trigger.
        re.compile(rf"\b(?:{p})\b", 0 if p.isupper() else re.IGNORECASE) for p in patterns
    )
    for cat, patterns in NOT_TESTABLE_RULES.items()
}
_CHECKED_FIELDS: Final = ("name", "targets", "delivers", "selection")


@dataclass(frozen=True)
class NotTestableFinding:
    """One rule that fired: the category, the programme field and the phrase it matched."""

    category: NotTestableCategory
    field: str
    phrase: str


class ProgrammeNotTestable(CohortError):
    """The programme is aimed at a group for which no reliable comparison group exists."""

    code = "programme_not_testable"

    def __init__(self, findings: list[NotTestableFinding]) -> None:
        self.findings = tuple(findings)
        self.categories: tuple[NotTestableCategory, ...] = tuple(
            dict.fromkeys(f.category for f in findings))
        where = "; ".join(f"{f.field} mentions '{f.phrase}'" for f in findings)
        reasons = "; ".join(EXPLANATIONS[c] for c in self.categories)
        super().__init__(
            f"programme is not testable by the Justice Data Lab: {reasons} ({where})",
            hint="if the programme is not aimed at this group, reword its description; "
                 "otherwise it cannot be analysed by this service",
        )


class InvalidProgramme(CohortError):
    """The programme description is missing a field or has a value that is not allowed."""

    code = "invalid_programme"

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("programme description is not valid: " + "; ".join(problems),
                         hint="see the Programme fields: organisation, org_id, name, targets, "
                              "delivers, selection, setting, contact_email, own_words")


def find_not_testable(**fields: str) -> list[NotTestableFinding]:
    """Every not-testable rule that fires on the given text fields (outside negated clauses)."""
    findings: list[NotTestableFinding] = []
    seen: set[tuple[str, str]] = set()
    for field_name, text in fields.items():
        for clause in _CLAUSE_SPLIT.split(text or ""):
            for category, patterns in _COMPILED.items():
                for pattern in patterns:
                    for m in pattern.finditer(clause):
                        before = clause[: m.start()].split()[-_NEGATION_WINDOW:]
                        if _NEGATION.search(" ".join(before)) or (category, field_name) in seen:
                            continue
                        seen.add((category, field_name))
                        findings.append(NotTestableFinding(category, field_name, m.group(0)))
    return findings


class Programme(BaseModel):
    """A programme's description, submitted with its cohort. Holds no data about participants."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True,
                              str_strip_whitespace=True)

    organisation: _Name = Field(description="Name of the organisation that ran the programme")
    org_id: OrgSlug = Field(description="Lower-case slug of the organisation, e.g. 'st-giles-trust'")
    name: _Name = Field(description="Name of the programme")
    targets: _Text = Field(description="Who the programme is for")
    delivers: _Text = Field(description="What the programme gives the people on it")
    selection: _Text = Field(description="How people come to be on the programme")
    setting: Setting = Field(description="Whether the programme works in custody or in the community")
    # A staff member's address is personal data too: kept out of repr and error messages.
    contact_email: Email = Field(repr=False, description="Who to contact about the submission")
    own_words: Annotated[str, StringConstraints(strip_whitespace=True, max_length=OWN_WORDS_MAX_CHARS)] = Field(
        default="", description="The programme described by the organisation in its own words "
                                "(printed in the report as given; plain text, at most "
                                f"{OWN_WORDS_MAX_CHARS} characters)")

    @field_validator("organisation", "name", "targets", "delivers", "selection", "own_words")
    @classmethod
    def _printable(cls, v: str, info: ValidationInfo) -> str:
        return check_printable(str(info.field_name), v)

    def info(self) -> ProgrammeInfo:
        """What the report prints about the programme (no contact details)."""
        return ProgrammeInfo(organisation=self.organisation, programme=self.name,
                             description=f"{self.targets.rstrip('.')}. {self.delivers.rstrip('.')}.",
                             setting=self.setting, own_words=self.own_words, selection=self.selection)

    @model_validator(mode="after")
    def _must_be_testable(self) -> "Programme":
        # Raised as itself (not a ValueError) so pydantic passes it through unwrapped.
        findings = find_not_testable(**{f: getattr(self, f) for f in _CHECKED_FIELDS})
        if findings:
            raise ProgrammeNotTestable(findings)
        return self


def load_programme(data: bytes | str | dict) -> Programme:
    """Build a Programme from JSON (bytes/str) or a dict; errors name the fields, never values."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InvalidProgramme(["the programme description is not valid JSON"]) from None
    if not isinstance(data, dict):
        raise InvalidProgramme(["the programme description must be a JSON object"])
    try:
        return Programme.model_validate(data)
    except ValidationError as e:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'programme'}: {err['msg']}"
            for err in e.errors(include_input=False, include_url=False)
        ]
        raise InvalidProgramme(problems) from None
