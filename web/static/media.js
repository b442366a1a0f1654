// Media in the browser: the two peer connections of a participant, negotiated over the
// classroom websocket (docs/protocol.md: media_ready, publish, subscribe...). No DOM here:
// the UI listens to events and attaches the tracks to elements itself.
//
//   const media = new MediaSession(connection, { iceServers: [] });
//   media.addEventListener("track", (e) => show(e.detail));       // {participant, source, kind, track, stream}
//   media.addEventListener("trackended", (e) => hide(e.detail));  // {participant, source}
//   media.addEventListener("activespeaker", (e) => ring(e.detail.id));
//   await media.publish(cameraAndMicrophoneStream);
//
// It starts again by itself after the websocket reconnects (a fresh `welcome`): the server
// gives every connection fresh peer connections, so everything is published anew. It also
// rebuilds its peer connections when they die under a websocket that stays up
// (media_health.js), and says so: media.addEventListener("mediastate", (e) => e.detail.reconnecting).

import { MediaHealth } from "/static/media_health.js";

/**
 * @typedef {"camera" | "microphone" | "screen" | "interpretation" | "booth" | "signing"} Source
 * @typedef {{participant: string, source: string, kind: string}} Shown
 * @typedef {Shown & {track: MediaStreamTrack, stream: MediaStream}} TrackDetail
 * @typedef {import("/static/protocol.js").ClassroomConnection} Connection
 */

const GATHER_TIMEOUT_MS = 5000;

/**
 * The camera's simulcast layers (RTP stream ids, RFC 8851/8853), smallest first: a
 * quarter of its height at most 150 kbit/s, half at 400 kbit/s, the full picture at
 * 1.5 Mbit/s. The server forwards each viewer the one that fits how big it shows the
 * video and its downlink (video_sizes). Chromium sends at most as many layers as the
 * picture is large enough for (three from 960x540, two from 480x270, else one) and
 * drops the largest ones beyond: so a smaller camera is offered fewer, from the full
 * picture down, and a small one none. Other sources (a screen, a signer's video) go
 * in one layer.
 * @param {MediaStreamTrack} track
 * @returns {RTCRtpEncodingParameters[]}
 */
export function cameraLayers(track) {
  const { width = 0, height = 0 } = track.getSettings();
  const pixels = width * height;
  const count = pixels >= 960 * 540 ? 3 : pixels >= 480 * 270 ? 2 : 1;
  /** @type {RTCRtpEncodingParameters[]} */
  const layers = [
    { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
    { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 400_000 },
    { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
  ];
  return count > 1 ? layers.slice(3 - count) : [];
}

/** The video codecs this browser decodes, as the server names them. */
function receivableCodecs() {
  const names = new Set();
  const capabilities = globalThis.RTCRtpReceiver?.getCapabilities?.("video");
  for (const codec of capabilities?.codecs ?? []) {
    const name = codec.mimeType.split("/")[1];
    const fmtp = codec.sdpFmtpLine || "";
    if (name === "VP8") names.add("VP8");
    if (name === "H264" && /packetization-mode=1/.test(fmtp) && /profile-level-id=42(e0|00)1f/i.test(fmtp)) {
      names.add("H264");
    }
  }
  return [...names];
}

/**
 * The participant id (the token's `sub`) of a join token, without checking it.
 * @param {string | undefined} token
 */
function subjectOf(token) {
  try {
    const payload = (token || "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).sub || "";
  } catch {
    return "";
  }
}

/**
 * Resolves once the connection has all its ICE candidates (we do not trickle them).
 * @param {RTCPeerConnection} pc
 */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve(undefined);
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT_MS);
  });
}

/**
 * Whether an answer takes the layers offered on one m-line (a=simulcast:recv).
 * @param {string} sdp
 * @param {string} mid
 */
function simulcastTaken(sdp, mid) {
  for (const section of sdp.split(/\r?\n(?=m=)/)) {
    const lines = section.split(/\r?\n/).map((line) => line.trim());
    if (lines.includes(`a=mid:${mid}`)) return lines.some((line) => line.startsWith("a=simulcast:recv "));
  }
  return false;
}

/**
 * A sending transceiver for a source: the camera in its simulcast layers (one, in a browser
 * that cannot), the others as they are.
 * @param {RTCPeerConnection} pc
 * @param {string} source
 * @param {MediaStreamTrack} track
 * @param {MediaStream} stream
 */
