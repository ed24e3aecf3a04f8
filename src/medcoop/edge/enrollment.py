"""Enrollment: exchange the hub's one-time code for this site's token, kept in the config.

``medcoop edge enroll`` and the demo both enroll through :func:`enroll`; the edge talks to
the hub only over HTTP.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from medcoop.edge.config import write_site_token
from medcoop.edge.errors import EnrollmentError

__all__ = ["enroll"]


def enroll(
    config: str | os.PathLike[str],
    code: str,
    hub_url: str,
    *,
    edge_name: str,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Enroll with ``code`` at ``hub_url``; store the site token in ``config`` (mode 0600).

    Returns the hub's answer (the site's id and name besides the token).

    Raises
    ------
    EnrollmentError
        The hub cannot be reached, or refuses the code (unknown, used or expired).
    """
    try:
        response = httpx.post(
            hub_url.rstrip("/") + "/api/v1/enroll",
            json={"code": code, "edge_name": edge_name},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise EnrollmentError(f"cannot reach the hub: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise EnrollmentError(f"enrollment refused ({response.status_code}): code unknown or used")
    body: dict[str, Any] = response.json()
    write_site_token(config, hub_url=hub_url, site_token=body["site_token"])
    _trust_store_root(config, body.get("tuf_root"))
    return body


def _trust_store_root(config: str | os.PathLike[str], root: Any) -> None:
    """Keep the store's TUF root the hub sent, as the anchor of app updates.

    Received over the same channel as the one-time code, which is what authenticates
    the hub to the edge here. An edge that already trusts a root keeps it (new roots
    must then arrive signed by the old one, through the updater).
    """
    if not isinstance(root, dict):
        return
    from medcoop.edge.apps import apps_dir, save_trusted_root
    from medcoop.edge.config import load_settings

    save_trusted_root(apps_dir(load_settings(config)), root)
