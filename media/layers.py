"""Which simulcast layer each viewer gets of each video, and how a viewer's budget steps
through its videos and their layers (sans I/O: the router asks, nothing here sends).

A layer fits a viewer when it is at least as tall as the viewer shows the video
(``video_sizes``: device pixels of its tile; a gallery tile needs the quarter-size
layer, the stage of a room screen the full one): the smallest such layer is chosen,
the largest when none is tall enough, and the largest too while the viewer has not said
(a new page, a WHEP player). A layer the publisher stopped sending (a browser drops its
top layers when its own uplink or its processor cannot carry them) is never chosen
while another one flows.

A viewer's link may carry less than that: ``ladder`` lists, from the most to the least,
what it may get, so that its video budget (``media.congestion``: one rung at a time,
down on loss, up on a probe) takes quality away in the order people notice it least:
the thumbnails' layers first, then one layer of the stage, then the thumbnails one by
one (the last chosen first), then the rest of the stage's layers, then the stage;
audio is never on the ladder. A 1 Mbit/s link in a room of six cameras keeps the stage
at its half layer and every voice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from media.tracks import SenderReport

#: A layer this much shorter than the tile still fits it (a 10% upscale is not seen).
FIT = 0.9

#: One rung: for each chosen video (in the router's order, the stage first) the layer it
#: gets (0: the smallest), or None when it is left out.
Rung = tuple[int | None, ...]


def fitting(heights: Sequence[int | None], active: Sequence[bool], shown: int | None) -> int:
    """The layer that fits a video shown ``shown`` device pixels tall (None: not said;
    0: not seen, the smallest), among layers of these picture heights (None: not known
    yet) of which those ``active`` flow."""
    count = len(heights)
    flowing = [i for i in range(count) if active[i]] or list(range(count))
    if shown is None:
        return flowing[-1]
    if shown <= 0:
        return flowing[0]
    for i in flowing:
        height = heights[i]
        if height is not None and height >= shown * FIT:
            return i
    return flowing[-1]


def ladder(wanted: Sequence[int], lowest: Sequence[int]) -> list[Rung]:
    """Every rung a viewer's budget steps through, the full one (each video at its
    ``wanted`` layer) first and nothing (no video) last. ``lowest`` is each video's
    smallest flowing layer (a layer below it cannot be sent).

    Down the ladder: the thumbnails to their smallest layer (all at once), the stage one
    layer down (a readable picture still), the thumbnails left out (the last first),
    the stage down to its smallest layer, then the stage left out."""
    rung: list[int | None] = list(wanted)
    rungs: list[Rung] = [tuple(rung)]

    def step() -> None:
        if tuple(rung) != rungs[-1]:
            rungs.append(tuple(rung))

    for i in range(1, len(rung)):
        rung[i] = lowest[i]
    step()
    if rung and rung[0] is not None and rung[0] > lowest[0]:
        rung[0] -= 1
        step()
    for i in reversed(range(1, len(rung))):
        rung[i] = None
        step()
    while rung and rung[0] is not None and rung[0] > lowest[0]:
        rung[0] -= 1
        step()
    if rung:
        rung[0] = None
        step()
    return rungs


class TapFeed:
    """Which layer of a simulcast video its taps (the recorder) get: the largest that
    flows. A browser drops its top layers when its uplink or its processor cannot carry
    them (a conference-room PC on a busy link), and a recording of the top layer alone
    would then have no picture at all.

    A switch waits for a keyframe of the layer wanted (``want`` says to ask for one).
    Each layer's frames count time from their own first frame, so the taps' frames
    and sender reports are put on one line, the first tapped layer's: at a switch the
    new layer's offset comes from both layers' last sender reports (the same instant on
    both clocks), or, without them, from the time since the last frame tapped.
    """

    def __init__(self, top: int, clock_rate: int, clock: Callable[[], float]) -> None:
        self.wanted = top
        self.current: int | None = None
        self.clock_rate = clock_rate
        self.clock = clock
        self.offset = 0  # added to the current layer's pts
        self.switches = 0
        self._reports: dict[int, SenderReport] = {}
        self._last: tuple[int, float] | None = None  # the last pts tapped, and when

    def want(self, layer: int) -> bool:
        """The taps should get ``layer`` from now; whether a keyframe of it is awaited."""
        self.wanted = layer
        return layer != self.current

    def frame(self, layer: int, packet: Any) -> bool:
        """Whether this frame of ``layer`` goes to the taps (its pts put on their line)."""
        if layer != self.current:
            if layer != self.wanted or not packet.is_keyframe:
                return False
            self._switch(layer, packet.pts)
        pts = packet.pts + self.offset
        if self._last is not None and pts <= self._last[0]:
            self.offset += self._last[0] + 1 - pts  # never back in time
            pts = self._last[0] + 1
        packet.pts = pts
        self._last = (pts, self.clock())
        return True

    def report(self, layer: int, report: SenderReport) -> SenderReport | None:
        """A layer's sender report, on the taps' line; None if the taps do not get it."""
        self._reports[layer] = report
        if layer != self.current:
            return None
        return dataclasses.replace(report, rtp_timestamp=report.rtp_timestamp + self.offset)

    def _switch(self, layer: int, pts: int) -> None:
        before, self.current = self.current, layer
        if before is None:
            return  # the first layer tapped starts the line
        self.switches += 1
        old, new = self._reports.get(before), self._reports.get(layer)
        if old is not None and new is not None:
            apart = round((new.ntp_time - old.ntp_time) * self.clock_rate)
            self.offset += old.rtp_timestamp - new.rtp_timestamp + apart
        elif self._last is not None:
            last, at = self._last
            self.offset = last + round((self.clock() - at) * self.clock_rate) - pts