function addSending(pc, source, track, stream) {
  /** @type {RTCRtpTransceiverInit} */
  const init = { direction: "sendonly", streams: [stream] };
  const layers = source === "camera" ? cameraLayers(track) : [];
  if (layers.length > 1) {
    try {
      return pc.addTransceiver(track, { ...init, sendEncodings: layers });
    } catch (error) {
      console.warn("media: the camera goes in one layer here", error);
    }
  }
  return pc.addTransceiver(track, init);
}

export class MediaSession extends EventTarget {
  /**
   * @param {Connection} connection the ClassroomConnection of protocol.js
   * @param {{iceServers?: RTCIceServer[]}} [options] ICE servers besides those the server sends
   */
  constructor(connection, options = {}) {
    super();
    this.connection = connection;
    this.options = options;
    /** @type {RTCIceServer[]} */
    this.serverIceServers = [];
    /** @type {Map<string, MediaStreamTrack>} what should be published, by source */
    this.published = new Map();
    /** @type {Map<string, MediaStream>} */
    this.streams = new Map();
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {Map<string, RTCRtpTransceiver>} */
    this.sending = new Map();
    /** @type {RTCPeerConnection | null} */
    this.subscriber = null;
    /** @type {Map<string, TrackDetail>} what each subscribe m-line shows, by mid */
    this.shown = new Map();
    /** aborts the requests still waiting for their reply when the media closes */
    this.requests = new AbortController();
    this.closed = false;
    this.started = false;
    this.publishing = Promise.resolve();
    this.subscribing = Promise.resolve();
    this.generation = 0; // one per websocket connection the media was started on
    /** @type {Promise<void>} resolves once the server has sent media_config */
    this.ready = Promise.resolve();
    this.markReady = () => {};
    this.readyDone = true;
    this.newReady();
    this.you = subjectOf(/** @type {any} */ (connection).token);
    this.health = new MediaHealth(this);

    /** @type {[string, (event: any) => void][]} */
    this.listeners = [
      ["welcome", (event) => this.onWelcome(event.detail)],
      ["close", () => (this.started = false)],
      ["subscribe", (event) => this.onSubscribe(event.detail)],
      ["active_speaker", (event) => this.emit("activespeaker", { id: event.detail.id })],
      ["screen_share_changed", (event) => this.onScreenShareChanged(event.detail)],
      ["republish", (event) => this.onRepublish(event.detail)],
      ["media_failed", () => this.health.serverFailed()],
    ];
    for (const [type, listener] of this.listeners) connection.addEventListener(type, listener);
    if (connection.ws && connection.ws.readyState === WebSocket.OPEN) this.start();
  }

  // --- the API ------------------------------------------------------------------

  /**
   * Publish a camera and microphone stream (either may be missing).
   * @param {MediaStream} stream
   */
  publish(stream) {
    const [camera] = stream.getVideoTracks();
    const [microphone] = stream.getAudioTracks();
    if (camera) this.setSource("camera", camera, stream);
    if (microphone) this.setSource("microphone", microphone, stream);
    return this.negotiatePublish();
  }

  /**
   * Share a screen (its video track), or stop sharing with null.
   * @param {MediaStream | null} stream
   */
  async shareScreen(stream) {
    const track = stream?.getVideoTracks()[0];
    if (!stream || !track) {
      this.connection.send("share_screen", { sharing: false });
      this.published.delete("screen");
      return this.negotiatePublish();
    }
    this.connection.send("share_screen", { sharing: true });
    this.setSource("screen", track, stream);
    try {
      await this.negotiatePublish();
    } catch (error) {
      this.published.delete("screen");
      await this.negotiatePublish().catch(() => {});
      throw error;
    }
  }

  /** @param {boolean} enabled */
  setMicrophoneEnabled(enabled) {
    const track = this.published.get("microphone");
    if (track) track.enabled = enabled;
  }

  /** @param {boolean} enabled */
  setCameraEnabled(enabled) {
    const track = this.published.get("camera");
    if (track) track.enabled = enabled;
  }

  /**
   * Publish another audio track, e.g. an interpreter's "interpretation" or "booth" voice.
   * @param {MediaStreamTrack} track
   * @param {Source} source
   */
  publishExtra(track, source) {
    this.setSource(source, track, new MediaStream([track]));
    return this.negotiatePublish();
  }

