"""Run the intake service: `python -m services.intake api` (HTTP API) or
`python -m services.intake worker -l info` (status agent)."""
from __future__ import annotations

from fastapi import FastAPI

from jdl_pipeline.service import run_service

from .app import create_app
from .settings import IntakeSettings


def build_api(settings: IntakeSettings) -> FastAPI:
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


if __name__ == "__main__":
    run_service(create_app, IntakeSettings, api=build_api)
