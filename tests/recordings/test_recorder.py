"""The recorder with real encoded packets: segments keep them byte for byte; failures stop."""

from __future__ import annotations

import fractions
import os
from pathlib import Path

import av
import pytest

from media.tracks import RTP_WRAP, RtpClock, SenderReport, TrackInfo, is_keyframe
from recordings.journal import Journal, read_journal
from recordings.recorder import Recorder
from tests.recordings.synthetic import clip_packets, encode_clip

VIDEO = TrackInfo(
    "alice/camera", "alice", "camera", "video", "vp8", 90000, None, "Alice", "trainer"
)
AUDIO = TrackInfo("alice/microphone", "alice", "microphone", "audio", "opus", 48000)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def packet(data: bytes, pts: int, rate: int) -> av.Packet:
    made = av.Packet(data)
    made.pts, made.time_base = pts, fractions.Fraction(1, rate)
    return made


def segment_packets(directory: Path) -> list[bytes]:
    found = []
    for path in sorted(directory.glob("*.mkv")):
        with av.open(str(path)) as container:
            found += [bytes(p) for p in container.demux(container.streams[0]) if p.size]
    return found


def test_keyframes_are_read_from_the_codec_header(clips: Path) -> None:
    vp8 = clip_packets(encode_clip(clips / "camera.vp8", "video", "vp8"), 90000)
    h264 = clip_packets(encode_clip(clips / "camera.h264", "video", "h264"), 90000)
    assert is_keyframe("vp8", vp8[0][1]) and not is_keyframe("vp8", vp8[1][1])
    assert is_keyframe("h264", h264[0][1]) and not is_keyframe("h264", h264[1][1])
    assert is_keyframe("opus", b"\x78\x01") and not is_keyframe("vp8", b"")


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        ([10, 20, 30], [10, 20, 30]),
        (
            [RTP_WRAP - 20, RTP_WRAP - 10, 5, 15],
            [RTP_WRAP - 20, RTP_WRAP - 10, RTP_WRAP + 5, RTP_WRAP + 15],
        ),
        (
            [RTP_WRAP - 10, 5, RTP_WRAP - 5, 15],
            [RTP_WRAP - 10, RTP_WRAP + 5, RTP_WRAP - 5, RTP_WRAP + 15],
        ),
        ([5 * RTP_WRAP, 5 * RTP_WRAP + 10], [5 * RTP_WRAP, 5 * RTP_WRAP + 10]),  # already extended
    ],
)
def test_rtp_timestamps_unwrap(stamps: list[int], expected: list[int]) -> None:
    clock = RtpClock()
    assert [clock.unwrap(s) for s in stamps] == expected


def test_packets_go_to_segments_untouched_across_an_rtp_wrap(tmp_path: Path, clips: Path) -> None:
    clock = Clock()
    recorder = Recorder(tmp_path, clock, segment_s=1.0)
    recorder.start(room="demo", title="T")
    recorder.on_track(VIDEO)
    recorder.on_track(AUDIO)
    video = clip_packets(encode_clip(clips / "camera.vp8", "video", "vp8"), 90000)
    audio = clip_packets(encode_clip(clips / "tone300.opus", "audio", "opus", tone_hz=300), 48000)
    start = RTP_WRAP - 90000 * 2  # the video clock wraps two seconds in
    timeline = sorted(
        [(t / 90000, "v", start + t, data) for t, data in video[:60]]
        + [(t / 48000, "a", t, data) for t, data in audio[:200]]
    )
    for seconds, kind, stamp, data in timeline:
        clock.now = 1000.0 + seconds + 0.02
        if kind == "v":
            recorder.on_packet(VIDEO.id, packet(data, stamp % RTP_WRAP, 90000))
        else:
            recorder.on_packet(AUDIO.id, packet(data, stamp, 48000))
    recorder.on_sender_report(
        VIDEO.id,
        SenderReport(1003.5, (start + 90000 * 3) % RTP_WRAP, (start + 90000 * 3) % RTP_WRAP),
    )
    recorder.stop()

    video_dir, audio_dir = (
        tmp_path / "tracks" / "t01-camera",
        tmp_path / "tracks" / "t02-microphone",
    )
    assert segment_packets(video_dir) == [data for _, data in video[:60]]
    assert segment_packets(audio_dir) == [data for _, data in audio[:200]]
    # Four seconds with one keyframe: cut after waiting twice a segment's length for another.
    assert len(list(video_dir.glob("*.mkv"))) == 2
    assert len(list(audio_dir.glob("*.mkv"))) == 4  # audio is cut every second
    stamps = []
    for path in sorted(video_dir.glob("*.mkv")):
        with av.open(str(path)) as container:
            stream = container.streams[0]
            stamps += [float(p.pts * stream.time_base) for p in container.demux(stream) if p.size]
    assert stamps == sorted(stamps) and stamps[-1] == pytest.approx(video[59][0] / 90000, abs=0.002)

    journal = read_journal(tmp_path / "journal.jsonl")
    kinds = [e["kind"] for e in journal]
    assert kinds[0] == "started" and kinds[-1] == "stopped"
    opened = [e for e in journal if e["kind"] == "segment"]
    closed = [e for e in journal if e["kind"] == "segment_closed"]
    assert {(e["track"], e["seq"]) for e in opened} == {(e["track"], e["seq"]) for e in closed}
    report = next(e for e in journal if e["kind"] == "sender_report")
    assert report["pts"] == 3 * 90000 and report["ntp"] == 1003.5  # on the segments' scale


