"""The in-process tap: how a consumer in this process (the recorder) receives forwarded media.

Register a consumer with ``MediaRouter.add_tap(consumer, pid)``. The router then
calls it, on the event loop and in this order for each track:

- ``track_started(track)`` when a track becomes available to the tap (published,
  or allowed again by the forwarding policy for the tap's ``pid``);
- ``packet(track, packet)`` for every encoded frame: an ``av.Packet`` with ``pts``
  in RTP clock units (0 at the track's first frame), ``time_base`` = 1 / clock
  rate and ``is_keyframe``. The same object is handed to every consumer and must
  not be changed. Video starts at a keyframe;
- ``sender_report(track, report)`` for every RTCP sender report of the publisher:
  the wall-clock time (NTP) of an RTP time, given in the track's ``pts`` units, so
  tracks of several participants can be lined up;
- ``track_ended(track)`` when it is unpublished, its publisher leaves, or the
  policy stops it.

Every method must return quickly and never block: queue the work (for example in
a ``media.forwarding.FrameQueue``, which is bounded and drops to the next keyframe)
and do it in a task of your own. ``Tap.request_keyframe(track_id)`` asks the
publisher for a keyframe (rate-limited, like a viewer's PLI).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import av


@dataclasses.dataclass(frozen=True)
class TrackInfo:
    """A published track: ``id`` is ``"<participant>/<source>"``, unique in the room."""

    id: str
    participant: str
    source: str  # camera, screen, microphone, interpretation, booth
    kind: str  # audio or video
    codec: str  # opus, VP8 or H264
    clock_rate: int  # RTP clock: 48000 for Opus, 90000 for video

    def to_json(self) -> dict[str, str]:
        return {"participant": self.participant, "source": self.source, "kind": self.kind}


@dataclasses.dataclass(frozen=True)
class SenderReport:
    """An RTCP sender report: at ``ntp_time`` (Unix seconds) the track's RTP clock read
    ``rtp_timestamp``, which is ``pts`` in the units of the track's packets."""

    ntp_time: float
    rtp_timestamp: int
    pts: int


class TapConsumer(Protocol):
    """What a tap consumer implements (see the module docstring for the order of calls)."""

    def track_started(self, track: TrackInfo) -> None: ...
    def packet(self, track: TrackInfo, packet: av.Packet) -> None: ...
    def sender_report(self, track: TrackInfo, report: SenderReport) -> None: ...
    def track_ended(self, track: TrackInfo) -> None: ...


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
        """Stop receiving; ``track_ended`` is called for each track it had."""
        self._remove(self)
