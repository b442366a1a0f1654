"""The media of one room: who publishes what, who receives it, and the hooks other features use.

A ``MediaRouter`` lives in ``LiveRoom.media`` (the media service creates it on the
first media message of a room). It forwards encoded media and
never transcodes. Other features use these:

Forwarding policy
    ``add_policy(policy)`` registers ``policy(publisher_pid, source, subscriber_pid)
    -> bool``; a track goes to a subscriber only when every policy says yes (a
    policy that raises says no). The subscriber may be a tap's pid (``"recorder"``),
    not a participant. The room's services register two: the room's (a microphone
    muted by a trainer is not forwarded, nor a screen the room core does not show as
    shared) and interpretation's.

Forwarding decisions as deltas
    The router keeps what it decided for each subscriber (``View``: the tracks the
    policies allow, the videos chosen among them) and looks again only where it is
    told something changed: ``refresh(scope)`` takes a ``classroom.forwarding.Scope``,
    the (publisher, source, viewer) pairs that events may have changed, and puts only
    those pairs to the policies. ``classroom.forwarding`` maps the room's and the
    channels' events to their scope (a trainer's mute: that microphone for every
    viewer; a listener's channel: the interpretation reaching that listener; an
    arrival or departure: what that participant publishes and views), and the
    services pass it; chat, hands and answers have none and never reach the router.
    ``refresh()`` without a scope looks at every pair (a policy added or removed;
    when unsure). The router scopes its own changes the same way: a subscriber's new
    connection (that viewer), a publish or a dropped publisher (their tracks).

Taps
    ``add_tap(consumer, pid)`` hands every forwarded packet of every track the
    policy allows for ``pid`` to an in-process consumer; see ``media.tap``.

Counters
    ``counters`` (``media.forwarding.Counters``): this router's own running figures
    as plain attributes (pass one object to several routers to share it).

Video selection
    Each viewer gets every audio track allowed to it and at most
    ``max_videos_per_viewer`` videos: screen shares, the pinned participant
    (``pin``), the active speaker, then the most recent speakers. The active
    speaker comes from RTP audio levels (``media.speaker``) and is announced
    through ``Signalling.active_speaker``. Videos are chosen again, from the
    decisions kept and without asking the policies, for a viewer when a decision
    about a video changed for it, and for everyone on a pin, a shared screen or a
    new active speaker (``Scope.videos``); a voice muted or unmuted leaves them.
    A viewer whose link loses packets gets fewer (``media.congestion``: its video
    budget, from its receiver reports; the first of that order is the last to go);
    a change of budget chooses that viewer's videos again, nobody else's.

Codec changes
    An m-line keeps the codec it was negotiated with. When a viewer arrives that cannot
    decode a published video (H.264 to a VP8-only browser), the router asks its
    publisher (``Signalling.republish``, once until that publisher's next ``publish``)
    to publish those sources again on new m-lines, for which ``choose_video`` then
    picks a codec every viewer decodes. Viewers that decoded the old one re-bind.

Media that dies
    A connection whose ICE fails (never connected, or consent expired: aioice closes
    it after about 30 s without answers) or a publisher that sends nothing for
    ``silent_publisher_s`` while connected and meant to send is dropped (its tracks
    stop, as on ``remove``) and its participant told (``Signalling.media_failed``),
    who then builds its media afresh (``ready``, ``publish``). aiortc cannot restart
    ICE, so a fresh connection is the only way back.

Signalling (``ready``, ``publish``, ``answer``, ``remove``) is driven by the web
layer, which also implements ``Signalling`` to carry the server's offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol

from classroom.errors import InvalidCommand
from classroom.forwarding import VIDEOS, Pairs, Scope
from config import Settings
from media.codecs import Codec, choose_video_codec
from media.congestion import VideoBudget
from media.description import BadDescription
from media.forwarding import Counters, PublishedTrack
from media.ice import gather_loopback_when_alone, larger_socket_buffers, rtc_configuration
from media.layers import TapFeed, fitting, ladder
from media.publisher import Inbound, Publisher
from media.redundancy import AudioRedundancy
from media.speaker import ActiveSpeaker, VideoCandidate, choose_videos
from media.subscriber import Subscriber
from media.tap import Tap, TapConsumer
from media.tracks import SenderReport, TrackInfo, codec_name
from media.whep import Voice, WhepViewer

log = logging.getLogger("classroom.media")

Policy = Callable[[str, str, str], bool]
SPEAKER_TICK_S = 0.25
#: Keyframe requests to one publisher's track are sent at most this often.
KEYFRAME_INTERVAL_S = 0.5
#: How often the publishers' sender-report counts are looked at...
HEALTH_TICK_S = 2.5
#: ... and which simulcast layers flow.
LAYERS_TICK_S = 0.5
#: A viewer's budget counts rungs of ``media.layers.ladder``, never more than this.
MAX_RUNGS = 64
#: A connected publisher that should send and whose sender reports stop this long is
#: dead (browsers send one at least every 7.5 s for audio, every second for video).
SILENT_PUBLISHER_S = 20.0


class Signalling(Protocol):
    """What the router needs sent to participants (the web layer implements it)."""

    def subscribe_offer(self, pid: str, sdp: str, tracks: dict[str, Any]) -> None:
        """A new offer for ``pid``'s subscribe connection and what each m-line shows."""

    def subscribe_tracks(self, pid: str, tracks: dict[str, Any]) -> None:
        """What each m-line of ``pid``'s subscribe connection shows now (no new offer)."""

    def active_speaker(self, pid: str | None) -> None:
        """The room's active speaker changed."""

    def republish(self, pid: str, sources: list[str]) -> None:
        """Ask ``pid`` to publish these video sources again, each on a new m-line."""

    def media_failed(self, pid: str, connection: str, reason: str) -> None:
        """``pid``'s ``connection`` ("publish" or "subscribe") died and was dropped."""


