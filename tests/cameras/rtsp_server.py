"""A real RTSP server for the IP camera tests: GStreamer's gst-rtsp-server on loopback.

Run by Debian's ``/usr/bin/python3`` (which has GObject introspection and the GStreamer
bindings; the project's virtual environment has not):
``python3 rtsp_server.py PORT [--codec h264|mjpeg] [--user U --password P]``. It serves
``/camera``: a test pattern encoded by x264enc (``tune=zerolatency``, constrained
baseline unless ``--profile`` says otherwise) packetized by rtph264pay, or JPEG for a
codec the classroom must refuse to copy. It prints ``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import sys

import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402

PIPELINES = {
    "h264": (
        "videotestsrc is-live=true pattern=ball"
        " ! video/x-raw,width={width},height={height},framerate=15/1"
        " ! x264enc tune=zerolatency speed-preset={preset} key-int-max=15 bitrate={bitrate}"
        " option-string=repeat-headers={repeat}"
        " ! video/x-h264,profile={profile} ! rtph264pay name=pay0 pt=96 config-interval={interval}"
    ),
    "mjpeg": (
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=10/1"
        " ! jpegenc ! rtpjpegpay name=pay0 pt=26"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--codec", choices=sorted(PIPELINES), default="h264")
    parser.add_argument("--profile", default="constrained-baseline")
    parser.add_argument(
        "--out-of-band", action="store_true", help="parameter sets in the SDP only, as some cameras"
    )
    parser.add_argument("--size", default="320x240", help="the picture's width x height")
    parser.add_argument("--bitrate", type=int, default=400, help="kbit/s")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( "
        + PIPELINES[args.codec].format(
            profile=args.profile,
            width=args.size.partition("x")[0],
            height=args.size.partition("x")[2],
            bitrate=args.bitrate,
            # ultrafast turns off CABAC and 8x8 transforms: x264 writes constrained baseline then.
            preset="ultrafast" if args.profile == "constrained-baseline" else "superfast",
            repeat=0 if args.out_of_band else 1,
            interval=0 if args.out_of_band else 1,
        )
        + " )"
    )
    factory.set_shared(True)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(
            Gst.Structure.new_from_string(
                "viewer,media.factory.access=true,media.factory.construct=true"
            )
        )
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/camera", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on port {args.port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
