"""Run the reporting service: `python -m services.reporting worker -l info`."""
from __future__ import annotations

from jdl_infra.faust_app import run_worker
from jdl_infra.logs import setup_logging
from jdl_infra.preflight import run_preflight
from jdl_infra.settings import load_settings

from .app import APP_ID, create_app
from .settings import ReportingSettings


def main() -> None:
    settings = load_settings(ReportingSettings)
    setup_logging(settings.infra.log_level)
    run_preflight(settings.infra, APP_ID)   # broker count, declared topics (production)
    run_worker(create_app(settings), settings.infra.log_level)


if __name__ == "__main__":
    main()
