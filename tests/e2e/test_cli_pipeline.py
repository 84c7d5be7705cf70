"""`jdl submit`, `jdl status` and `jdl queue` against the running embedded service."""
from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from jdl_cli.main import app
from .conftest import PROGRAMME, personal_values_of

pytestmark = pytest.mark.e2e


def test_submit_follows_the_stages_then_status_and_queue(rt, cohort, tmp_path):
    path, upload = cohort
    programme = tmp_path / "programme.json"
    programme.write_text(json.dumps(PROGRAMME))
    runner = CliRunner()
    common = ["--api", rt.api_url, "--token", rt.tokens["demo-org"]]

    out = runner.invoke(app, ["submit", str(path), "--programme", str(programme), *common])
    assert out.exit_code == 0, out.output
    sid = re.search(r"submission id: (sub-[0-9a-f]{20})", out.output).group(1)
    states = re.findall(r"^\s+\d\d:\d\d:\d\d\s+(\w+)", out.output, flags=re.M)
    assert states[-1] == "done" and len(states) >= 2, out.output
    assert re.search(rf"report \(pdf\): {re.escape(rt.api_url)}/v1/submissions/{sid}/report", out.output)

    st = runner.invoke(app, ["status", sid, *common])
    assert st.exit_code == 0, st.output
    body = json.loads(st.output)
    assert body["submission_id"] == sid and body["state"] == "done"
    assert body["attrition"]["submitted"] == len(upload)

    # the queue needs the operations token; an organisation's token is refused with one line
    refused = runner.invoke(app, ["queue", *common])
    assert refused.exit_code != 0 and "403" in refused.output and "Traceback" not in refused.output
    q = runner.invoke(app, ["queue", "--api", rt.api_url, "--token", rt.tokens["ops"]])
    assert q.exit_code == 0, q.output
    assert re.search(r"completed: [1-9]\d* \([1-9]\d* within 14 days\)", q.output), q.output

    # nothing personal echoed by the CLI
    leaked = [v for v in personal_values_of(upload) if v in out.output + st.output + q.output]
    assert leaked == []


def test_submit_of_a_bad_file_says_what_is_wrong_in_one_line(rt, tmp_path):
    bad = tmp_path / "cohort.csv"
    bad.write_text("this,is,not\nthe,upload,template\n")
    programme = tmp_path / "programme.json"
    programme.write_text(json.dumps(PROGRAMME))
    out = CliRunner().invoke(app, ["submit", str(bad), "--programme", str(programme),
                                   "--api", rt.api_url, "--token", rt.tokens["demo-org"]])
    assert out.exit_code != 0
    assert "Traceback" not in out.output
    assert re.search(r"column", out.output, flags=re.I), out.output
