"""`jdl submit`, `jdl status` and `jdl queue` against the running embedded service."""
from __future__ import annotations

import json
import re

import httpx
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
    assert body["publication"]["state"] == "in_review" and body["publication"]["review_ends_at"]
    assert "publication: in review" in out.output

    # the review step: a response (printed in the report), then withdrawal before publication
    resp = runner.invoke(app, ["review", "respond", sid, "--text", "We welcome the report.", *common])
    assert resp.exit_code == 0, resp.output
    assert "response stored" in resp.output and "response added" in resp.output
    html = httpx.get(f"{rt.api_url}/v1/submissions/{sid}/report", params={"format": "html"},
                     headers={"Authorization": f"Bearer {rt.tokens['demo-org']}"}).text
    assert "We welcome the report." in html
    long = runner.invoke(app, ["review", "respond", sid, "--text", "x" * 4001, *common])
    assert long.exit_code != 0 and "at most 4000" in long.output
    other = runner.invoke(app, ["review", "respond", sid, "--text", "not ours",
                                "--api", rt.api_url, "--token", rt.tokens["other-org"]])
    assert other.exit_code != 0 and "404" in other.output
    w = runner.invoke(app, ["review", "withdraw", sid, *common])
    assert w.exit_code == 0 and "publication: withdrawn" in w.output, w.output
    again = runner.invoke(app, ["review", "accept", sid, *common])
    assert again.exit_code != 0 and "it was withdrawn" in again.output
    cal = runner.invoke(app, ["publish", "calendar", "--api", rt.api_url])
    assert cal.exit_code == 0 and re.search(r"withdrawn [1-9]", cal.output), cal.output
    # no report has been published in this runtime: a clear message, no empty PDF
    summ = runner.invoke(app, ["publish", "summary", "--period", "2026Q4", "--api", rt.api_url,
                               "--out", str(tmp_path / "s.pdf")])
    assert summ.exit_code == 2 and "no report was published in 2026 Q4" in summ.output
    assert not (tmp_path / "s.pdf").exists()

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
