"""A hardware-like WHIP publisher: GStreamer's webrtcbin, H.264 from x264enc and Opus.

Run with Debian's /usr/bin/python3 (it has GObject introspection for GStreamer), not
the project's venv: ``python3 gst_whip.py URL TOKEN``. It publishes a moving test
picture and a tone until it gets SIGTERM, then ends its session with DELETE, as an
encoder does when it stops. It prints ``published <status>`` once the answer is set.
"""

from __future__ import annotations

import signal
import sys
import urllib.error
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

PIPELINE = (
    "webrtcbin name=send bundle-policy=max-bundle "
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=25/1 "
    "! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=50 "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 "
    "aggregate-mode=zero-latency ! application/x-rtp,media=video,encoding-name=H264,payload=102 "
    "! send. "
    "audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample "
    "! opusenc ! rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 "
    "! send."
)


class Publisher:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.location: str | None = None
        self.loop = GLib.MainLoop()
        self.pipeline = Gst.parse_launch(PIPELINE)
        self.webrtc = self.pipeline.get_by_name("send")
        self.webrtc.connect("on-negotiation-needed", self.negotiate)
        self.webrtc.connect("notify::ice-gathering-state", self.gathered)

    def negotiate(self, _: object) -> None:
        for index in range(2):
            transceiver = self.webrtc.emit("get-transceiver", index)
            if transceiver is not None:
                transceiver.set_property(
                    "direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY
                )
        promise = Gst.Promise.new_with_change_func(self.offered, None)
        self.webrtc.emit("create-offer", None, promise)

    def offered(self, promise: Gst.Promise, _: object) -> None:
        reply = promise.get_reply()  # kept: the offer lives in it (a chained call frees it)
        offer = reply.get_value("offer")
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def gathered(self, *_: object) -> None:
        state = self.webrtc.get_property("ice-gathering-state")
        if state != GstWebRTC.WebRTCICEGatheringState.COMPLETE or self.location is not None:
            return
        offer = self.webrtc.get_property("local-description").sdp.as_text()
        request = urllib.request.Request(
            self.url,
            data=offer.encode(),
            method="POST",
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                answer = response.read().decode()
                self.location = response.headers["Location"]
                status = response.status
        except urllib.error.HTTPError as error:
            print(f"refused {error.code} {error.read().decode()}", flush=True)
            GLib.idle_add(self.stop)  # from the main loop, not webrtcbin's thread
            return
        _, sdp = GstSdp.SDPMessage.new_from_text(answer)
        description = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        self.webrtc.emit("set-remote-description", description, Gst.Promise.new())
        print(f"published {status}", flush=True)

    def stop(self) -> None:
        if self.location is not None:
            base = self.url.split("/whip/")[0]
            request = urllib.request.Request(
                base + self.location,
                method="DELETE",
                headers={"Authorization": f"Bearer {self.token}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                print(f"deleted {response.status}", flush=True)
        self.pipeline.set_state(Gst.State.NULL)
        self.loop.quit()

    def run(self) -> None:
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: self.stop() or False)
        self.pipeline.set_state(Gst.State.PLAYING)
        self.loop.run()


if __name__ == "__main__":
    Gst.init(None)
    Publisher(sys.argv[1], sys.argv[2]).run()
