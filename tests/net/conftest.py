"""Fixtures of the network tests: a namespace behind a shaped link, ``classroom serve``
where the namespace reaches it, publishers of pre-encoded clips, and a Chromium viewer
in the namespace (``tests.net.room``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.net.netns import Namespace, unavailable
from tests.net.room import Publishers, publishers, served, viewers
from tests.server import ServerProcess


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with Namespace(seed=17) as made:
        yield made


@pytest.fixture
async def server(namespace: Namespace, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    async with served(namespace, tmp_path) as running:
        yield running


@pytest.fixture
async def publish(server: ServerProcess) -> AsyncIterator[Publishers]:
    async with publishers(server) as made:
        yield made


View = Callable[[], Awaitable[Page]]


@pytest.fixture
async def view(namespace: Namespace, server: ServerProcess, tmp_path: Path) -> AsyncIterator[View]:
    """view() -> the page of an observer in Chromium inside the namespace."""
    async with viewers(namespace, server, tmp_path) as made:
        yield made.open
