"""Run the linkage service: `python -m services.linkage worker -l info`."""
from __future__ import annotations

from jdl_infra.faust_app import run_worker
from jdl_infra.logs import setup_logging

from .app import create_app
from .settings import LinkageSettings


def main() -> None:
    settings = LinkageSettings()
    setup_logging(settings.infra.log_level)
    run_worker(create_app(settings), settings.infra.log_level)


if __name__ == "__main__":
    main()
