"""The closed vocabularies have one home (jdl_events.vocab): the events and the audit log use its
Literals, and no module in shared/ or services/ spells one of them out again."""
from __future__ import annotations

import ast
from pathlib import Path

from jdl_events import vocab
from jdl_events.events import EVENT_OF, TOPIC_OF, DataPurged, Event, PurgeRequested, SubmissionFailed
from jdl_infra import certificate, metrics

ROOT = Path(__file__).resolve().parents[2]
VOCABULARIES = {"stages": set(vocab.STAGES), "submission states": set(vocab.SUBMISSION_STATES),
                "purge triggers": set(vocab.PURGE_TRIGGERS),
                "purge outcomes": set(vocab.PURGE_OUTCOMES),
                "report formats": set(vocab.REPORT_FORMATS)}


def test_events_audit_and_metrics_use_the_vocabulary():
    assert SubmissionFailed.model_fields["stage"].annotation is vocab.StageName
    assert PurgeRequested.model_fields["trigger"].annotation is vocab.PurgeTrigger
    assert DataPurged.model_fields["outcome"].annotation is vocab.PurgeOutcome
    assert certificate.DeletionCertificate.model_fields["trigger"].annotation is vocab.PurgeTrigger
    assert metrics.STAGES == vocab.STAGES and metrics.PURGE_RESULTS == vocab.PURGE_OUTCOMES
    # the stale states "report_ready" and "purged" are gone from what audit verify accepts
    assert set(vocab.TERMINAL_STATES) == {"done", "failed", "refused"}
    assert set(vocab.TRIGGER_OF_STATE) == set(vocab.TERMINAL_STATES)


def test_event_type_is_declared_on_the_base_and_named_by_each_event():
    assert Event.model_fields["event_type"].annotation is str
    names = [e.model_fields["event_type"].default for e in TOPIC_OF]
    assert len(set(names)) == len(TOPIC_OF) and all(isinstance(n, str) and n for n in names)
    assert set(EVENT_OF.values()) == set(TOPIC_OF)


def _restated(source: str) -> list[tuple[int, str]]:
    """(line, vocabulary) of each tuple, list, set or Literal[...] of three or more strings that
    are all words of one vocabulary."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Tuple, ast.List, ast.Set)):   # Literal[...] holds a Tuple
            continue
        elts = node.elts
        words = [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if len(words) >= 3 and len(words) == len(elts):
            found += [(node.lineno, name) for name, vocab_words in VOCABULARIES.items()
                      if set(words) <= vocab_words]
    return found


def test_no_module_restates_a_vocabulary():
    offenders = [f"{p.relative_to(ROOT)}:{line}: {name}"
                 for d in ("shared", "services") for p in sorted((ROOT / d).rglob("*.py"))
                 if p != ROOT / "shared/jdl_events/vocab.py"
                 for line, name in _restated(p.read_text(encoding="utf-8"))]
    assert offenders == [], "import these from jdl_events.vocab"


def test_the_scan_finds_a_restated_vocabulary():
    source = ('A = ("intake", "linkage", "matching")\n'
              'B: Literal["done", "failed", "refused"]\n'
              'C = ("done", "failed", "somewhere else")\n'
              'D = ("done", "failed")\n')
    assert _restated(source) == [(1, "stages"), (2, "submission states")]
