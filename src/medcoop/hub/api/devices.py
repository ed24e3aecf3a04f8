"""Devices of the caller's organisation, as their edges reported them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from medcoop.hub.api.deps import DbSession, Paging, WriteSession, require
from medcoop.hub.api.schemas import DeviceOut, DevicePatch, ErrorOut, Page
from medcoop.hub.services import accounts
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
Reader = Annotated[Principal, Depends(require(Permission.READ_DIRECTORY))]
Editor = Annotated[Principal, Depends(require(Permission.MANAGE_DEVICES))]
_ERRORS = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}
_ERRORS_404 = {**_ERRORS, 404: {"model": ErrorOut}}


@router.get("", response_model=Page[DeviceOut], responses=_ERRORS)
def list_devices(
    _principal: Reader,
    db: DbSession,
    paging: Paging,
    site_id: Annotated[uuid.UUID | None, Query(description="Only this site's devices")] = None,
) -> Page[DeviceOut]:
    """List the organisation's devices."""
    rows, total = accounts.list_devices(
        db, site_id=site_id, limit=paging.limit, offset=paging.offset
    )
    return Page[DeviceOut](
        items=[DeviceOut.model_validate(r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/{device_id}", response_model=DeviceOut, responses=_ERRORS_404)
def get_device(device_id: uuid.UUID, _principal: Reader, db: DbSession) -> DeviceOut:
    """Return one of the organisation's devices."""
    return DeviceOut.model_validate(accounts.get_device(db, device_id))


@router.patch("/{device_id}", response_model=DeviceOut, responses=_ERRORS_404)
def update_device(
    device_id: uuid.UUID, body: DevicePatch, _principal: Editor, db: WriteSession
) -> DeviceOut:
    """Set a device's benchmark class or display name."""
    device = accounts.update_device(db, device_id, body.model_dump(exclude_unset=True))
    db.commit()
    return DeviceOut.model_validate(device)
