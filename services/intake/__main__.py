"""Run the intake service: `python -m services.intake api` (HTTP API) or
`python -m services.intake worker -l info` (status agent)."""
from __future__ import annotations

import sys

from jdl_infra.logs import setup_logging
from jdl_infra.settings import load_settings

from .settings import IntakeSettings


def build_api(settings: IntakeSettings):  # type: ignore[no-untyped-def]
    """Composition root of the API: real store, key ring and Kafka producer."""
    from jdl_infra.crypto import KeyRing, MasterKey
    from jdl_infra.kafka_io import EventProducer, client_security
    from jdl_infra.objectstore import open_store

    from .api import create_api
    from .handlers import IntakePorts

    store = open_store(settings.infra)
    keyring = KeyRing(store, MasterKey.from_settings(settings.infra))  # refuses to start without a key
    producer = EventProducer(settings.infra.kafka_bootstrap, client_security(settings.infra))
    return create_api(settings, IntakePorts(store, keyring, producer.send,
                                            broker_ready=producer.reachable))


def main() -> None:
    settings = load_settings(IntakeSettings)
    setup_logging(settings.infra.log_level)
    if len(sys.argv) > 1 and sys.argv[1] == "api":
        import uvicorn

        from jdl_core.errors import JdlError

        try:
            api = build_api(settings)
        except JdlError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        uvicorn.run(api, host=settings.api_host, port=settings.api_port, log_level="warning",
                    access_log=False)
    else:
        from jdl_infra.faust_app import run_worker
        from jdl_infra.preflight import run_preflight

        from .app import APP_ID, create_app

        run_preflight(settings.infra, APP_ID, tables=["status"])   # broker count, declared topics
        run_worker(create_app(settings), settings.infra.log_level)


if __name__ == "__main__":
    main()
