"""Reporting service: one agent on control.matched."""
from __future__ import annotations

import functools

import faust

from jdl_events import topics
from jdl_events.events import ControlMatched
from jdl_infra.faust_app import add_stage_agent, make_app, sender
from jdl_infra.objectstore import open_store
from jdl_infra.publication import load_policy
from jdl_infra.stage import Stage

from .handlers import STAGE, ReportingPorts, handle_control_matched
from .settings import ReportingSettings

APP_ID = "jdl-reporting"


def create_app(settings: ReportingSettings) -> faust.App:
    infra = settings.infra
    store = open_store(infra)
    ports = ReportingPorts(store=store, suppression_threshold=settings.suppression_threshold,
                           policy=load_policy(infra.environment))
    app = make_app(APP_ID, infra, web_port=settings.web_port, web_host=settings.web_host)
    stage = Stage(STAGE, functools.partial(handle_control_matched, ports=ports), store,
                  sender(app), expected=(ControlMatched,))
    add_stage_agent(app, stage, [topics.CONTROL_MATCHED])
    return app
