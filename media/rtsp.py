"""An IP camera's H.264 pulled over RTSP and sent, as it is encoded, on a WebRTC connection.

``open_camera`` opens the stream (RTSP over TCP, in a thread: opening blocks) and checks
that its video can be copied: H.264 only, whose profile the offer names. ``CameraTrack``
hands aiortc the demuxed packets (``av.Packet``), which its sender packetizes without
decoding or encoding (``H264Encoder.pack``). A keyframe without its parameter sets (a
camera that sends them only in the RTSP description) gets them from the stream's
extradata, so that a viewer can start there. ``CameraPeer`` is the connection that
publishes the track: its offer has H.264 only, with the camera's profile.

Not aiortc's ``MediaPlayer(decode=False)``: it opens and joins its reading thread on the
event loop (a camera that does not answer would stall the server for the socket
timeout), and it drops a stream it cannot pass without saying which codec it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import threading
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from urllib.parse import quote, urlsplit, urlunsplit

import av
import av.container
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.ice import rtc_configuration

#: Seconds to open the stream, and to wait for each packet before the camera counts as gone.
OPEN_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
#: H.264 profiles by what FFmpeg calls them: profile_idc and constraint flags, as
#: ``profile-level-id`` writes them (level 3.1, as aiortc's capabilities do).
PROFILE_IDS = {"Constrained Baseline": "42e01f", "Baseline": "42001f"}
_START = b"\x00\x00\x00\x01"
#: Threads of their own for opening cameras and waiting for their readers to end (each up
#: to a timeout): many cameras that do not answer never hold the loop's default executor.
_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="camera")
_NAL_SPS = 7


class CameraError(Exception):
    """The camera cannot be published: ``code`` for pages, ``message`` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """The URL FFmpeg opens: the camera's, with the credentials put in its authority."""
    if not username:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    auth = quote(username, safe="") + (":" + quote(password or "", safe=""))
    return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))


def _open_error(error: Exception) -> CameraError:
    """Why the camera could not be opened, in words that never repeat its URL (which
    may hold credentials)."""
    words = getattr(error, "strerror", None) or type(error).__name__
    lowered = words.lower()
    if isinstance(error, av.error.HTTPUnauthorizedError) or "401" in words:
        return CameraError("unauthorized", "the camera refused the user name or password")
    if isinstance(error, av.error.HTTPNotFoundError) or "404" in words:
        return CameraError("not_found", "the camera has no stream at this path")
    if isinstance(error, ConnectionRefusedError) or "refused" in lowered:
        return CameraError("unreachable", "the camera does not answer (connection refused)")
    if isinstance(error, av.error.ExitError | TimeoutError) or "timed out" in lowered:
        return CameraError("unreachable", "the camera does not answer (timed out)")
    return CameraError("unreachable", f"the camera's stream cannot be opened: {words}")


@dataclasses.dataclass
class CameraStream:
    """An opened camera: its container, video stream and H.264 profile."""

    container: av.container.InputContainer
    stream: av.VideoStream
    profile: str  # as FFmpeg names it ("Constrained Baseline", "High"...)
    profile_level_id: str  # what the offer says

    def close(self) -> None:
        self.container.close()


def _open(url: str) -> CameraStream:
    try:
        container = av.open(
            url,
            format="rtsp",
            options={"rtsp_transport": "tcp", "rtsp_flags": "prefer_tcp"},
            timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S),
        )
    except (av.FFmpegError, OSError) as error:
        raise _open_error(error) from None
    videos = list(container.streams.video)
    if not videos:
        container.close()
        raise CameraError("no_video", "the camera's stream has no video")
    stream = videos[0]
    codec = stream.codec_context.name
    if codec != "h264":
        container.close()
        name = stream.codec_context.codec.long_name or codec
        raise CameraError(
            "codec", f"the camera sends {name}, not H.264: it cannot be copied (no transcoding)"
        )
    profile = stream.codec_context.profile or "Constrained Baseline"
    # The router forwards the profiles aiortc negotiates (baseline ones); a Main or High
    # camera is offered as constrained baseline: browsers decode what the SPS says.
    return CameraStream(container, stream, profile, PROFILE_IDS.get(profile, "42e01f"))


