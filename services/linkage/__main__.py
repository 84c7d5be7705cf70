"""Run the linkage service: `python -m services.linkage worker -l info`."""
from __future__ import annotations

from jdl_infra.logs import setup_logging

from .app import create_app
from .settings import LinkageSettings


def main() -> None:
    settings = LinkageSettings()
    setup_logging(settings.infra.log_level)
    create_app(settings).main()


if __name__ == "__main__":
    main()