  /** @param {Source} source */
  unpublish(source) {
    if (!this.published.delete(source)) return Promise.resolve();
    return this.negotiatePublish();
  }

  /** Stop all media for good (the websocket stays as it is). */
  close() {
    this.closed = true;
    this.health.stop();
    for (const [type, listener] of this.listeners) this.connection.removeEventListener(type, listener);
    this.reset();
    this.requests.abort(new Error("media closed"));
  }

  // --- inside -------------------------------------------------------------------

  /**
   * @param {string} type
   * @param {object} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * @param {string} source
   * @param {MediaStreamTrack} track
   * @param {MediaStream} stream
   */
  setSource(source, track, stream) {
    this.published.set(source, track);
    this.streams.set(source, stream);
  }

  iceServers() {
    return [...(this.options.iceServers || []), ...this.serverIceServers];
  }

  /** @param {any} welcome */
  onWelcome(welcome) {
    this.you = welcome?.you?.sub || this.you;
    if (!this.started) this.start();
  }

  newReady() {
    if (!this.readyDone) return; // still waited for: the next media_config settles it
    this.readyDone = false;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  /** Fresh peer connections for a fresh websocket connection; publish what we had. */
  start() {
    if (this.closed) return;
    this.started = true;
    this.generation += 1;
    const generation = this.generation;
    this.reset();
    this.newReady();
    const markReady = this.markReady;
    this.request("media_ready", { codecs: receivableCodecs() }, "media_config")
      .then((config) => {
        if (generation !== this.generation) return;
        this.serverIceServers = config.ice_servers || [];
        this.readyDone = true;
        markReady();
      })
      .catch((error) => console.warn("media: not ready", error));
    if (this.published.size) this.negotiatePublish().catch(() => {});
  }

  /**
   * Fresh peer connections on the same websocket, publishing what we had (media_health.js).
   * @returns {boolean} false while the websocket is down (its reconnect starts media anew)
   */
  rebuild() {
    if (this.closed || !this.started || this.connection.ws?.readyState !== WebSocket.OPEN) return false;
    this.start();
    return true;
  }

  reset() {
    this.publisher?.close();
    this.publisher = null;
    this.sending.clear();
    this.subscriber?.close();
    this.subscriber = null;
    this.applyTracks({});
    this.publishing = Promise.resolve();
    this.subscribing = Promise.resolve();
  }

  /**
   * Send a message and wait for the reply of the given type that echoes its ref
   * (protocol.js correlates them); rejected when the media closes.
   * @param {string} type
   * @param {object} fields
   * @param {string} replyType
   * @returns {Promise<any>}
   */
  request(type, fields, replyType) {
    return this.connection.request(type, fields, { reply: replyType, signal: this.requests.signal });
  }

  /** Bring the publish connection in line with `published` (one negotiation at a time). */
  negotiatePublish() {
    const run = this.publishing.catch(() => {}).then(() => this.publishNow());
    this.publishing = run;
    return run;
  }

  async publishNow() {
    const generation = this.generation;
    await this.ready;
    if (this.closed || generation !== this.generation) return; // start() publishes anew
    if (!this.publisher) {
      if (!this.published.size) return;
      this.publisher = new RTCPeerConnection({ iceServers: this.iceServers(), bundlePolicy: "max-bundle" });
      this.health.watch(this.publisher);
    }
    const pc = this.publisher;
    for (const [source, track] of this.published) {
      const transceiver = this.sending.get(source);
      const stream = this.streams.get(source) || new MediaStream([track]);
      if (!transceiver) {
        this.sending.set(source, addSending(pc, source, track, stream));
      } else {
        if (transceiver.sender.track !== track) await transceiver.sender.replaceTrack(track);
        transceiver.direction = "sendonly";
      }
    }
    for (const [source, transceiver] of this.sending) {
      if (this.published.has(source)) continue;
      await transceiver.sender.replaceTrack(null);
      transceiver.direction = "inactive";
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    /** @type {Record<string, string>} */
    const sources = {};
    for (const [source, transceiver] of this.sending) {
      if (this.published.has(source) && transceiver.mid) sources[transceiver.mid] = source;
    }
    const sdp = pc.localDescription?.sdp || "";
    let answer;
    try {
      answer = await this.request("publish", { sdp, sources }, "publish_answer");
    } catch (error) {
      if (this.publisher === pc && pc.signalingState === "have-local-offer") {
        await pc.setLocalDescription({ type: "rollback" });
      }
      throw error;
    }
    if (this.publisher !== pc) return; // restarted meanwhile
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    await this.keepOneLayerWhole(answer.sdp);
  }

  /**
   * An answer that does not take the camera's layers (no a=simulcast:recv on its m-line)
   * leaves it the first, smallest one (webrtc-pc: the encodings are cut to the first):
   * send that one as a camera without layers is sent, whole and uncapped.
   * @param {string} answer the publish answer's SDP
   */
  async keepOneLayerWhole(answer) {
    const transceiver = this.sending.get("camera");
    const sender = transceiver?.sender;
    if (!sender || !transceiver.mid || simulcastTaken(answer, transceiver.mid)) return;
    const parameters = sender.getParameters();
    const [first] = parameters.encodings || [];
    if (!first?.rid || (first.scaleResolutionDownBy === 1 && first.maxBitrate === undefined)) return;
    first.scaleResolutionDownBy = 1;
    delete first.maxBitrate;
    await sender.setParameters(parameters).catch((error) => console.warn("media: camera layer", error));
  }

  /** @param {any} message */
  onSubscribe(message) {
    this.subscribing = this.subscribing
      .catch(() => {})
      .then(() => this.subscribeNow(message))
      .catch((error) => console.warn("media: subscribe failed", error));
  }

  /** @param {{sdp: string | null, tracks: Record<string, Shown>}} message */
  async subscribeNow(message) {
    if (this.closed || !this.started) return;
    if (message.sdp) {
      await this.ready;
      if (!this.subscriber) {
        this.subscriber = new RTCPeerConnection({ iceServers: this.iceServers(), bundlePolicy: "max-bundle" });
        this.health.watch(this.subscriber);
      }
      const pc = this.subscriber;
      await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      if (this.subscriber !== pc) return;
      this.connection.send("subscribe_answer", { sdp: pc.localDescription?.sdp || "" });
    }
    this.applyTracks(message.tracks || {});
  }

  /**
   * Announce what changed in what the subscribe m-lines show.
   * @param {Record<string, Shown>} tracks
   */
  applyTracks(tracks) {
    for (const [mid, shown] of [...this.shown]) {
      const now = tracks[mid];
      if (now && now.participant === shown.participant && now.source === shown.source) continue;
      this.shown.delete(mid);
      this.emit("trackended", { participant: shown.participant, source: shown.source });
    }
    const transceivers = new Map((this.subscriber?.getTransceivers() || []).map((t) => [t.mid, t]));
    for (const [mid, info] of Object.entries(tracks)) {
      if (this.shown.has(mid)) continue;
      const transceiver = transceivers.get(mid);
      if (!transceiver) continue;
      const track = transceiver.receiver.track;
      const detail = { participant: info.participant, source: info.source, kind: info.kind, track, stream: new MediaStream([track]) };
      this.shown.set(mid, detail);
      this.emit("track", detail);
    }
  }

  /**
   * The server asks for these sources on new m-lines: an m-line keeps its codec, and a
   * viewer arrived that cannot decode it (H.264). The old transceiver goes inactive (not
   * stopped: the browser could recycle a stopped m-line for the new one) and the next
   * offer adds a fresh one for the same track, for which the server picks another codec.
   * @param {{sources: string[]}} message
   */
  onRepublish(message) {
    const sources = (message.sources || []).filter((s) => this.sending.has(s) && this.published.has(s));
    if (!sources.length) return;
    this.publishing = this.publishing
      .catch(() => {})
      .then(async () => {
        for (const source of sources) {
          const transceiver = this.sending.get(source);
          if (!transceiver) continue;
          this.sending.delete(source);
          await transceiver.sender.replaceTrack(null);
          transceiver.direction = "inactive";
        }
        return this.publishNow();
      });
    this.publishing.catch((error) => console.warn("media: republish failed", error));
  }

  /** @param {{id: string, sharing: boolean}} change */
  onScreenShareChanged(change) {
    if (change.id !== this.you || change.sharing || !this.published.has("screen")) return;
    // Someone else's share replaced ours, or the trainer withdrew the permission.
    this.published.delete("screen");
    this.negotiatePublish().catch(() => {});
    this.emit("screenshareended", {});
  }
}
