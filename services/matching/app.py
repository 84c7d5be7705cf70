"""Matching service: one agent on cohort.linked."""
from __future__ import annotations

import functools

import faust

from jdl_events.events import CohortLinked
from jdl_infra.crypto import KeyRing, MasterKey
from jdl_infra.objectstore import open_store
from jdl_pipeline.faust_app import make_app, national_dataset, stage_agent

from .handlers import STAGE, MatchingPorts, handle_cohort_linked
from .settings import MatchingSettings

APP_ID = "jdl-matching"


def create_app(settings: MatchingSettings) -> faust.App:
    app = make_app(APP_ID, settings)
    store = open_store(settings.infra)
    ports = MatchingPorts(store=store, keyring=KeyRing(store, MasterKey.from_settings(settings.infra)),
                          national=national_dataset(app, settings.infra.data_dir),
                          spec_overrides=settings.spec_overrides())
    stage_agent(app, STAGE, functools.partial(handle_cohort_linked, ports=ports),
                consumes=CohortLinked, store=store)
    return app