async def open_camera(url: str) -> CameraStream:
    """Open the camera's stream (in a thread); raises CameraError saying why not."""
    return await asyncio.get_running_loop().run_in_executor(_THREADS, _open, url)


def _has_sps(data: bytes) -> bool:
    at = data.find(b"\x00\x00\x01")
    while at >= 0 and at + 3 < len(data):
        if data[at + 3] & 0x1F == _NAL_SPS:
            return True
        at = data.find(b"\x00\x00\x01", at + 3)
    return False


class CameraTrack(MediaStreamTrack):
    """The camera's encoded video, read in a thread of its own: ``recv`` gives packets."""

    kind = "video"

    def __init__(self, camera: CameraStream) -> None:
        super().__init__()
        self.camera = camera
        self.packets = 0
        #: Set when the stream ends, with why (the camera dropped, or ``stop``).
        self.ended = asyncio.get_running_loop().create_future()
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(maxsize=256)
        self._quit = threading.Event()
        self._owner_loop = asyncio.get_running_loop()
        extradata = camera.stream.codec_context.extradata or b""
        annex_b = extradata.startswith((_START, _START[1:]))
        self._parameter_sets = extradata if annex_b else b""
        self._thread = threading.Thread(target=self._read, name="camera-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        reason = "the camera's stream ended"
        first_pts: int | None = None
        while not self._quit.is_set():
            try:
                packet = next(self.camera.container.demux(self.camera.stream))
            except StopIteration:
                break
            except av.error.ExitError:  # PyAV's read timeout
                reason = "the camera sent nothing for too long"
                break
            except av.FFmpegError as error:
                if error.errno == errno.EAGAIN:
                    continue
                reason = f"the camera's stream broke off: {error.strerror or error}"
                break
            except Exception as error:  # the reader must always say it ended
                reason = f"the camera's stream broke off: {error}"
                break
            if not packet.size:  # what PyAV gives at the end of the stream
                break
            if packet.pts is None:
                continue
            first_pts = packet.pts if first_pts is None else first_pts
            packet.pts -= first_pts
            if packet.is_keyframe and self._parameter_sets and not _has_sps(bytes(packet)):
                packet = self._with_parameter_sets(packet)
            self._owner_loop.call_soon_threadsafe(self._put, packet)
        self._owner_loop.call_soon_threadsafe(self._finish, reason)

    def _with_parameter_sets(self, packet: av.Packet) -> av.Packet:
        joined = av.Packet(self._parameter_sets + bytes(packet))
        joined.pts, joined.dts, joined.time_base = packet.pts, packet.dts, packet.time_base
        joined.is_keyframe = True
        return joined

    def _put(self, packet: av.Packet) -> None:
        self.packets += 1
        if self._queue.full():  # nobody reads (not yet connected): keep the newest
            self._queue.get_nowait()
        self._queue.put_nowait(packet)

    def _finish(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def recv(self) -> av.Packet:  # aiortc sends packets as they are
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        if packet.time_base is None:
            packet.time_base = self.camera.stream.time_base or Fraction(1, 90000)
        return packet

    async def close(self) -> None:
        """Stop reading and close the stream (the reader leaves within the read timeout)."""
        self._quit.set()
        self.stop()
        await asyncio.get_running_loop().run_in_executor(_THREADS, self._thread.join)
        self.camera.close()


class CameraPeer:
    """The connection the camera publishes on: H.264 only, in the camera's profile."""

    def __init__(self, track: CameraTrack) -> None:
        self.track = track
        self.pc = RTCPeerConnection(rtc_configuration([]))
        self.transceiver = self.pc.addTransceiver(track, direction="sendonly")
        wanted = track.camera.profile_level_id
        h264 = [
            c
            for c in RTCRtpSender.getCapabilities("video").codecs
            if c.name == "H264" and str(c.parameters.get("profile-level-id")) == wanted
        ]
        self.transceiver.setCodecPreferences(h264)

    async def offer(self) -> tuple[str, str]:
        """The offer (every candidate gathered) and the m-line the camera is on."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp, str(self.transceiver.mid)

    async def answered(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def close(self) -> None:
        await self.pc.close()
        await self.track.close()
