"""The entry point of every service process: ``python -m services.<name> worker`` (and, for a
service that also serves HTTP, ``python -m services.<name> api``)."""
from __future__ import annotations

import sys
from typing import Any, Callable, TypeVar

import faust

from jdl_core.errors import JdlError
from jdl_infra.logs import setup_logging
from jdl_infra.preflight import run_preflight
from jdl_infra.settings import load_settings

from .faust_app import run_worker
from .settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


def run_service(create_app: Callable[[S], faust.App], settings_cls: type[S], *,
                api: Callable[[S], Any] | None = None) -> None:
    """Settings (a refusal is one line naming the variable, exit 2), logging, the app, the
    start-up checks (broker count, declared topics and the app's table changelogs), then the
    faust command line (``worker``).

    ``api``: builds the ASGI app of a service that also serves HTTP; ``api`` as first argument
    runs it with uvicorn on the settings' ``api_host``/``api_port`` instead of the worker. A
    JdlError while building either (no master key, say) is one line on stderr and exit 2."""
    settings = load_settings(settings_cls)
    setup_logging(settings.infra.log_level)
    if api is not None and sys.argv[1:2] == ["api"]:
        import uvicorn

        uvicorn.run(_build(api, settings), host=getattr(settings, "api_host"),
                    port=getattr(settings, "api_port"), log_level="warning", access_log=False)
        return
    app = _build(create_app, settings)
    run_preflight(settings.infra, app.conf.id, tables=list(app.tables))
    run_worker(app, settings.infra.log_level)


def _build(factory: Callable[[S], T], settings: S) -> T:
    try:
        return factory(settings)
    except JdlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
