from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.cameras.camera import RtspCamera


@pytest.fixture
async def rtsp_camera() -> AsyncIterator[RtspCamera]:
    """A camera streaming H.264 (constrained baseline) over RTSP on loopback."""
    camera = RtspCamera()
    await camera.start()
    try:
        yield camera
    finally:
        await camera.kill()
