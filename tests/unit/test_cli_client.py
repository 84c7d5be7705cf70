"""The CLI's API client: an error response becomes an ApiError that keeps the API's body, which
`jdl submit` uses to print the rejected rows."""
from __future__ import annotations

import httpx
import pytest

from jdl_cli.client import ApiError, Client


def test_an_error_response_keeps_its_body(tmp_path):
    body = {"error": {"code": "cohort_rejected", "message": "no valid rows"},
            "rejected_rows": [{"row": 2, "column": "dob", "reason_code": "invalid_date",
                               "message": "not a date"}]}
    client = Client("http://api.test", "token")
    client.http = httpx.Client(base_url="http://api.test",
                               transport=httpx.MockTransport(lambda req: httpx.Response(422, json=body)))
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("first_name\n")
    with pytest.raises(ApiError, match="HTTP 422: no valid rows") as e:
        client.submit(cohort, {})
    assert e.value.body == body


def test_an_error_response_that_is_not_json_has_an_empty_body():
    client = Client("http://api.test", "token")
    client.http = httpx.Client(base_url="http://api.test",
                               transport=httpx.MockTransport(lambda req: httpx.Response(502, text="bad gateway")))
    with pytest.raises(ApiError, match="HTTP 502: bad gateway") as e:
        client.status("sub-00000000000000000000")
    assert e.value.body == {}
