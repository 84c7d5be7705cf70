"""Linkage service: one agent on submission.received; scale out by adding workers to the group."""
from __future__ import annotations

import functools

import faust

from jdl_events import topics
from jdl_events.events import SubmissionReceived
from jdl_infra.crypto import KeyRing, MasterKey
from jdl_infra.faust_app import add_stage_agent, make_app, sender
from jdl_infra.objectstore import open_store
from jdl_infra.ports import LazyNational
from jdl_infra.stage import Stage

from .handlers import STAGE, LinkagePorts, handle_submission_received
from .settings import LinkageSettings

APP_ID = "jdl-linkage"


def create_app(settings: LinkageSettings) -> faust.App:
    infra = settings.infra
    store = open_store(infra)
    national = LazyNational(infra.data_dir)
    ports = LinkagePorts(store=store, keyring=KeyRing(store, MasterKey.from_settings(infra)),
                         national=national, threshold=settings.match_threshold,
                         max_gap_days=settings.max_gap_days)
    app = make_app(APP_ID, infra, web_port=settings.web_port, web_host=settings.web_host)
    stage = Stage(STAGE, functools.partial(handle_submission_received, ports=ports), store,
                  sender(app), expected=(SubmissionReceived,))
    add_stage_agent(app, stage, [topics.SUBMISSION_RECEIVED])

    @app.task
    async def warm_up() -> None:
        from jdl_core.linkage import warm_up as prepare_linkage

        await national.warm_up(prepare_linkage)

    app.jdl_health_checks.append(national.health_problem)   # /healthz fails after a failed warm-up
    return app
