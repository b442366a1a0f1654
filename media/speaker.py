"""Who is speaking, from the RTP audio-level header extension, and which videos each viewer gets.

Browsers put the level of every audio packet in the RTP header (RFC 6464,
``urn:ietf:params:rtp-hdrext:ssrc-audio-level``: 0 is the loudest, 127 silence, in
-dBov), which aiortc parses when the extension is negotiated. Nothing is decoded.
Both classes here are sans-I/O: the caller passes the time.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable

SILENCE = 127
#: Average loudness (127 - level) over the window above which someone is speaking:
#: a level of about -60 dBov, well above a quiet room and well below speech.
SPEAKING_LOUDNESS = 67.0
#: How much louder (dB) someone must be than the current speaker to take over.
TAKE_OVER_MARGIN = 6.0


class ActiveSpeaker:
    """The dominant speaker: the loudest of those speaking over the last ``window_s``.

    The current speaker keeps the floor until they fall silent or someone else is
    ``TAKE_OVER_MARGIN`` louder, so the choice does not flicker between two voices.
    """

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self.current: str | None = None
        self.last_spoke: dict[str, float] = {}  # when each one was last speaking
        self._levels: dict[str, collections.deque[tuple[float, int]]] = {}
        self._sums: dict[str, int] = {}

    def observe(self, pid: str, level: int, now: float) -> None:
        """One audio packet of ``pid`` at RFC 6464 ``level`` (0-127)."""
        loudness = SILENCE - min(max(level, 0), SILENCE)
        levels = self._levels.setdefault(pid, collections.deque())
        levels.append((now, loudness))
        self._sums[pid] = self._sums.get(pid, 0) + loudness
        self._expire(pid, now)

    def _expire(self, pid: str, now: float) -> None:
        levels = self._levels[pid]
        while levels and now - levels[0][0] > self.window_s:
            self._sums[pid] -= levels.popleft()[1]

    def loudness(self, pid: str, now: float) -> float:
        """Average loudness (127 - level) over the window; 0 without recent packets."""
        if pid not in self._levels:
            return 0.0
        self._expire(pid, now)
        levels = self._levels[pid]
        # Missing packets (muted, DTX) count as silence over the window.
        expected = max(len(levels), int(self.window_s * 50))
        return self._sums[pid] / expected if levels else 0.0

    def forget(self, pid: str) -> None:
        self._levels.pop(pid, None)
        self._sums.pop(pid, None)
        self.last_spoke.pop(pid, None)
        if self.current == pid:
            self.current = None

    def decide(self, now: float, candidates: Iterable[str] | None = None) -> str | None:
        """The speaker now (among ``candidates`` when given); it may be unchanged or None."""
        pids = list(self._levels if candidates is None else candidates)
        speaking = {pid: self.loudness(pid, now) for pid in pids}
        speaking = {pid: value for pid, value in speaking.items() if value >= SPEAKING_LOUDNESS}
        for pid in speaking:
            self.last_spoke[pid] = now
        if not speaking:
            if self.current is not None and self.current not in pids:
                self.current = None
            return self.current
        loudest = max(speaking, key=lambda pid: (speaking[pid], pid))
        held = speaking.get(self.current) if self.current is not None else None
        if held is None or speaking[loudest] >= held + TAKE_OVER_MARGIN:
            self.current = loudest
        return self.current


@dataclasses.dataclass(frozen=True)
class VideoCandidate:
    track_id: str
    participant: str
    source: str
    published_at: int  # order of publication, for a stable tie-break


def choose_videos(
    candidates: Iterable[VideoCandidate],
    limit: int,
    *,
    pinned: str | None,
    speaker: str | None,
    last_spoke: dict[str, float],
) -> list[str]:
    """The track ids a viewer gets, at most ``limit``: screen shares, the pinned
    participant, the active speaker, then whoever spoke most recently, then by age."""

    def rank(candidate: VideoCandidate) -> tuple[int, float, int]:
        if candidate.source in ("screen", "signing"):  # a signer is never left out
            group = 0
        elif candidate.participant == pinned:
            group = 1
        elif candidate.participant == speaker:
            group = 2
        else:
            group = 3
        return group, -last_spoke.get(candidate.participant, float("-inf")), candidate.published_at

    return [c.track_id for c in sorted(candidates, key=rank)[: max(limit, 0)]]
