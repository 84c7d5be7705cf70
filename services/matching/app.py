"""Matching service: one agent on cohort.linked."""
from __future__ import annotations

import functools

import faust

from jdl_events import topics
from jdl_events.events import CohortLinked
from jdl_infra.crypto import KeyRing, MasterKey
from jdl_infra.faust_app import add_stage_agent, make_app, sender
from jdl_infra.objectstore import open_store
from jdl_infra.ports import LazyNational
from jdl_infra.stage import Stage

from .handlers import STAGE, MatchingPorts, handle_cohort_linked
from .settings import MatchingSettings

APP_ID = "jdl-matching"


def create_app(settings: MatchingSettings) -> faust.App:
    infra = settings.infra
    store = open_store(infra)
    national = LazyNational(infra.data_dir)
    ports = MatchingPorts(store=store, keyring=KeyRing(store, MasterKey.from_settings(infra)),
                          national=national,
                          spec_overrides=settings.spec_overrides())
    app = make_app(APP_ID, infra, web_port=settings.web_port, web_host=settings.web_host)
    stage = Stage(STAGE, functools.partial(handle_cohort_linked, ports=ports), store,
                  sender(app), expected=(CohortLinked,))
    add_stage_agent(app, stage, [topics.COHORT_LINKED])

    @app.task
    async def warm_up() -> None:
        await national.warm_up()

    app.jdl_health_checks.append(national.health_problem)   # /healthz fails after a failed warm-up
    return app
