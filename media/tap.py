"""The in-process tap: how a consumer in this process (the recorder) receives forwarded media.

Register a consumer with ``MediaRouter.add_tap(consumer, pid)``. The router then
calls it on the event loop, in this order for each track (``TapConsumer``; the
recorder implements it as it is; ``TrackInfo`` and ``SenderReport`` are in ``media.tracks``):

- ``on_track(track)`` when a track becomes available to the tap (published, or
  allowed again by the forwarding policy for the tap's ``pid``);
- ``on_packet(track_id, packet)`` for every encoded frame: an ``av.Packet`` with
  ``pts`` in RTP clock units (0 at the track's first frame, never wrapping),
  ``time_base`` = 1 / clock rate and ``is_keyframe``. The same object goes to
  every consumer and must not be changed. Video starts at a keyframe;
- ``on_sender_report(track_id, report)`` for every RTCP sender report of the
  publisher: the wall-clock time (NTP, as Unix seconds) of an RTP time given on
  the packets' ``pts`` scale, so that tracks of several participants line up;
- ``on_track_ended(track_id)`` when it is unpublished, its publisher leaves, or
  the policy stops it.

Every method must return quickly and never block: queue the work (bounded, dropping
video to the next keyframe when full) and do it in a task or thread of your own.
``Tap.request_keyframe(track_id)`` asks the publisher for a keyframe (rate-limited,
like a viewer's PLI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import av

from media.tracks import SenderReport, TrackInfo


class TapConsumer(Protocol):
    """What a tap consumer implements (see the module docstring for the order of calls)."""

    def on_track(self, track: TrackInfo) -> None: ...
    def on_packet(self, track_id: str, packet: av.Packet) -> None: ...
    def on_sender_report(self, track_id: str, report: SenderReport) -> None: ...
    def on_track_ended(self, track_id: str) -> None: ...


class Tap:
    """A registered consumer; the forwarding policy sees it as subscriber ``pid``."""

    def __init__(
        self,
        consumer: TapConsumer,
        pid: str,
        request: Callable[[str], None],
        remove: Callable[[Tap], None],
    ) -> None:
        self.consumer = consumer
        self.pid = pid
        self.tracks: set[str] = set()  # ids of the tracks it currently receives
        self._request = request
        self._remove = remove

    def request_keyframe(self, track_id: str) -> None:
        """Ask the track's publisher for a keyframe (coalesced with other requests)."""
        self._request(track_id)

    def close(self) -> None:
        """Stop receiving; ``on_track_ended`` is called for each track it had."""
        self._remove(self)