#: A connection the router forwards to: a participant's subscribe connection, or a
#: WHEP player's programme.
Receiver = Subscriber | WhepViewer


class View:
    """What the router decided for one subscribe connection: the tracks the policies let
    reach it (by publisher and source), and the videos chosen among them."""

    __slots__ = ("allowed", "subscriber", "videos")

    def __init__(self, subscriber: Receiver) -> None:
        self.subscriber = subscriber
        self.allowed: dict[str, dict[str, PublishedTrack]] = {}
        self.videos: list[PublishedTrack] = []

    def tracks(self) -> Iterable[PublishedTrack]:
        for sources in self.allowed.values():
            yield from sources.values()

    def audio(self) -> list[PublishedTrack]:
        return [track for track in self.tracks() if track.info.kind == "audio"]


class MediaRouter:
    """Forwards each participant's published tracks to the others (see the module docstring)."""

    def __init__(
        self,
        room: str,
        settings: Settings,
        signalling: Signalling,
        *,
        counters: Counters | None = None,
        clock: Callable[[], float] = time.monotonic,
        keyframe_interval_s: float = KEYFRAME_INTERVAL_S,
        silent_publisher_s: float = SILENT_PUBLISHER_S,
    ) -> None:
        gather_loopback_when_alone()
        larger_socket_buffers()
        self.room = room
        self.settings = settings
        self.signalling = signalling
        self.counters = counters if counters is not None else Counters()
        self.clock = clock
        self.keyframe_interval_s = keyframe_interval_s
        self.silent_publisher_s = silent_publisher_s
        self.configuration = rtc_configuration(
            settings.ice_servers, settings.turn_username, settings.turn_password.reveal()
        )
        self.publishers: dict[str, Publisher] = {}
        self.subscribers: dict[str, Receiver] = {}
        self.tracks: dict[str, PublishedTrack] = {}
        self._sources: dict[str, dict[str, PublishedTrack]] = {}  # pid -> source -> track
        self._views: dict[str, View] = {}  # what was decided for each subscriber
        self._view_heights: dict[str, dict[str, int]] = {}  # viewer -> track id -> pixels
        self.policies: list[Policy] = []
        self.taps: list[Tap] = []
        self.pinned: str | None = None
        self.speaker = ActiveSpeaker()
        self.active_speaker: str | None = None
        self.closed = False
        self._order = itertools.count()
        self._published_at: dict[str, int] = {}
        self._publishing: dict[str, object] = {}  # pid -> token of a publish in flight
        self._republish_asked: set[str] = set()  # until each one's next publish
        self._tasks: set[asyncio.Task[Any]] = set()
        self._speaker_task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        #: pid -> (sender reports counted, when that count was first seen)
        self._heard: dict[str, tuple[int, float]] = {}

    # -- what other features use ------------------------------------------------

    def add_policy(self, policy: Policy) -> Callable[[], None]:
        """Consult ``policy`` for every (track, viewer) pair; returns a function removing it."""
        self.policies.append(policy)
        self.refresh()

        def remove() -> None:
            if policy in self.policies:
                self.policies.remove(policy)
                self.refresh()

        return remove

    def refresh(self, scope: Scope | None = None) -> None:
        """Look again at the decisions in ``scope`` (None: every one), then bind and unbind.

        Only the (track, viewer) pairs of the scope are put to the policies; the other
        decisions are kept. A viewer's videos are chosen again when a decision about a
        video changed for it, or for everyone when ``scope.videos``; else it keeps them.
        """
        if self.closed:
            return
        if scope is None or scope.everything:
            for pid, subscriber in self.subscribers.items():
                self._views[pid] = view = self._decide_afresh(pid, subscriber)
                self._assign(view, choose=True)
            for tap in self.taps:
                self._assign_tap(tap)
            return
        changed: dict[str, bool] = {}  # viewer -> whether its videos are chosen again
        for pairs in scope.pairs:
            if pairs.viewer is not None:
                self._decide_for(pairs.viewer, pairs, changed)
            else:
                for pid in self.subscribers:
                    self._decide_for(pid, pairs, changed)
        if scope.videos:
            changed = dict.fromkeys(self.subscribers, True)
        for pid, choose in changed.items():
            subscriber = self.subscribers[pid]
            kept = self._views.get(pid)
            if kept is None or kept.subscriber is not subscriber:
                kept = self._views[pid] = self._decide_afresh(pid, subscriber)
                choose = True
            self._assign(kept, choose)
        for tap in self.taps:
            self._assign_tap(tap, scope)

    def pin(self, pid: str | None) -> None:
        """Show this participant to everyone (within the video limit), or nobody pinned."""
        self.pinned = pid
        self.refresh(VIDEOS)

    def view_sizes(self, pid: str, heights: Mapping[str, int]) -> None:
        """How tall ``pid``'s page shows each video it gets now (track id -> device pixels;
        0 or absent: not seen, e.g. a hidden tile): each video goes to it in the smallest
        layer at least that tall (``media.layers``), the rest of its link permitting."""
        self._view_heights[pid] = {tid: max(0, int(h)) for tid, h in heights.items()}
        view = self._views.get(pid)
        if view is not None and not self.closed:
            self._assign(view, choose=False)

    def add_tap(self, consumer: TapConsumer, pid: str = "recorder") -> Tap:
        """Hand every packet of the tracks the policy allows for ``pid`` to ``consumer``."""
        tap = Tap(consumer, pid, self.request_keyframe, self._remove_tap)
        self.taps.append(tap)
        self._assign_tap(tap)
        return tap

    def request_keyframe(self, track_id: str) -> None:
        """Ask the publisher of a track for a keyframe (rate-limited)."""
        track = self.tracks.get(track_id)
        if track is not None:
            track.tapped().request_keyframe()

    def published(self) -> list[TrackInfo]:
        return [track.info for track in self.tracks.values()]

    @property
    def idle(self) -> bool:
        """Nothing to keep the room for (the hub forgets an empty room when idle)."""
        return not (self.publishers or self.subscribers or self.taps)

    # -- signalling ------------------------------------------------------------

    async def ready(self, pid: str, codecs: Iterable[str]) -> None:
        """``pid`` can receive (video codecs it decodes); a fresh subscribe connection."""
        old = self.subscribers.pop(pid, None)
        if old is not None:
            self._spawn(old.close())
        self.subscribers[pid] = Subscriber(
            pid,
            frozenset(codec_name(name) for name in codecs),
            self.configuration,
            self.settings.public_ip,
            self.counters,
            send_offer=lambda sdp, tracks: self.signalling.subscribe_offer(pid, sdp, tracks),
            send_tracks=lambda tracks: self.signalling.subscribe_tracks(pid, tracks),
            on_failed=self._subscriber_failed,
            budget=VideoBudget(MAX_RUNGS, self.clock),
            on_budget=self._budget_changed,
            redundancy=AudioRedundancy(self.clock),
        )
        self.refresh(Scope.viewer(pid))
        self._ask_republish()

    def choose_video(self, offered: dict[str, Codec]) -> Codec:
        """H.264 when everyone receiving can decode it, else VP8."""
        return choose_video_codec(offered, (s.codecs for s in self.subscribers.values()))

    async def publish(self, pid: str, sdp: str, sources: Mapping[str, str]) -> str:
        """Apply ``pid``'s publish offer (sources by mid); returns the answer.

        Raises BadDescription (nothing changed) when the offer is malformed or does
        not match ``sources``. Permission to publish each source is the caller's check.
        """
        publisher = self.publishers.get(pid)
        fresh = publisher is None
        if publisher is None:
            publisher = Publisher(
                pid,
                self.configuration,
                self.settings.public_ip,
                self._audio_level,
                self._sender_report,
                functools.partial(self._publisher_failed, reason="ice_failed"),
            )
        token = self._publishing[pid] = object()
        try:
            answer = await publisher.negotiate(sdp, sources, self.choose_video)
        except BadDescription:
            if fresh:
                self._spawn(publisher.close())
            raise
        finally:
            removed = self._publishing.get(pid) is not token  # remove() ran meanwhile
            if not removed:
                del self._publishing[pid]
        if removed or self.closed:
            self._spawn(publisher.close())
            raise InvalidCommand(f"{pid} left while publishing")
        self.publishers[pid] = publisher
        self._start_health_checks()
        self._republish_asked.discard(pid)
        self._update_published(publisher)
        self.refresh(Scope.publisher(pid))
        self._ask_republish()
        return answer

    async def answer(self, pid: str, sdp: str) -> None:
        """Apply ``pid``'s answer to the last subscribe offer."""
        subscriber = self.subscribers.get(pid)
        if not isinstance(subscriber, Subscriber):
            raise InvalidCommand("no subscribe offer is waiting for an answer")
        await subscriber.accept(sdp)

    async def watch(self, pid: str, offer: str, voice: Voice) -> WhepViewer:
        """A WHEP player (``pid``, not a participant) gets the programme: its offer is
        answered (``viewer.answer`` is kept on it) and it is forwarded to like a viewer."""
        viewer = WhepViewer(
            pid,
            self.configuration,
            self.settings.public_ip,
            self.counters,
            voice,
            on_failed=self._subscriber_failed,
        )
        try:
            viewer.sdp = await viewer.answer(offer)
        except BaseException:
            self._spawn(viewer.close())
            raise
        if self.closed:
            self._spawn(viewer.close())
            raise InvalidCommand("the room's media is closed")
        old = self.subscribers.pop(pid, None)
        if old is not None:
            self._spawn(old.close())
        self.subscribers[pid] = viewer
        self.refresh(Scope.viewer(pid))
        self._ask_republish()
        return viewer

    def remove(self, pid: str) -> None:
        """``pid``'s media is gone (left, removed, disconnected): stop forwarding it."""
        self._publishing.pop(pid, None)
        self._drop_publisher(pid)
        subscriber = self.subscribers.pop(pid, None)
        self._views.pop(pid, None)
        self._view_heights.pop(pid, None)
        if subscriber is not None:
            self._spawn(subscriber.close())
        self.speaker.forget(pid)
        # A pin stays: media that restarts (``ready`` again) comes back pinned; the room
        # unpins someone who leaves (``pin(None)``).
        self.refresh(Scope.publisher(pid))

    async def close(self) -> None:
        """Close every connection (the room is gone or the server shuts down)."""
        for pid in list(self.publishers) + list(self.subscribers):
            self.remove(pid)
        for tap in list(self.taps):
            self._remove_tap(tap)
        self.closed = True
        if self._speaker_task is not None:
            self._speaker_task.cancel()
        if self._health_task is not None:
            self._health_task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def check_health(self) -> None:
        """Drop every connected publisher that should send and has sent nothing (no
        RTCP sender report) for ``silent_publisher_s``; runs every ``HEALTH_TICK_S``."""
        now = self.clock()
        for pid, publisher in list(self.publishers.items()):
            if publisher.pc.connectionState != "connected" or not publisher.sending:
                self._heard.pop(pid, None)
                continue
            count, since = self._heard.get(pid, (-1, now))
            if publisher.reports != count:
                self._heard[pid] = (publisher.reports, now)
            elif now - since >= self.silent_publisher_s:
                self._publisher_failed(publisher, reason="no_packets")

    def check_layers(self) -> None:
        """Note which simulcast layers flow; the viewers of a video one of whose layers
        started or stopped get their layers chosen again, and its taps the largest
        layer that flows (from that layer's next keyframe)."""
        changed = {
            track.info.id
            for track in self.tracks.values()
            if len(track.layers) > 1 and any([layer.look() for layer in track.layers])
        }
        for track in self.tracks.values():
            if track.feed is not None and track.taps:
                flowing = [layer for layer in track.layers if layer.active]
                wanted = flowing[-1] if flowing else track
                if track.feed.want(wanted.layer):
                    wanted.request_keyframe()  # rate-limited: once per interval at most
        if not changed or self.closed:
            return
        for view in list(self._views.values()):
            if any(video.info.id in changed for video in view.videos):
                self._assign(view, choose=False)

    # -- inside ----------------------------------------------------------------

    def _drop_publisher(self, pid: str) -> None:
        self._republish_asked.discard(pid)
        self._heard.pop(pid, None)
        publisher = self.publishers.pop(pid, None)
        if publisher is not None:
            for inbound in publisher.inbound:
                self._retarget(inbound, None, publisher)
            self._spawn(publisher.close())

    def _publisher_failed(self, publisher: Publisher, reason: str) -> None:
        pid = publisher.pid
        if self.closed or self.publishers.get(pid) is not publisher:
            return  # replaced or removed meanwhile: nobody to tell
        log.warning("publish connection of %s died (%s)", pid, reason, extra={"participant": pid})
        self._drop_publisher(pid)
        self.refresh(Scope.publisher(pid))
        self.signalling.media_failed(pid, "publish", reason)

    def _subscriber_failed(self, subscriber: Receiver) -> None:
        pid = subscriber.pid
        if self.closed or self.subscribers.get(pid) is not subscriber:
            return
        log.warning("subscribe connection of %s died (ice_failed)", pid, extra={"participant": pid})
        del self.subscribers[pid]
        self._views.pop(pid, None)
        self._spawn(subscriber.close())
        self.signalling.media_failed(pid, "subscribe", "ice_failed")

    def _budget_changed(self, subscriber: Subscriber) -> None:
        """A viewer's link carries more or fewer videos now: its videos are chosen again
        (the others' are left as they are)."""
        view = self._views.get(subscriber.pid)
        if self.closed or view is None or view.subscriber is not subscriber:
            return
        videos = subscriber.budget.videos if subscriber.budget is not None else None
        log.info("video budget %s", videos, extra={"participant": subscriber.pid})
        self._assign(view, choose=True)

    def _start_health_checks(self) -> None:
        if self._health_task is None or self._health_task.done():
            self._health_task = asyncio.get_running_loop().create_task(self._watch_health())

    async def _watch_health(self) -> None:
        every = round(HEALTH_TICK_S / LAYERS_TICK_S)
        for tick in itertools.count(1):
            if self.closed or not self.publishers:
                break
            await asyncio.sleep(LAYERS_TICK_S)
            self.check_layers()
            if tick % every == 0:
                self.check_health()
        self._health_task = None  # started again by the next publisher

    def selection(self, viewer: str, subscriber: Receiver) -> list[PublishedTrack]:
        """What ``viewer`` gets: every allowed audio track, and the videos chosen for it
        (decided afresh, without changing what the router keeps)."""
        view = self._decide_afresh(viewer, subscriber)
        view.videos = self._choose(view)
        return [*view.audio(), *self._layers(view)]

    def _forwards(self, track: PublishedTrack, viewer: str, subscriber: Receiver) -> bool:
        """The decision about one pair: not one's own, decodable, and every policy agrees."""
        return (
            track.info.participant != viewer
            and subscriber.accepts(track)
            and self.allowed(track, viewer)
        )

    def _decide_afresh(self, viewer: str, subscriber: Receiver) -> View:
        view = View(subscriber)
        for track in self.tracks.values():
            if self._forwards(track, viewer, subscriber):
                view.allowed.setdefault(track.info.participant, {})[track.info.source] = track
        return view

    def _decide_for(self, viewer: str, pairs: Pairs, changed: dict[str, bool]) -> None:
        """Put ``pairs``' tracks to the policies for ``viewer``; note in ``changed`` whether
        anything changed for it, and whether a video did (its videos are chosen again)."""
        subscriber = self.subscribers.get(viewer)
        if subscriber is None:
            return
        view = self._views.get(viewer)
        if view is None or view.subscriber is not subscriber:  # a new subscribe connection
            self._views[viewer] = self._decide_afresh(viewer, subscriber)
            changed[viewer] = True
            return
        if pairs.publisher is not None:
            publishers: Iterable[str] = (pairs.publisher,)
        else:
            publishers = self._sources.keys() | view.allowed.keys()
        for publisher in publishers:
            current = self._sources.get(publisher, {})
            kept = view.allowed.get(publisher, {})
            if pairs.source is not None:
                sources: Iterable[str] = (pairs.source,)
            else:
                sources = current.keys() | kept.keys()
            for source in sources:
                track = current.get(source)
                old = kept.get(source)
                new = (
                    track
                    if track is not None and self._forwards(track, viewer, subscriber)
                    else None
                )
                if new is old:
                    continue
                if new is None:
                    del kept[source]
                    if not kept:
                        del view.allowed[publisher]
                else:
                    view.allowed.setdefault(publisher, kept)[source] = new
                either = new if new is not None else old
                video = either is not None and either.info.kind == "video"
                changed[viewer] = changed.get(viewer, False) or video

    def _assign(self, view: View, choose: bool) -> None:
        if choose:
            view.videos = self._choose(view)
        view.subscriber.assign([*view.audio(), *self._layers(view)])

    def _layers(self, view: View) -> list[PublishedTrack]:
        """The layer of each chosen video this viewer gets now (``media.layers``): the one
        that fits its tile, as far down its budget's ladder as its link needs."""
        shown = self._view_heights.get(view.subscriber.pid, {})
        wanted: list[int] = []
        lowest: list[int] = []
        for video in view.videos:
            layers = video.layers
            active = [layer.active for layer in layers]
            heights = [layer.height for layer in layers]
            wanted.append(fitting(heights, active, shown.get(video.info.id)))
            lowest.append(next((i for i, flows in enumerate(active) if flows), 0))
        budget = view.subscriber.budget if isinstance(view.subscriber, Subscriber) else None
        rung: tuple[int | None, ...] = tuple(wanted)
        if budget is not None:  # the viewer's link: the first (the stage) is the last to go
            rungs = ladder(wanted, lowest)
            budget.wanted = len(rungs) - 1
            rung = rungs[budget.wanted - budget.level]
        return [
            video.layers[index]
            for video, index in zip(view.videos, rung, strict=True)
            if index is not None
        ]

    def _choose(self, view: View) -> list[PublishedTrack]:
        """The videos of those allowed that this viewer gets (``media.speaker.choose_videos``)."""
        videos = {t.info.id: t for t in view.tracks() if t.info.kind == "video"}
        candidates = [
            VideoCandidate(tid, t.info.participant, t.info.source, self._published_at.get(tid, 0))
            for tid, t in videos.items()
        ]
        chosen = choose_videos(
            candidates,
            self.settings.max_videos_per_viewer,
            pinned=self.pinned,
            speaker=self.active_speaker,
            last_spoke=self.speaker.last_spoke,
        )
        return [videos[track_id] for track_id in chosen]

    def allowed(self, track: PublishedTrack, subscriber: str) -> bool:
        """Whether every policy lets this track reach this subscriber."""
        info = track.info
        for policy in self.policies:
            try:
                if not policy(info.participant, info.source, subscriber):
                    return False
            except Exception:
                log.exception("forwarding policy failed", extra={"room": self.room})
                return False
        return True

    def _update_published(self, publisher: Publisher) -> None:
        # Stop first, then start: a source may have moved to another m-line.
        for inbound in publisher.inbound:
            if inbound.target is not None and inbound.target.info.source != inbound.source:
                self._retarget(inbound, None, publisher)
        for inbound in publisher.inbound:
            if inbound.source is not None and inbound.target is None:
                self._retarget(inbound, inbound.source, publisher)

    def _ask_republish(self) -> None:
        """Ask each publisher whose video some viewer cannot decode, where a new m-line
        would get another codec, to publish it again (one request outstanding each)."""
        if self.closed:
            return
        for pid, publisher in self.publishers.items():
            if pid in self._republish_asked or pid in self._publishing:
                continue
            sources = sorted(
                inbound.source
                for inbound in publisher.inbound
                if inbound.source is not None
                and inbound.kind == "video"
                and inbound.offered
                and self.choose_video(inbound.offered).name != inbound.codec.name
            )
            if sources:
                self._republish_asked.add(pid)
                log.info("asking to republish %s", ", ".join(sources), extra={"participant": pid})
                self.signalling.republish(pid, sources)

    def _retarget(self, inbound: Inbound, source: str | None, publisher: Publisher) -> None:
        old = inbound.target
        if old is not None:
            inbound.target = None
            self._unpublish(old)
        if source is None:
            return
        codec = inbound.codec
        info = TrackInfo(
            id=f"{publisher.pid}/{source}",
            participant=publisher.pid,
            source=source,
            kind=inbound.kind,
            codec=codec.name,
            clock_rate=codec.clock_rate,
        )
        layers = tuple(
            PublishedTrack(
                info,
                codec,
                self.counters,
                functools.partial(publisher.send_pli, inbound, index),
                self.keyframe_interval_s,
            )
            for index in range(max(1, len(inbound.rids)))
        )
        for index, layer in enumerate(layers):
            layer.layers, layer.layer = layers, index
        track = layers[-1]  # the largest: it holds the taps (the recorder)
        if len(layers) > 1:  # which get the largest layer that flows
            track.feed = TapFeed(track.layer, codec.clock_rate, self.clock)
        inbound.target = track
        self._publish(track)

    def _publish(self, track: PublishedTrack) -> None:
        """A track is published (the caller refreshes its publisher's decisions)."""
        info = track.info
        self.tracks[info.id] = track
        self._sources.setdefault(info.participant, {})[info.source] = track
        self._published_at[info.id] = next(self._order)
        self.counters.tracks_published += 1
        if info.source == "microphone":
            self._start_speaker_detection()

    def _unpublish(self, track: PublishedTrack) -> None:
        """A track is gone (the caller refreshes its publisher's decisions)."""
        info = track.info
        self.tracks.pop(info.id, None)
        sources = self._sources.get(info.participant, {})
        if sources.get(info.source) is track:
            del sources[info.source]
            if not sources:
                del self._sources[info.participant]
        self._published_at.pop(info.id, None)
        self.counters.tracks_published -= 1
        for layer in track.layers:
            layer.close()
        for tap in list(track.taps):
            self._end_for_tap(tap, track)
        if info.source == "microphone":
            self.speaker.forget(info.participant)

    def _audio_level(self, inbound: Inbound, level: int) -> None:
        if inbound.target is not None and inbound.target.info.source == "microphone":
            self.speaker.observe(inbound.target.info.participant, level, self.clock())

    def _sender_report(self, inbound: Inbound, layer: int, report: SenderReport) -> None:
        track = inbound.layer(layer)
        if track is None:
            return
        track.sender_report(report.ntp_timestamp, report.wire_rtp_timestamp)
        top = inbound.target
        if top is None:
            return
        if top.feed is not None:  # the taps' layer, on their timeline
            mapped = top.feed.report(layer, report)
            if mapped is None:
                return
            report = mapped
        elif track is not top:
            return
        for tap in list(top.taps):
            try:
                tap.consumer.on_sender_report(track.info.id, report)
            except Exception:
                log.exception("tap consumer failed", extra={"track": track.info.id})

    def _assign_tap(self, tap: Tap, scope: Scope | None = None) -> None:
        if scope is None or scope.everything:
            looked_at = self.tracks
        else:
            looked_at = {
                tid: track
                for tid, track in self.tracks.items()
                if any(
                    pairs.viewer in (None, tap.pid)
                    and pairs.covers(track.info.participant, track.info.source)
                    for pairs in scope.pairs
                )
            }
        wanted = {tid for tid, track in looked_at.items() if self.allowed(track, tap.pid)}
        for track_id in sorted((tap.tracks & looked_at.keys()) - wanted):
            track = self.tracks.get(track_id)
            if track is not None:
                self._end_for_tap(tap, track)
        for track_id in sorted(wanted - tap.tracks):
            track = self.tracks[track_id]
            tap.tracks.add(track_id)
            track.taps.add(tap)
            self._call(tap, functools.partial(tap.consumer.on_track, track.info), track.info)
            track.tapped().request_keyframe()

    def _end_for_tap(self, tap: Tap, track: PublishedTrack) -> None:
        track.taps.discard(tap)
        tap.tracks.discard(track.info.id)
        self._call(tap, functools.partial(tap.consumer.on_track_ended, track.info.id), track.info)

    def _remove_tap(self, tap: Tap) -> None:
        if tap not in self.taps:
            return
        self.taps.remove(tap)
        for track_id in sorted(tap.tracks):
            track = self.tracks.get(track_id)
            if track is not None:
                self._end_for_tap(tap, track)
        tap.tracks.clear()

    def _call(self, tap: Tap, call: Callable[[], None], info: TrackInfo) -> None:
        try:
            call()
        except Exception:
            log.exception("tap consumer failed", extra={"track": info.id})

    def _start_speaker_detection(self) -> None:
        if self._speaker_task is None or self._speaker_task.done():
            self._speaker_task = asyncio.get_running_loop().create_task(self._detect_speakers())

    async def _detect_speakers(self) -> None:
        while not self.closed:
            await asyncio.sleep(SPEAKER_TICK_S)
            microphones = [t for t in self.tracks.values() if t.info.source == "microphone"]
            if not microphones:  # started again by the next microphone
                self._speaker_task = None
                if self.active_speaker is not None:
                    self.active_speaker = None
                    self.signalling.active_speaker(None)
                return
            candidates = [t.info.participant for t in microphones if self._audible(t)]
            current = self.speaker.decide(self.clock(), candidates)
            if current != self.active_speaker:
                self.active_speaker = current
                self.signalling.active_speaker(current)
                self.refresh(VIDEOS)

    def _audible(self, track: PublishedTrack) -> bool:
        others = [pid for pid in self.subscribers if pid != track.info.participant]
        return not others or any(self.allowed(track, pid) for pid in others)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        error = task.exception()
        if error is not None:
            log.error("media task failed: %s", error, exc_info=error)
