"""Media that dies: the router drops a dead connection, tells its participant, and takes
the same participant's fresh connections as if they were new (over real aiortc peers)."""

from __future__ import annotations

from aioice import Connection

from config import Settings
from media.router import MediaRouter
from tests.media.conftest import Room


def ice_of(router: MediaRouter, pid: str, side: str) -> Connection:
    """The server's aioice connection of one of ``pid``'s peer connections."""
    owner = router.publishers[pid] if side == "publish" else router.subscribers[pid]
    assert owner.pc is not None
    transport = owner.pc.getTransceivers()[0].receiver.transport.transport
    connection: Connection = transport._connection
    return connection


async def test_a_publisher_whose_consent_expired_is_dropped_and_comes_back_fresh(
    room: Room,
) -> None:
    viewer = await room.viewer("b")
    await room.publisher("a", frames=300)
    await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 10)

    # What aioice does when six consent checks in a row went unanswered.
    await ice_of(room.router, "a", "publish").close()
    await viewer.wait_for(lambda: ("a", "publish", "ice_failed") in room.wire.failures)
    assert "a" not in room.router.publishers
    await viewer.wait_for(lambda: not viewer.shown)  # its tracks stopped for everyone
    assert room.router.counters.tracks_published == 0
    assert room.wire.failures == [("a", "publish", "ice_failed")]  # the viewer is fine

    # The participant's fresh publish connection is taken like a new one.
    before = len(viewer.frames("a", "camera"))
    await room.publisher("a", frames=300)
    await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= before + 10)
    fresh = viewer.frames("a", "camera")[before:]
    assert fresh[0].keyframe  # the viewer starts again at a keyframe


async def test_a_viewer_whose_consent_expired_is_dropped_and_comes_back_fresh(
    room: Room,
) -> None:
    viewer = await room.viewer("b")
    publisher = await room.publisher("a", frames=300)
    await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 10)

    await ice_of(room.router, "b", "subscribe").close()
    await viewer.wait_for(lambda: ("b", "subscribe", "ice_failed") in room.wire.failures)
    assert "b" not in room.router.subscribers
    assert "a" in room.router.publishers  # the publisher is not touched

    again = await room.viewer("b")  # the client's fresh receive connection
    await again.wait_for(lambda: len(again.frames("a", "camera")) >= 10)
    assert again.frames("a", "camera")[0].keyframe
    assert publisher.tracks["camera"].keyframe_requests >= 1
    assert room.wire.failures == [("b", "subscribe", "ice_failed")]


async def test_a_connected_publisher_that_sends_nothing_is_dropped(settings: Settings) -> None:
    now = [1000.0]
    room = Room(settings, clock=lambda: now[0], silent_publisher_s=20)
    try:
        viewer = await room.viewer("b")
        client = await room.publisher("a", frames=300)
        router = room.router
        publisher = router.publishers["a"]
        await viewer.wait_for(lambda: publisher.reports >= 2)  # sender reports arrive

        # Still sending: time passing is no reason to drop it. (The clock moves only
        # once a new report is in: the router's own health loop runs meanwhile, and 30 s
        # without a new report would be a reason.)
        router.check_health()
        seen = publisher.reports
        await viewer.wait_for(lambda: publisher.reports > seen)
        now[0] += 30
        router.check_health()
        assert "a" in router.publishers and not room.wire.failures

        # The browser stops sending but its connection stays up (ICE still answers).
        for transceiver in client.pc.getTransceivers():
            await transceiver.sender.stop()
        stopped = publisher.reports
        router.check_health()
        now[0] += 19
        router.check_health()
        assert "a" in router.publishers
        now[0] += 1
        router.check_health()
        assert publisher.reports == stopped
        assert room.wire.failures == [("a", "publish", "no_packets")]
        assert "a" not in router.publishers
        await viewer.wait_for(lambda: not viewer.shown)
    finally:
        await room.close()


async def test_a_pinned_participant_whose_media_starts_afresh_stays_pinned(room: Room) -> None:
    viewer = await room.viewer("b")
    await room.publisher("a")
    room.router.pin("a")
    room.router.remove("a")  # what media_ready does before the client publishes again
    assert room.router.pinned == "a"
    await room.publisher("a")
    await viewer.wait_for(lambda: len(viewer.frames("a", "camera")) >= 5)
