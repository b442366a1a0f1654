// How big the page shows each video it receives, told to the server (`video_sizes`,
// docs/protocol.md) so that it forwards each camera in the layer that fits: a small
// gallery tile gets a small layer, the stage of a 4K room screen the full one.
//
//   const sizes = new ViewSizes(media);  // a MediaSession of media.js
//   sizes.stop();
//
// Whatever element shows a received video (a stage tile, the signer's window, a booth's
// picture) is found by the track in its srcObject, so no UI module has to say it. Sizes are
// device pixels: the element's height in CSS pixels times devicePixelRatio. A message goes
// only when a size changed by more than 10%, a video came or went or became (un)seen, and
// at most every 500 ms.

/** @typedef {import("/static/media.js").MediaSession} MediaSession */

/** At most one message in this time. */
const MIN_INTERVAL_MS = 500;
/** Measure this long after the first change of a burst (a layout change, a resize). */
const SETTLE_MS = 100;
/** A size that moved less than this share of the last one sent is not news. */
const CHANGE_RATIO = 0.1;
/** Look again this often anyway: some changes tell no observer (visibility: hidden...). */
const CHECK_MS = 3000;
/** The server takes heights up to this, and this many videos (the tallest are told). */
const MAX_HEIGHT = 8192;
const MAX_VIDEOS = 64;

/**
 * Whether two reports differ enough to tell the server.
 * @param {Record<string, number>} before
 * @param {Record<string, number>} after
 */
export function differ(before, after) {
  const keys = Object.keys(after);
  if (keys.length !== Object.keys(before).length) return true;
  for (const key of keys) {
    const old = before[key];
    const now = after[key];
    if (old === undefined) return true;
    if ((old === 0) !== (now === 0)) return true;
    if (Math.abs(now - old) > CHANGE_RATIO * old) return true;
  }
  return false;
}

/**
 * How tall an element shows its picture, in device pixels (0: not seen).
 * @param {HTMLVideoElement} element
 */
function shownHeight(element) {
  if (!element.isConnected || document.visibilityState === "hidden") return 0;
  if (typeof element.checkVisibility === "function" && !element.checkVisibility({ visibilityProperty: true })) {
    return 0;
  }
  const box = element.getBoundingClientRect();
  if (box.width <= 0 || box.height <= 0) return 0;
  let height = box.height;
  // Fitted whole into a box wider than itself: bands above and below, the picture is lower.
  const { videoWidth, videoHeight } = element;
  if (videoWidth > 0 && videoHeight > 0 && getComputedStyle(element).objectFit === "contain") {
    height = Math.min(height, (box.width * videoHeight) / videoWidth);
  }
  return Math.min(MAX_HEIGHT, Math.round(height * (window.devicePixelRatio || 1)));
}

export class ViewSizes {
  /** @param {MediaSession} media */
  constructor(media) {
    this.media = media;
    /** @type {Record<string, number>} what the server was told last */
    this.sent = {};
    /** @type {RTCPeerConnection | null} the subscribe connection it was told for */
    this.sentFor = null;
    this.sentAt = -Infinity;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {Set<Element>} */
    this.observed = new Set();
    this.schedule = this.schedule.bind(this);
    this.resizes = new ResizeObserver(this.schedule);
    /** @type {[EventTarget, string, boolean][]} */
    this.listening = [
      [media, "track", false],
      [media, "trackended", false],
      [document, "visibilitychange", false],
      [window, "resize", false], // also when devicePixelRatio changes (zoom, another screen)
      // A <video> gets or loses a stream (its srcObject set): media events do not bubble,
      // but they pass the document on their way down.
      [document, "loadstart", true],
      [document, "emptied", true],
      [document, "loadedmetadata", true],
      [document, "resize", true], // a video's own size changed (object-fit: contain)
    ];
    for (const [target, type, capture] of this.listening) target.addEventListener(type, this.schedule, capture);
    this.interval = setInterval(this.schedule, CHECK_MS);
    this.schedule();
  }

  stop() {
    for (const [target, type, capture] of this.listening) target.removeEventListener(type, this.schedule, capture);
    clearInterval(this.interval);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.resizes.disconnect();
    this.observed.clear();
  }

  /** Measure soon (a burst of changes is measured once), and not sooner than allowed. */
  schedule() {
    if (this.timer !== null) return;
    const wait = Math.max(SETTLE_MS, this.sentAt + MIN_INTERVAL_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
  }

  /**
   * The received videos and how tall each is shown now, by track id; the elements showing
   * them are observed from now on.
   * @returns {Record<string, number>}
   */
  measure() {
    /** @type {Map<MediaStreamTrack, string>} */
    const ids = new Map();
    for (const shown of this.media.shown.values()) {
      if (shown.kind === "video") ids.set(shown.track, `${shown.participant}/${shown.source}`);
    }
    /** @type {Record<string, number>} */
    const heights = {};
    for (const id of ids.values()) heights[id] = 0;
    const showing = new Set();
    for (const element of document.querySelectorAll("video")) {
      const stream = element.srcObject;
      if (!(stream instanceof MediaStream)) continue;
      const id = stream.getVideoTracks().map((track) => ids.get(track)).find(Boolean);
      if (!id) continue;
      showing.add(element);
      heights[id] = Math.max(heights[id], shownHeight(element)); // the largest of its elements
    }
    for (const element of this.observed) {
      if (!showing.has(element)) this.resizes.unobserve(element);
    }
    for (const element of showing) {
      if (!this.observed.has(element)) this.resizes.observe(element);
    }
    this.observed = showing;
    const entries = Object.entries(heights);
    if (entries.length <= MAX_VIDEOS) return heights;
    return Object.fromEntries(entries.sort(([, a], [, b]) => b - a).slice(0, MAX_VIDEOS));
  }

  flush() {
    if (this.media.closed) {
      this.stop();
      return;
    }
    const heights = this.measure();
    // A new subscribe connection (media started afresh) starts with the server knowing nothing.
    const fresh = this.media.subscriber !== this.sentFor;
    if (!fresh && !differ(this.sent, heights)) return;
    if (!this.media.subscriber) return; // nothing received yet: nothing to size
    if (this.media.connection.ws?.readyState !== WebSocket.OPEN) return; // told after the reconnect
    this.media.connection.send("video_sizes", { heights });
    this.sent = heights;
    this.sentFor = this.media.subscriber;
    this.sentAt = performance.now();
  }
}
