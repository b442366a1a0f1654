"""A keyframe's picture size from its bitstream (media.tracks.frame_size), on real encoder
output: testsrc encoded by libvpx and libx264 (PyAV), and AVC-Intra by the ffmpeg binary."""

from __future__ import annotations

import fractions
import functools
import itertools
import random
import shutil
import subprocess

import av
import pytest
from aiortc.codecs.h264 import H264Encoder, h264_depayload
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

from media.tracks import H264, VP8, frame_size, is_keyframe

SIZES = [(640, 480), (320, 180), (1280, 720), (160, 90), (642, 362)]
#: libx264 settings by name: pixel format, profile, x264-params.
X264 = {
    "baseline": ("yuv420p", "Baseline", ""),
    "high-cqm": ("yuv420p", "High", "cqm=jvt"),  # custom quantizer matrices (in the PPS)
    "444": ("yuv444p", None, ""),  # High 4:4:4: chroma_format_idc 3
    "422": ("yuv422p", None, ""),  # High 4:2:2: crop unit 2 x 1
    "gray": ("gray", None, ""),  # 4:0:0: crop unit 1 x 1
    "interlaced": ("yuv420p", None, "interlaced=1"),  # frame_mbs_only_flag 0
}
FFMPEG = shutil.which("ffmpeg")


@functools.cache
def encode(codec: str, width: int, height: int, setting: str = "baseline") -> list[bytes]:
    """Three frames of testsrc: a keyframe, then two that are not."""
    context = av.CodecContext.create("libvpx" if codec == VP8 else "libx264", "w")
    pix_fmt, profile, params = X264[setting] if codec == H264 else ("yuv420p", None, "")
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base = fractions.Fraction(1, 25)
    options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    if codec == H264:
        options = {"preset": "ultrafast", "bf": "0"} | ({"x264-params": params} if params else {})
    context.options = options
    if profile:
        context.profile = profile
    packets: list[av.Packet] = []
    with av.open(f"testsrc=size={width}x{height}:rate=25", format="lavfi") as source:
        for pts, frame in enumerate(itertools.islice(source.decode(video=0), 3)):
            picture = frame.reformat(format=context.pix_fmt)
            picture.pts, picture.pict_type = pts, av.video.frame.PictureType.NONE
            packets += context.encode(picture)
    packets += context.encode(None)
    return [bytes(packet) for packet in packets]


def avc_intra(size: str, pix_fmt: str, avc_class: int, *options: str) -> bytes:
    """One AVC-Intra frame from the ffmpeg binary: x264 writes scaling lists into its SPS."""
    assert FFMPEG is not None
    command = [FFMPEG, "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25"]
    command += ["-frames:v", "1", "-pix_fmt", pix_fmt, "-c:v", "libx264", *options]
    command += ["-x264-params", f"avcintra-class={avc_class}", "-f", "h264", "pipe:1"]
    return subprocess.run(command, capture_output=True, check=True, timeout=30).stdout


@pytest.mark.parametrize("width,height", SIZES)
def test_vp8_keyframe_gives_its_size_and_the_next_frame_none(width: int, height: int) -> None:
    keyframe, delta, *_ = encode(VP8, width, height)
    assert frame_size(VP8, keyframe) == (width, height)
    assert not is_keyframe(VP8, delta) and frame_size(VP8, delta) is None


@pytest.mark.parametrize(
    "setting,width,height",
    [("baseline", w, h) for w, h in SIZES]
    + [("high-cqm", w, h) for w, h in SIZES[:4]]
    + [(s, w, h) for s in ("444", "422", "gray") for w, h in ((160, 90), (642, 362))]
    + [("interlaced", 320, 180), ("interlaced", 1280, 720)],
)
def test_h264_keyframe_gives_its_cropped_size_and_the_next_frame_none(
    setting: str, width: int, height: int
) -> None:
    keyframe, delta, *_ = encode(H264, width, height, setting)
    assert keyframe.startswith(b"\x00\x00\x00\x01\x67")  # Annex B, the SPS first
    assert frame_size(H264, keyframe) == (width, height)
    assert not is_keyframe(H264, delta) and frame_size(H264, delta) is None


@pytest.mark.skipif(FFMPEG is None, reason="no ffmpeg binary")
def test_avc_intra_sps_with_scaling_lists_4_2_2_and_fields() -> None:
    assert frame_size(H264, avc_intra("960x720", "yuv420p10le", 50)) == (960, 720)
    assert frame_size(H264, avc_intra("1280x720", "yuv422p10le", 100)) == (1280, 720)
    interlaced = avc_intra("1920x1080", "yuv422p10le", 100, "-flags", "+ildct")
    assert frame_size(H264, interlaced) == (1920, 1080)  # 1088 lines of fields, cropped