def test_video_waits_for_a_keyframe(tmp_path: Path, clips: Path) -> None:
    recorder = Recorder(tmp_path, Clock(), segment_s=1.0)
    recorder.start()
    recorder.on_track(VIDEO)
    video = clip_packets(encode_clip(clips / "camera.vp8", "video", "vp8"), 90000)
    for ticks, data in video[1:5] + video[:1]:  # deltas first, then the keyframe
        recorder.on_packet(VIDEO.id, packet(data, 1000 + ticks, 90000))
    recorder.stop()
    assert segment_packets(tmp_path / "tracks" / "t01-camera") == [video[0][1]]
    assert recorder.writers[VIDEO.id].dropped == 4


def test_a_full_disk_stops_the_recording_and_keeps_what_was_written(
    tmp_path: Path, clips: Path
) -> None:
    clock = Clock()
    failures: list[str] = []
    recorder = Recorder(tmp_path, clock, segment_s=1.0, on_failure=failures.append)
    recorder.start()
    recorder.on_track(AUDIO)
    audio = clip_packets(encode_clip(clips / "tone300.opus", "audio", "opus", tone_hz=300), 48000)
    directory = tmp_path / "tracks" / "t01-microphone"
    for ticks, data in audio[:120]:  # 2.4 seconds: segments 1 and 2 closed, 3 open
        clock.now = 1000 + ticks / 48000
        recorder.on_packet(AUDIO.id, packet(data, ticks, 48000))
    # The next segment's file lands on a device that is always full.
    (directory / "000004.mkv").symlink_to("/dev/full")
    for ticks, data in audio[120:250]:
        clock.now = 1000 + ticks / 48000
        recorder.on_packet(AUDIO.id, packet(data, ticks, 48000))
    assert failures == ["disk_full"] and recorder.failure == "disk_full"
    recorder.stop()  # stopping after a failure is harmless
    (directory / "000004.mkv").unlink()
    kept = segment_packets(directory)
    # Three whole segments (three seconds) survive, exactly as they came.
    assert kept == [data for _, data in audio[: len(kept)]] and len(kept) >= 145
    last = read_journal(tmp_path / "journal.jsonl")[-1]
    assert (last["kind"], last["reason"]) == ("stopped", "disk_full")


def test_too_little_free_space_stops_before_writing(tmp_path: Path) -> None:
    failures: list[str] = []
    recorder = Recorder(tmp_path, Clock(), min_free_bytes=1 << 62, on_failure=failures.append)
    recorder.start()
    recorder.on_track(AUDIO)
    assert failures == ["disk_full"] and not recorder.active
    assert not (tmp_path / "tracks").exists()


def test_a_torn_journal_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append("started", 1.0, room="demo")
    journal.append("event", 2.0, type="chat_posted", data={"text": "Zdravo"})
    journal.close()
    with path.open("ab") as file:
        file.write(b'{"kind": "segment", "t": 3.0, "tra')  # the process died here
    assert [e["kind"] for e in read_journal(path)] == ["started", "event"]
    again = Journal(path)  # a later writer starts on a fresh line
    again.append("recovered", 4.0)
    again.close()
    assert [e["kind"] for e in read_journal(path)] == ["started", "event", "recovered"]
    assert os.path.getsize(path) > 0
