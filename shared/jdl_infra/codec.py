"""The faust codec for JDL events: validates on produce and on consume, JSON on the wire.

It lives with the adapters, not in jdl_events, so the event contract imports only pydantic."""
from __future__ import annotations

from typing import Any

import faust
from faust.serializers import codecs

from jdl_events.events import Event, parse_event


class EventCodec(faust.Codec):
    """`value_serializer="jdl-event"`: only valid Event models go out, only valid ones come in."""

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, Event):
            return obj.model_dump_json().encode()
        if isinstance(obj, (bytes, str)):
            return parse_event(obj).model_dump_json().encode()  # validate pre-serialised input
        raise TypeError(f"jdl-event codec cannot serialise {type(obj).__name__}")

    def _loads(self, s: bytes) -> Event:
        return parse_event(s)


def register() -> None:
    codecs.register("jdl-event", EventCodec())
