"""run_service, the whole of every services/*/__main__.py: a refusal while building the app is one
line and exit code 2; a worker gets the start-up checks with its own app id and tables first."""
from __future__ import annotations

import sys

import faust
import pytest
from pydantic_settings import SettingsConfigDict

from jdl_infra.crypto import MasterKey
from jdl_pipeline import service
from jdl_pipeline.faust_app import make_app
from jdl_pipeline.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_DEMO_", extra="ignore")

    web_port: int = 6099


@pytest.fixture(autouse=True)
def _keep_pytest_logging(monkeypatch):
    # run_service installs the JSON log handler on the root logger: not in the test process
    monkeypatch.setattr(service, "setup_logging", lambda level: None)


def test_an_app_that_cannot_be_built_is_one_line_and_exit_code_2(monkeypatch, capsys):
    monkeypatch.delenv("JDL_MASTER_KEY", raising=False)
    monkeypatch.setattr(sys, "argv", ["services.demo", "worker"])

    def create_app(settings: DemoSettings) -> faust.App:
        MasterKey.from_settings(settings.infra)          # no JDL_MASTER_KEY: refuses
        raise AssertionError("not reached")

    with pytest.raises(SystemExit) as exited:
        service.run_service(create_app, DemoSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: JDL_MASTER_KEY is not set") and err.count("\n") == 1
    assert "Traceback" not in err


def test_a_worker_is_checked_with_its_own_app_id_and_tables_before_it_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("JDL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "argv", ["services.demo", "worker"])
    calls: list[tuple] = []
    monkeypatch.setattr(service, "run_preflight", lambda infra, app_id, tables: calls.append(
        ("preflight", app_id, tables)))
    monkeypatch.setattr(service, "run_worker", lambda app, level: calls.append(("worker", app.conf.id)))

    def create_app(settings: DemoSettings) -> faust.App:
        app = make_app("jdl-demo", settings)
        app.Table("status", default=None, partitions=None)
        return app

    service.run_service(create_app, DemoSettings)
    assert calls == [("preflight", "jdl-demo", ["status"]), ("worker", "jdl-demo")]
