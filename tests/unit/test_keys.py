"""The object-store layout has one home (jdl_events.keys): its builders give the layout the
services have always used, its parsers invert them and refuse other keys, and no module in
shared/ or services/ builds a key by hand."""
from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from jdl_events import keys
from jdl_events.events import new_submission_id

ROOT = Path(__file__).resolve().parents[2]
SID = "sub-" + "0123456789abcdef0123"


def test_builders_give_the_layout_the_services_use():
    assert keys.submission_prefix(SID) == f"submissions/{SID}/"
    assert keys.cohort_key(SID) == f"submissions/{SID}/cohort.parquet.enc"
    assert keys.programme_key(SID) == f"submissions/{SID}/programme.json"
    assert keys.linked_key(SID) == f"submissions/{SID}/linked.parquet.enc"
    assert keys.cohort_profile_key(SID) == f"submissions/{SID}/cohort_profile.parquet.enc"
    assert keys.data_key_key(SID) == f"keys/{SID}.json"
    assert keys.tombstone_key(SID) == f"keys/destroyed/{SID}.json"
    assert keys.status_key(SID) == f"status/{SID}.json"
    assert keys.stage_marker_key(SID, "linkage") == f"stages/{SID}/linkage.json"
    assert keys.stage_prefix(SID) == f"stages/{SID}/"
    assert keys.result_key(SID) == f"results/{SID}/analysis.json"
    assert keys.report_key(SID, "pdf") == f"reports/{SID}/report.pdf"
    assert keys.publication_record_key(SID) == f"publication/records/{SID}.json"
    assert keys.catalogue_entry_key(SID) == f"publication/entries/{SID}.json"
    assert keys.catalogue_key(SID) == f"catalogue/{SID}.json"
    assert keys.purge_marker_key(SID) == f"purges/{SID}/in_progress.json"
    assert keys.reconcile_attempts_key(SID) == f"reconcile/{SID}.json"
    assert keys.RECONCILE_SETTLED == "reconcile/settled.json"
    assert keys.audit_entry_key(7) == "audit/log/000000000007.json"
    assert keys.checkpoint_key(7) == "public/audit/checkpoints/000000000007.json"
    assert keys.LATEST_CHECKPOINT == "public/audit/checkpoint.json"
    assert keys.CHECKPOINT_PUBLIC_KEY == "public/audit/signing-key.json"
    assert keys.lease_key("audit/log/000000000007.json") == "_jdl/leases/audit/log/000000000007.json"
    assert keys.conditional_write_probe_key("ab12") == "_jdl/conditional-write-probe/ab12"


@pytest.mark.parametrize("bad", ["John Smith", "sub-../../etc", "sub-" + "A" * 20, "", "sub-123"])
def test_builders_refuse_anything_but_a_submission_id_without_echoing_it(bad):
    for build in (keys.submission_prefix, keys.status_key, keys.data_key_key, keys.purge_prefix,
                  lambda s: keys.report_key(s, "pdf"), lambda s: keys.stage_marker_key(s, "x")):
        with pytest.raises(keys.NotASubmissionId) as exc:
            build(bad)
        assert not bad or bad not in str(exc.value)


def test_parsers_invert_the_builders_and_refuse_other_keys():
    sid = new_submission_id()
    assert keys.id_of_status_key(keys.status_key(sid)) == sid
    assert keys.id_of_submission_object(keys.linked_key(sid)) == sid
    assert keys.id_of_data_key(keys.data_key_key(sid)) == sid
    assert keys.id_of_report_key(keys.report_key(sid, "html")) == sid
    assert keys.id_of_purge_marker(keys.purge_marker_key(sid)) == sid
    assert keys.seq_of_audit_entry(keys.audit_entry_key(42)) == 42
    # a tombstone is not a live data key; other kinds and near misses are not parsed
    assert keys.id_of_data_key(keys.tombstone_key(sid)) is None
    assert keys.id_of_status_key(keys.STORE_PROBE) is None
    assert keys.id_of_status_key(f"status/{sid}.json.bak") is None
    assert keys.id_of_submission_object(keys.status_key(sid)) is None
    assert keys.seq_of_audit_entry("audit/log/42.json") is None


def test_one_submission_id_pattern():
    assert keys.is_submission_id(new_submission_id())
    assert not keys.is_submission_id("sub-" + "0" * 19)
    assert not keys.is_submission_id(None)
    # nobody restates the pattern: only jdl_events/events.py spells it
    spelled = [str(p.relative_to(ROOT)) for p in _sources()
               if "[0-9a-f]{20}" in p.read_text(encoding="utf-8")]
    assert spelled == ["shared/jdl_events/events.py"]


# A string literal (or f-string) that starts with a top-level folder of the layout.
_LAYOUT = re.compile(r"^(?:submissions|stages|reports|status|keys|results|publication|catalogue|"
                     r"purges|reconcile|audit|public|_jdl)/")
_QUOTE = re.compile(r"^[rRbBfFuU]*(?:'''|\"\"\"|'|\")")


def _sources() -> list[Path]:
    return sorted(p for d in ("shared", "services") for p in (ROOT / d).rglob("*.py"))


def _hand_built_keys(source: str) -> list[tuple[int, str]]:
    """(line, literal) of each string literal whose text starts like an object key (comments
    and text in the middle of a sentence do not count)."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING:
            text = _QUOTE.sub("", tok.string)
        elif tok.type == getattr(tokenize, "FSTRING_MIDDLE", None):   # Python 3.12+
            text = tok.string
        else:
            continue
        if _LAYOUT.match(text):
            found.append((tok.start[0], tok.string))
    return found


def test_no_key_is_built_by_hand_outside_the_keys_module():
    offenders = [f"{p.relative_to(ROOT)}:{line}: {literal}"
                 for p in _sources() if p != ROOT / "shared/jdl_events/keys.py"
                 for line, literal in _hand_built_keys(p.read_text(encoding="utf-8"))]
    assert offenders == [], "build object keys with jdl_events.keys"


def test_the_scan_finds_each_form_of_hand_built_key():
    """The scan above would pass by looking at nothing: show that it catches each form."""
    source = ('a = f"submissions/{sid}/x"\nb = "status/"\nc = \'reports/\' + sid\n'
              '# "keys/ in a comment" is fine\nd = "see keys/ in the docs"\n')
    assert _hand_built_keys(source) == [(1, 'f"submissions/{sid}/x"'), (2, '"status/"'),
                                        (3, "'reports/'")]
