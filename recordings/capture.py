"""The recorder as a media tap: packets are taken on the event loop and written in a thread.

The media router calls a tap on the event loop and wants it back at once. A
``Capture`` copies what it is handed (the router's packet objects are shared)
onto a bounded queue with the time it arrived, and one thread of its own feeds
the ``Recorder``, so disk writes and fsyncs never hold up forwarding. When the
queue is full a video track skips to its next keyframe (and asks for one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import av

from media.tracks import SenderReport, TrackInfo, is_keyframe
from recordings.recorder import Recorder

log = logging.getLogger("classroom.recordings")

QUEUE_LIMIT = 4096  # items; about ten seconds of a busy room

# (participant id) -> (display name, role, language): how the room describes someone.
Describe = Callable[[str], tuple[str, str | None, str | None]]


class Capture:
    """A ``media.tap.TapConsumer`` that records into ``recorder`` from its own thread."""

    def __init__(
        self,
        recorder: Recorder,
        describe: Describe,
        clock: Callable[[], float] = time.time,
        request_keyframe: Callable[[str], None] | None = None,
    ) -> None:
        self.recorder = recorder
        self.describe = describe
        self.clock = clock
        self.request_keyframe = request_keyframe
        self.tracks: dict[str, TrackInfo] = {}
        self.skipping: set[str] = set()  # video tracks waiting for a keyframe after a drop
        self.dropped = 0
        self._now = clock()
        recorder.clock = lambda: self._now  # the recorder sees when each item arrived
        # Unbounded, so the event loop never waits; packets stop at QUEUE_LIMIT (see _put).
        self._items: queue.Queue[tuple[float, str, tuple[Any, ...]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    # --- TapConsumer (event loop) ----------------------------------------------

    def on_track(self, track: TrackInfo) -> None:
        info = self.track_info(track)
        self.tracks[info.id] = info
        self._put("on_track", info, force=True)

    def on_packet(self, track_id: str, packet: av.Packet) -> None:
        info = self.tracks.get(track_id)
        if info is None:
            return
        data = bytes(packet)
        if track_id in self.skipping:
            if not is_keyframe(info.codec, data):
                self.dropped += 1
                return
            self.skipping.discard(track_id)
        copy = av.Packet(data)
        copy.pts, copy.time_base = packet.pts, packet.time_base
        if not self._put("on_packet", track_id, copy) and info.kind == "video":
            self.skipping.add(track_id)
            if self.request_keyframe is not None:
                self.request_keyframe(track_id)

    def on_sender_report(self, track_id: str, report: SenderReport) -> None:
        self._put("on_sender_report", track_id, report)  # frozen: shared as it is

    def on_track_ended(self, track_id: str) -> None:
        self._put("on_track_ended", track_id, force=True)

    # --- the room (event loop) --------------------------------------------------

    def record_event(self, type_: str, data: dict[str, Any]) -> None:
        self._put("record_event", type_, data, force=True)

    async def stop(self, reason: str = "stopped") -> None:
        """Write everything queued, close the recording, and wait for the thread to end."""
        self._put("stop", reason, force=True)
        self._items.put(None)
        await asyncio.to_thread(self._thread.join)

    def track_info(self, track: TrackInfo) -> TrackInfo:
        """The router's description of a track, with what the room knows of its publisher."""
        name, role, language = self.describe(track.participant)
        return dataclasses.replace(
            track,
            # A channel's voice, or a sign-language interpreter's video, names its language.
            language=language if track.source in ("interpretation", "signing") else None,
            name=name,
            role=role,
        )

    @property
    def queued(self) -> int:
        """Items waiting for the writer thread."""
        return self._items.qsize()

    def _put(self, method: str, *args: Any, force: bool = False) -> bool:
        if not force and self._items.qsize() >= QUEUE_LIMIT:
            self.dropped += 1  # the disk is not keeping up: lose media, never control items
            return False
        self._items.put_nowait((self.clock(), method, args))
        return True

    # --- the writer thread ------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._items.get()
            if item is None:
                return
            self._now, method, args = item
            try:
                getattr(self.recorder, method)(*args)
            except Exception:  # the recorder turns I/O errors into a stop; anything else is a bug
                log.exception("recorder failed", extra={"method": method})
