"""Public routes serving the signed audit-log checkpoints (jdl_infra.checkpoint), so anyone can
keep a copy and later run `jdl audit verify --checkpoint URL` against the log."""
from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException

from jdl_events.keys import CHECKPOINT_PUBLIC_KEY, LATEST_CHECKPOINT
from jdl_infra.checkpoint import published_checkpoints
from jdl_infra.objectstore import ObjectNotFound, ObjectStore


def checkpoint_router(store: ObjectStore) -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    @router.get("/checkpoint")
    def latest_checkpoint() -> dict[str, Any]:
        """The latest signed head of the deletion audit log."""
        try:
            return json.loads(store.get(LATEST_CHECKPOINT))
        except (ObjectNotFound, ValueError):
            raise HTTPException(404, "no audit checkpoint has been published yet") from None

    @router.get("/checkpoints")
    def all_checkpoints() -> dict[str, Any]:
        """Every published checkpoint (oldest first) and the signing public key."""
        try:
            key: Any = json.loads(store.get(CHECKPOINT_PUBLIC_KEY))
        except (ObjectNotFound, ValueError):
            key = None
        return {"signing_key": key, "checkpoints": published_checkpoints(store)}

    return router
