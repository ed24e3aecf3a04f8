"""TUF downloads over httpx, with the site's token (the hub serves targets to callers it knows)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import FetcherInterface

__all__ = ["HttpxFetcher"]

_CHUNK_BYTES = 64 * 1024


class HttpxFetcher(FetcherInterface):
    """``tuf.ngclient`` fetcher on one :class:`httpx.Client` (its headers and timeouts)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _fetch(self, url: str) -> Iterator[bytes]:
        response = self.client.send(self.client.build_request("GET", url), stream=True)
        if response.status_code != 200:
            response.close()
            raise DownloadHTTPError(
                f"GET {url} answered {response.status_code}", response.status_code
            )
        return self._chunks(response)

    @staticmethod
    def _chunks(response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(_CHUNK_BYTES)
        finally:
            response.close()
