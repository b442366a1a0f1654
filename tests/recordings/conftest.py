"""Shared pieces of the recordings tests: generated clips (encoded once) and audio analysis."""

from __future__ import annotations

from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from recordings.library import Library


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where generated clips are cached for the whole test run."""
    return tmp_path_factory.mktemp("clips")


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return Library(tmp_path / "recordings")


def probe(path: Path) -> dict:
    return ffmpeg.probe(str(path), show_chapters=None)


def tone_levels(
    path: Path, stream: int, start: float, end: float, tones: list[int], rate: int = 16000
) -> dict[int, float]:
    """The amplitude of each tone in one audio stream between two times (real ffmpeg decode)."""
    raw, _ = (
        ffmpeg.input(str(path), ss=start, t=end - start)
        .output("pipe:", map=f"0:a:{stream}", f="s16le", ac=1, ar=rate)
        .run(capture_stdout=True, quiet=True)
    )
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float64) / 32768
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) / len(samples)
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return {tone: float(spectrum[np.abs(freqs - tone) < 15].max()) for tone in tones}


def peak(path: Path, stream: int) -> float:
    """The largest absolute sample of one audio stream, decoded as a player would (float)."""
    raw, _ = (
        ffmpeg.input(str(path))
        .output("pipe:", map=f"0:a:{stream}", f="f32le", ac=1)
        .run(capture_stdout=True, quiet=True)
    )
    return float(np.abs(np.frombuffer(raw, dtype=np.float32)).max())
