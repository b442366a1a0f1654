"""Recordings: the recorder participant, the ffmpeg pipeline and the on-demand library."""
