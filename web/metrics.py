"""Prometheus metrics at ``/metrics``, read from the live state of this app at scrape time."""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from collections.abc import Iterable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from classroom.permissions import Role
from live.hub import Hub
from recordings.library import STATES as RECORDING_STATES
from web.context import HUB, WEBSOCKETS
from web.recording_handlers import RECORDINGS
from web.ws import Dispatcher

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
STATES = ("connected", "disconnected", "lobby")


class MonotonicTotals:
    """Counters summed over sources that come and go (a room's media router), never going back.

    Each source reports its own running totals; when a source is gone (its room
    closed), the last totals seen from it are kept, so the sums stay monotonic
    as Prometheus counters must. Sources are held weakly.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)
        self.retired = dict.fromkeys(self.names, 0.0)
        self.last: dict[int, dict[str, float]] = {}
        self._finalizers: dict[int, weakref.finalize[..., object]] = {}

    def _retire(self, key: int) -> None:
        values = self.last.pop(key, None)
        self._finalizers.pop(key, None)
        if values is not None:
            for name in self.names:
                self.retired[name] += values[name]

    def totals(self, sources: Iterable[tuple[object, dict[str, float]]]) -> dict[str, float]:
        """The sum over live sources plus every retired one, for each counter name."""
        for source, values in sources:
            key = id(source)
            if key not in self._finalizers:
                self._finalizers[key] = weakref.finalize(source, self._retire, key)
            self.last[key] = {name: float(values[name]) for name in self.names}
        sums = dict(self.retired)
        for values in self.last.values():
            for name in self.names:
                sums[name] += values[name]
        return sums


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What one scrape reads from the hub (kept apart so tests can check the arithmetic)."""

    rooms: int
    participants: dict[tuple[str, str], int]
    websockets: int
    outbox_messages: int
    outbox_max: int


def snapshot(hub: Hub, websockets: int) -> Snapshot:
    participants = {(role.value, state): 0 for role in Role for state in STATES}
    outbox_total = outbox_max = 0
    for live in hub.rooms.values():
        for participant in live.core.participants.values():
            state = "connected" if participant.connected else "disconnected"
            participants[participant.role.value, state] += 1
        for participant in live.core.lobby.values():
            participants[participant.role.value, "lobby"] += 1
        for connection in live.connections.values():
            depth = connection.outbox.qsize()
            outbox_total += depth
            outbox_max = max(outbox_max, depth)
    return Snapshot(len(hub.rooms), participants, websockets, outbox_total, outbox_max)


#: Counters of media.forwarding.Counters (totals only grow) -> (metric name, help).
MEDIA_TOTALS = {
    "packets_received": (
        "classroom_media_packets_received_total",
        "RTP packets received from publishers.",
    ),
    "bytes_received": (
        "classroom_media_bytes_received_total",
        "Payload bytes of the RTP packets received from publishers.",
    ),
    "frames_received": (
        "classroom_media_frames_received_total",
        "Encoded frames those packets made up.",
    ),
    "packets_forwarded": (
        "classroom_media_packets_forwarded_total",
        "RTP packets sent to viewers (each publisher's packet once per viewer).",
    ),
    "bytes_forwarded": (
        "classroom_media_bytes_forwarded_total",
        "Payload bytes of the RTP packets sent to viewers.",
    ),
    "packets_retransmitted": (
        "classroom_media_packets_retransmitted_total",
        "RTP packets sent again on a viewer's NACK.",
    ),
    "packets_redundant": (
        "classroom_media_packets_redundant_total",
        "Audio packets sent to viewers whose links lose audio with the voice's earlier "
        "frames repeated in them (RFC 2198).",
    ),
    "packets_dropped": (
        "classroom_media_packets_dropped_total",
        "RTP packets not sent to a viewer: before its first keyframe, before its "
        "connection was up, or its socket buffer was full.",
    ),
    "frames_tapped": (
        "classroom_media_frames_tapped_total",
        "Encoded frames handed to in-process taps (the recorder).",
    ),
}
KEYFRAME_TOTALS = {
    "keyframe_requests_received": "received",
    "keyframe_requests_sent": "sent",
    "keyframe_requests_coalesced": "coalesced",
}


