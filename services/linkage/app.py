"""Linkage service: one agent on submission.received; scale out by adding workers to the group."""
from __future__ import annotations

import functools

import faust

from jdl_events.events import SubmissionReceived
from jdl_infra.crypto import KeyRing, MasterKey
from jdl_infra.objectstore import open_store
from jdl_pipeline.faust_app import make_app, national_dataset, stage_agent

from .handlers import STAGE, LinkagePorts, handle_submission_received
from .settings import LinkageSettings

APP_ID = "jdl-linkage"


def create_app(settings: LinkageSettings) -> faust.App:
    app = make_app(APP_ID, settings)
    store = open_store(settings.infra)
    ports = LinkagePorts(store=store, keyring=KeyRing(store, MasterKey.from_settings(settings.infra)),
                         national=national_dataset(app, settings.infra.data_dir, then=_prepare_linkage),
                         threshold=settings.match_threshold, max_gap_days=settings.max_gap_days)
    stage_agent(app, STAGE, functools.partial(handle_submission_received, ports=ports),
                consumes=SubmissionReceived, store=store)
    return app


def _prepare_linkage(national: object) -> None:
    """The trained model and the prepared national side, built at worker start-up (splink is
    imported by the worker, not by importing this module)."""
    from jdl_core.linkage import warm_up

    warm_up(national)
