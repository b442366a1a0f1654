"""Publishing without encoding: an RTCRtpSender that only packetizes the frames it is given.

For clients of this server that publish pre-encoded media (the test clients; the
server itself forwards RTP packets as they are, see ``media.wire``).

aiortc 1.16's ``RTCRtpSender`` builds its encoder on the first frame
(``get_encoder``; for Opus that opens a libopus encoder and a resampler) and then
calls ``pack()`` for an ``av.Packet``. ``send_encoded`` installs a ``Packer`` in the
sender beforehand (the private ``RTCRtpSender.__encoder``; aiortc is pinned), so no
encoder is ever built, and routes the sender's keyframe requests (PLI/FIR from the
viewer, which aiortc would turn into "encode the next frame as a keyframe") to a
callback that forwards them to the publisher.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import av
from aiortc import RTCRtpSender
from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from av.frame import Frame

from media.codecs import Codec
from media.tracks import H264, VP8

ENCODER = "_RTCRtpSender__encoder"


class Packer(Encoder):
    """Stands in for aiortc's encoder: RTP payloads for encoded frames, never encoding.

    ``pack`` expects ``packet.pts`` in the codec's RTP clock units (``time_base`` =
    1 / clock rate), as ``media.passthrough`` produces them.
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.picture_id = random.randint(0, (1 << 15) - 1)  # VP8 descriptor, 15 bits
        self.frames = 0

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise TypeError("this sender forwards encoded frames; it never encodes")

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        data = bytes(packet)
        name = self.codec.name
        payloads: list[bytes]
        if name == VP8:
            payloads = Vp8Encoder._packetize(data, self.picture_id)
            self.picture_id = (self.picture_id + 1) % (1 << 15)
        elif name == H264:
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(data))
        else:
            payloads = [data]
        self.frames += 1
        return payloads, int(packet.pts or 0)


def send_encoded(
    sender: RTCRtpSender,
    codec: Codec,
    on_keyframe_request: Callable[[], None],
) -> Packer:
    """Make the sender packetize encoded frames only, and pass PLI/FIR on to a callback.

    Call it before the sender starts (before the answer is applied); ``codec`` must be
    the one negotiated for the sender's m-line.
    """
    if not hasattr(sender, ENCODER):
        raise RuntimeError(f"aiortc's RTCRtpSender has no {ENCODER}")
    packer = Packer(codec)
    setattr(sender, ENCODER, packer)
    # aiortc calls self._send_keyframe() for PLI and FIR; the instance attribute wins.
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
    return packer