class ClassroomCollector(Collector):
    """Reads rooms, participants, queues, media and recordings of one app when scraped."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.media_totals = MonotonicTotals([*MEDIA_TOTALS, *KEYFRAME_TOTALS])
        self.recording_totals = MonotonicTotals(["dropped"])
        # The library's recordings by state, read (in a thread) just before each scrape.
        self.library_states: list[str] = []

    def collect(self) -> Iterator[Metric]:
        yield from self._rooms()
        yield from self._media()
        yield from self._recordings()

    def _rooms(self) -> Iterator[Metric]:
        state = snapshot(self.app[HUB], len(self.app[WEBSOCKETS]))
        yield GaugeMetricFamily("classroom_rooms", "Live rooms in this process.", state.rooms)
        participants = GaugeMetricFamily(
            "classroom_participants",
            "Participants by role and state (connected, disconnected within grace, lobby).",
            labels=["role", "state"],
        )
        for (role, status), count in sorted(state.participants.items()):
            participants.add_metric([role, status], count)
        yield participants
        yield GaugeMetricFamily(
            "classroom_websockets", "Open websocket connections.", state.websockets
        )
        yield GaugeMetricFamily(
            "classroom_ws_outbox_messages",
            "Messages queued for clients, summed over connections.",
            state.outbox_messages,
        )
        yield GaugeMetricFamily(
            "classroom_ws_outbox_max_messages",
            "Messages queued for the most backed-up connection.",
            state.outbox_max,
        )

    def _media(self) -> Iterator[Metric]:
        routers = [live.media for live in self.app[HUB].rooms.values() if live.media is not None]
        # Routers may share one Counters object: count each object once.
        counters = list({id(r.counters): r.counters for r in routers}.values())
        totals = self.media_totals.totals(
            (c, {name: getattr(c, name) for name in self.media_totals.names}) for c in counters
        )
        for attribute, (name, documentation) in MEDIA_TOTALS.items():
            yield CounterMetricFamily(name, documentation, value=totals[attribute])
        keyframes = CounterMetricFamily(
            "classroom_media_keyframe_requests_total",
            "Keyframe requests: received from viewers, joins and switches; sent to "
            "publishers; coalesced by the rate limit.",
            labels=["direction"],
        )
        for attribute, direction in KEYFRAME_TOTALS.items():
            keyframes.add_metric([direction], totals[attribute])
        yield keyframes
        yield GaugeMetricFamily("classroom_media_rooms", "Rooms with a media router.", len(routers))
        yield GaugeMetricFamily(
            "classroom_media_tracks_published",
            "Tracks being received from publishers.",
            sum(c.tracks_published for c in counters),
        )
        yield GaugeMetricFamily(
            "classroom_media_tracks_forwarded",
            "(track, viewer) pairs being forwarded.",
            sum(c.tracks_forwarded for c in counters),
        )

    def _recordings(self) -> Iterator[Metric]:
        parts = [
            live.recording for live in self.app[HUB].rooms.values() if live.recording is not None
        ]
        active = sum(1 for part in parts if not part.idle)
        yield GaugeMetricFamily(
            "classroom_recordings_active", "Rooms being recorded in this process.", active
        )
        captures = [part.capture for part in parts if part.capture is not None]
        yield GaugeMetricFamily(
            "classroom_recording_queue_items",
            "Packets and events waiting for the recorders' writer threads.",
            sum(capture.queued for capture in captures),
        )
        dropped = self.recording_totals.totals(
            (capture, {"dropped": capture.dropped}) for capture in captures
        )
        yield CounterMetricFamily(
            "classroom_recording_frames_dropped_total",
            "Frames the recorders dropped because the disk did not keep up (video then "
            "skips to its next keyframe).",
            value=dropped["dropped"],
        )
        jobs = GaugeMetricFamily(
            "classroom_recordings",
            "Recordings in the library by state (processing ones are jobs queued or running).",
            labels=["state"],
        )
        counts = dict.fromkeys(RECORDING_STATES, 0)
        for state in self.library_states:
            counts[state] = counts.get(state, 0) + 1
        for state, count in counts.items():
            jobs.add_metric([state], count)
        yield jobs


COLLECTOR = web.AppKey("metrics_collector", ClassroomCollector)


def _registry(app: web.Application) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(app[COLLECTOR])
    ProcessCollector(registry=registry)
    return registry


async def metrics(request: web.Request) -> web.Response:
    service = request.app.get(RECORDINGS)
    if service is not None:  # the library's index is read off the event loop
        statuses = await asyncio.to_thread(service.library.all)
        request.app[COLLECTOR].library_states = [status.status for status in statuses]
    body = generate_latest(request.app[REGISTRY])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def setup(app: web.Application, dispatcher: Dispatcher) -> None:
    """Serve /metrics from a registry of this app's own (no process-global state)."""
    app[COLLECTOR] = ClassroomCollector(app)
    app[REGISTRY] = _registry(app)
    app.router.add_get("/metrics", metrics)
