"""Reporting service: one agent on control.matched."""
from __future__ import annotations

import functools

import faust

from jdl_events.events import ControlMatched
from jdl_infra.objectstore import open_store
from jdl_infra.publication import load_policy
from jdl_pipeline.faust_app import make_app, stage_agent

from .handlers import STAGE, ReportingPorts, handle_control_matched
from .settings import ReportingSettings

APP_ID = "jdl-reporting"


def create_app(settings: ReportingSettings) -> faust.App:
    app = make_app(APP_ID, settings)
    store = open_store(settings.infra)
    ports = ReportingPorts(store=store, suppression_threshold=settings.suppression_threshold,
                           policy=load_policy(settings.infra.environment))
    stage_agent(app, STAGE, functools.partial(handle_control_matched, ports=ports),
                consumes=ControlMatched, store=store)
    return app
