"""A small client for the external quote service the ``/quote`` command uses."""

from __future__ import annotations

import aiohttp


class QuoteClient:
    """Fetches a quote over HTTP; one connection pool for the bot's lifetime."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self) -> str:
        """One quote; raises ``aiohttp.ClientError`` when the service fails or is not configured."""
        if not self.url:
            raise aiohttp.InvalidURL("QUOTES_URL is not set")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self._session.get(self.url, raise_for_status=True) as response:
            payload = await response.json()
        return str(payload["quote"])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
