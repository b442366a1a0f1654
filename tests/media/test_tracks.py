"""The vocabulary shared by media and recordings (media.tracks)."""

from __future__ import annotations

from media.codecs import codec_named, offered_video_codecs
from media.tracks import RTP_WRAP, RtpClock, TrackInfo, codec_name


def test_from_zero_the_clock_counts_on_across_the_wrap_and_peeks_back() -> None:
    clock = RtpClock(from_zero=True)
    assert clock.unwrap(RTP_WRAP - 10) == 0
    assert clock.unwrap(5) == 15
    assert clock.peek(RTP_WRAP - 20) == -10  # a sender report from before the first packet
    assert clock.unwrap(2**31) == 2**31 + 10


def test_a_late_timestamp_gets_its_earlier_value_and_peek_never_moves_the_clock() -> None:
    clock = RtpClock()
    assert clock.peek(7) == 7  # nothing seen yet
    assert [clock.unwrap(t) for t in (RTP_WRAP - 10, 20, RTP_WRAP - 5, 30)] == [
        RTP_WRAP - 10,
        RTP_WRAP + 20,
        RTP_WRAP - 5,
        RTP_WRAP + 30,
    ]
    assert clock.peek(RTP_WRAP - 1) == RTP_WRAP - 1  # nearest to the last, before the wrap
    assert clock.unwrap(40) == RTP_WRAP + 40


def test_codec_names_are_lower_case_whatever_sdp_says() -> None:
    assert [codec_name(n) for n in ("VP8", "H264", "opus")] == ["vp8", "h264", "opus"]
    assert codec_named("VP8").name == codec_named("vp8").name == "vp8"
    both = [("H264", {"packetization-mode": "1", "profile-level-id": "42e01f"}), ("VP8", {})]
    assert sorted(offered_video_codecs(both)) == ["h264", "vp8"]


def test_track_info_reads_journals_with_either_codec_case() -> None:
    written = TrackInfo("a/camera", "a", "camera", "video", "vp8", 90000, None, "A", "trainer")
    assert TrackInfo.from_json(written.to_json()) == written
    old = {**written.to_json(), "codec": "H264", "unknown": 1}
    assert TrackInfo.from_json(old).codec == "h264"