def test_the_size_survives_aiortc_packetizing_and_depayloading() -> None:
    keyframe = encode(H264, 642, 362, "high-cqm")[0]
    payloads = H264Encoder._packetize(H264Encoder._split_bitstream(keyframe))
    assert frame_size(H264, b"".join(h264_depayload(p) for p in payloads)) == (642, 362)
    payloads = Vp8Encoder._packetize(encode(VP8, 642, 362)[0], picture_id=1)
    assert frame_size(VP8, b"".join(vp8_depayload(p) for p in payloads)) == (642, 362)


def test_h264_needs_both_an_sps_and_an_idr_slice() -> None:
    keyframe = encode(H264, 160, 90)[0]
    idr = keyframe.find(b"\x00\x00\x01\x65")
    pps = keyframe.find(b"\x00\x00\x00\x01\x68")
    assert frame_size(H264, keyframe[:idr]) is None  # parameter sets alone
    assert frame_size(H264, keyframe[pps:]) is None  # no SPS
    assert frame_size(H264, keyframe[:5] + keyframe[pps:]) is None  # an SPS cut to its header
    assert frame_size("vp9", keyframe) is None and frame_size("opus", keyframe) is None
    assert frame_size(VP8, b"") is None and frame_size(H264, b"") is None


def _valid(size: tuple[int, int] | None) -> bool:
    return size is None or (size[0] > 0 and size[1] > 0)


def test_truncated_keyframes_never_raise() -> None:
    for codec, setting in ((VP8, "baseline"), (H264, "baseline"), (H264, "high-cqm")):
        keyframe = encode(codec, 642, 362, setting)[0]
        cuts = itertools.chain(range(120), range(120, len(keyframe), 97))
        assert {frame_size(codec, keyframe[:cut]) for cut in cuts} <= {None, (642, 362)}
    keyframe = encode(H264, 642, 362, "high-cqm")[0]
    sps, pps = 5, keyframe.find(b"\x00\x00\x00\x01\x68")
    for cut in range(sps, pps):  # the SPS cut short, the PPS and the IDR slice whole
        assert frame_size(H264, keyframe[:cut] + keyframe[pps:]) in (None, (642, 362))
    assert frame_size(H264, keyframe[: sps + 4] + keyframe[pps:]) is None


def test_random_and_mutated_frames_never_raise() -> None:
    rng = random.Random(6386)
    keyframes = [(VP8, encode(VP8, 160, 90)[0]), (H264, encode(H264, 160, 90, "high-cqm")[0])]
    sps_header, idr = b"\x00\x00\x00\x01\x67", b"\x00\x00\x01\x65\x88"
    for _ in range(1500):
        noise = rng.randbytes(rng.randrange(40))
        assert frame_size(VP8, noise) is None or noise[3:6] == b"\x9d\x01\x2a"
        assert _valid(frame_size(VP8, b"\x00\x00\x00\x9d\x01\x2a" + noise))
        assert _valid(frame_size(H264, noise))
        assert _valid(frame_size(H264, sps_header + noise + idr))  # random SPS payloads
        codec, keyframe = rng.choice(keyframes)
        mutated = bytearray(keyframe[:200])
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        assert _valid(frame_size(codec, bytes(mutated)))


def _ue(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def _se(value: int) -> str:
    return _ue(2 * value - 1 if value > 0 else -2 * value)


def _nal(header: int, bits: str) -> bytes:
    """An Annex B NAL unit of RBSP ``bits``, with its stop bit and emulation prevention."""
    bits += "1" + "0" * (-(len(bits) + 1) % 8)
    escaped, zeros = bytearray(), 0
    for byte in int(bits, 2).to_bytes(len(bits) // 8, "big"):
        if zeros >= 2 and byte <= 3:
            escaped.append(3)
            zeros = 0
        escaped.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return b"\x00\x00\x00\x01" + bytes([header]) + bytes(escaped)


def test_sps_paths_no_encoder_here_writes() -> None:
    """High 4:4:4 with separate colour planes, 12 scaling lists (one cut short by a zero
    scale), pic_order_cnt_type 1 and fields: what no x264 setting above produces."""
    high = "".join([f"{244:08b}", "0" * 16, _ue(0), _ue(3), "1", _ue(0), _ue(0), "0", "1"])
    lists = "1" + _se(-8) + "".join("1" + _se(1) * (16 if i < 6 else 64) for i in range(1, 12))
    poc = "".join([_ue(0), _ue(1), "0", _se(-3), _se(2), _ue(3), _se(1), _se(-1), _se(5)])
    size = "".join([_ue(1), "0", _ue(39), _ue(14), "0", "1", "1"])  # 40 x 15 units of fields
    crop = "".join(["1", _ue(1), _ue(2), _ue(0), _ue(3), "0"])  # no VUI
    sps = high + lists + poc + size + crop
    assert frame_size(H264, _nal(0x67, sps) + _nal(0x65, "1" * 20)) == (637, 474)  # 1 x 2 units
    assert frame_size(H264, _nal(0x67, sps) + _nal(0x61, "1" * 20)) is None  # not an IDR slice
