"""The recorder: a participant on the server that writes every track it is given to disk.

It implements ``media.tap.TapConsumer``: the media router hands it tracks and encoded packets,
which go, untouched, into per-track segment files (``segments.TrackWriter``); the
room's events and sender reports go into the journal. Writing stops cleanly when
the disk runs low or a write fails, keeping what was written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from media.tracks import SenderReport, TrackInfo
from recordings.journal import JOURNAL_FILE, Journal
from recordings.segments import SEGMENT_S, TrackWriter

log = logging.getLogger("classroom.recordings")

TRACKS_DIR = "tracks"
MIN_FREE_BYTES = 200 * 1024 * 1024  # stop recording before the disk is full
DISK_CHECK_EVERY_S = 5.0
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class Recorder:
    """One recording of one room, in ``directory``; every method is synchronous and quick."""

    def __init__(
        self,
        directory: Path,
        clock: Callable[[], float],
        *,
        segment_s: float = SEGMENT_S,
        min_free_bytes: int = MIN_FREE_BYTES,
        on_failure: Callable[[str], None] | None = None,
        durable: bool = True,
    ) -> None:
        self.directory = directory
        self.clock = clock
        self.segment_s = segment_s
        self.min_free_bytes = min_free_bytes
        self.on_failure = on_failure
        self.journal = Journal(directory / JOURNAL_FILE, durable)
        self.writers: dict[str, TrackWriter] = {}  # by the media layer's track id
        self._numbers = 0  # track directories made so far
        self.failure: str | None = None
        self.stopped = False
        self._disk_checked = float("-inf")

    @property
    def active(self) -> bool:
        return not self.stopped and self.failure is None

    def start(self, **info: Any) -> None:
        """Journal the recording's start with what describes it (room, title, module...)."""
        self._guard(lambda: self.journal.append("started", self.clock(), **info))
        self._check_disk()

    # --- TapConsumer -----------------------------------------------------------

    def on_track(self, track: TrackInfo) -> None:
        """A track starts. One that comes back after it ended (republished in another
        codec for a viewer that cannot decode the first, say, or on a new connection:
        another codec, another RTP clock) is recorded as a new track of its own, in its
        own files, under an id of its own; the pipeline places each at its time."""
        if not self.active:
            return
        known = self.writers.get(track.id)
        if known is not None and not (known.ended or known.track.codec != track.codec):
            return
        number = self._numbers + 1
        name = f"t{number:02d}-{_SAFE.sub('', track.source)[:20]}"
        recorded = track if known is None else dataclasses.replace(track, id=f"{track.id}#{number}")

        def add() -> None:
            if known is not None and not known.ended:
                known.close_segment()
                self.journal.append("track_ended", self.clock(), track=known.track.id)
            self.journal.append("track", self.clock(), dir=name, track=recorded.to_json())
            self.writers[track.id] = TrackWriter(
                self.directory / TRACKS_DIR / name,
                recorded,
                self.journal,
                self.clock,
                self.segment_s,
            )
            self._numbers = number

        self._guard(add)

    def on_packet(self, track_id: str, packet: av.Packet) -> None:
        writer = self.writers.get(track_id)
        if writer is None or writer.ended or not self.active:
            return
        now = self.clock()
        if now - self._disk_checked >= DISK_CHECK_EVERY_S:
            self._check_disk()
            if not self.active:
                return
        self._guard(lambda: writer.write(packet))

    def on_sender_report(self, track_id: str, report: SenderReport) -> None:
        writer = self.writers.get(track_id)
        if writer is None or not self.active:
            return
        relative = writer.relative(report.rtp_timestamp)
        if relative is None:
            return
        self._guard(
            lambda: self.journal.append(
                "sender_report",
                self.clock(),
                track=writer.track.id,
                ntp=report.ntp_time,
                pts=relative,
            )
        )

    def on_track_ended(self, track_id: str) -> None:
        writer = self.writers.get(track_id)
        if writer is None or writer.ended or not self.active:
            return

        def end() -> None:
            writer.close_segment()
            writer.ended = True
            self.journal.append("track_ended", self.clock(), track=writer.track.id)

        self._guard(end)

    # --- the room ------------------------------------------------------------

    def record_event(self, type_: str, data: dict[str, Any], t: float | None = None) -> None:
        """Journal one of the room's events (any message type; they become chapters)."""
        if self.active:
            at = self.clock() if t is None else t
            self._guard(lambda: self.journal.append("event", at, type=type_, data=data))

    def stop(self, reason: str = "stopped") -> None:
        """Close every segment and journal the end; the recording is then ready to process."""
        if self.stopped:
            return
        if self.failure is None:
            for writer in self.writers.values():
                self._guard(writer.close_segment)
            self._guard(lambda: self.journal.append("stopped", self.clock(), reason=reason))
        self.stopped = True
        self.journal.close()

    # --- failures ------------------------------------------------------------

    def _check_disk(self) -> None:
        self._disk_checked = self.clock()
        try:
            free = shutil.disk_usage(self.directory).free
        except OSError as error:
            self._fail("write_error", f"cannot check free space: {error}")
            return
        if free < self.min_free_bytes:
            self._fail("disk_full", f"only {free // 2**20} MiB free on the recordings disk")

    def _guard(self, action: Callable[[], object]) -> None:
        if self.failure is not None:
            return
        try:
            action()
        except OSError as error:
            reason = "disk_full" if error.errno == 28 else "write_error"  # ENOSPC
            self._fail(reason, f"{error.strerror or error}")
        except av.FFmpegError as error:
            self._fail("write_error", str(error))

    def _fail(self, reason: str, detail: str) -> None:
        """Stop writing but keep every segment already closed; tell the owner once."""
        if self.failure is not None:
            return
        self.failure = reason
        log.error(
            "recording stopped by an error",
            extra={"dir": str(self.directory), "reason": reason, "detail": detail},
        )
        for writer in self.writers.values():
            writer.close_or_abandon()
        # Without this line the pipeline treats the journal as interrupted: the same outcome.
        with contextlib.suppress(OSError):
            self.journal.append("stopped", self.clock(), reason=reason, detail=detail)
        if self.on_failure is not None:
            self.on_failure(reason)
