"""Workbooks are parsed in memory-limited child processes, a bounded number at a time: results
and refusals cross the process boundary intact, an over-demanding workbook is refused (memory,
time) without harming the API, and no child outlives its parse."""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from jdl_core.cohort import MissingColumns, read_upload
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
from jdl_infra.objectstore import MemoryStore
from services.intake.api import create_api
from services.intake.handlers import IntakePorts
from services.intake.parsing import BoundedParser, WorkbookTooDemanding
from services.intake.settings import IntakeSettings
from tests.unit.test_api import PROGRAMME, TOKENS
from tests.unit.test_cohort_validation import TEMPLATE, people, template_xlsx, to_xlsx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from xlsx_heavy import heavy_workbook


def _children_left() -> list:
    return [p for p in multiprocessing.active_children() if p.name != "ForkServer"]


def test_xlsx_upload_is_parsed_in_a_child_and_accepted():
    store = MemoryStore()
    settings = IntakeSettings(tokens=SecretStr(json.dumps(TOKENS)))
    api = create_api(settings, IntakePorts(
        store, KeyRing(store, MasterKey.from_base64(generate_master_key())), lambda e: None))
    client = TestClient(api)
    data = template_xlsx(people(70))
    r = client.post("/v1/submissions", headers={"Authorization": "Bearer t-acme"},
                    files={"file": ("c.xlsx", data)}, data={"programme": json.dumps(PROGRAMME)})
    assert r.status_code == 202, r.text
    assert r.json()["counts"]["rows_valid"] == 70
    assert api.state.parser.peak == 1          # it went through the bounded parser
    # a refusal raised in the child arrives whole (code, columns, message)
    headings = [h for c, h in TEMPLATE.items() if c != "sex"]
    bad = to_xlsx([[r.get(c, "") for c in TEMPLATE if c != "sex"] for r in people(70)], headings)
    r = client.post("/v1/submissions", headers={"Authorization": "Bearer t-acme"},
                    files={"file": ("c.xlsx", bad)}, data={"programme": json.dumps(PROGRAMME)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_columns"
    assert "sex" in r.json()["error"]["message"]
    assert _children_left() == []


def test_child_result_equals_in_process_parse_and_errors_keep_their_fields():
    parser = BoundedParser(workers=1)
    data = template_xlsx(people(65))
    got = asyncio.run(parser.parse(data, "c.xlsx", max_bytes=10**7))
    expected = read_upload(data, "c.xlsx")
    assert got.frame.equals(expected.frame) and got.format == expected.format == "xlsx"
    assert got.warnings == expected.warnings and got.misaligned_rows == expected.misaligned_rows
    headings = [h for c, h in TEMPLATE.items() if c not in ("sex", "setting")]
    bad = to_xlsx([["x"] * len(headings)], headings)
    with pytest.raises(MissingColumns) as e:
        asyncio.run(parser.parse(bad, "c.xlsx", max_bytes=10**7))
    assert e.value.columns == ("sex", "setting") and e.value.hint


def test_workbook_over_the_memory_limit_is_refused_and_the_parser_goes_on():
    heavy = heavy_workbook(rows=1500, padding=10, cell_chars=8000)   # ~120 MB of cell text
    parser = BoundedParser(workers=1, memory_mb=200)                 # the child starts near 150
    with pytest.raises(WorkbookTooDemanding, match="more than 200 MB of memory"):
        asyncio.run(parser.parse(heavy, "c.xlsx", max_bytes=10**7))
    ok = asyncio.run(parser.parse(template_xlsx(people(61)), "c.xlsx", max_bytes=10**7))
    assert len(ok.frame) == 61
    assert _children_left() == []


def test_concurrent_parses_are_capped_and_a_slow_one_times_out():
    parser = BoundedParser(workers=2)
    data = template_xlsx(people(200))

    async def four() -> list:
        return await asyncio.gather(*(parser.parse(data, "c.xlsx", max_bytes=10**7)
                                      for _ in range(4)))

    uploads = asyncio.run(four())
    assert [len(u.frame) for u in uploads] == [200] * 4
    assert parser.peak == 2                      # four uploads, never more than two parsing
    slow = BoundedParser(workers=1, timeout_seconds=0.2)
    with pytest.raises(WorkbookTooDemanding, match="longer than 0.2 s"):
        asyncio.run(slow.parse(heavy_workbook(rows=2000, padding=5, cell_chars=100), "c.xlsx",
                               max_bytes=10**7))
    assert _children_left() == []
