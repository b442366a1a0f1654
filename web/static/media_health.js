// Media that dies comes back by itself: watches a MediaSession's peer connections and
// rebuilds them when they die, while the websocket stays up (docs/protocol.md, "When
// media dies").
//
// - `disconnected` for longer than a short grace, `failed`, or the server's
//   `media_failed` start a repair. A connection that reads `disconnected` while the
//   server's packets still arrive on it is given more graces (Firefox says
//   `disconnected` as soon as one consent check goes unanswered, a busy server's
//   answer late; a rebuild would cost everyone a keyframe and the person a gap), until
//   its browser gives up (`failed`, after 30 s of unanswered checks). A repair: the
//   session builds fresh peer connections (`media_ready`, then `publish` of what it
//   published). The server (aiortc) cannot restart ICE, so a fresh connection is the
//   only way back.
// - A repair that has not connected after `attemptMs` is judged by its ICE checks: while
//   the server answers them it is given more time, else (the path is still cut) the
//   next repair starts, until one connects.
// - The session emits `mediastate` ({reconnecting: boolean}) when a repair starts and
//   when every peer connection is connected again; `showMediaState` shows it.

export const DISCONNECTED_GRACE_MS = 4000;
export const ATTEMPT_MS = 5000;
/** Graces more for a `disconnected` connection on which the server's packets still arrive. */
const MORE_GRACES = 6;
/** How many times an attempt whose ICE checks are answered may be given `attemptMs` more. */
const EXTENSIONS = 3;

/**
 * @typedef {{publisher: RTCPeerConnection | null, subscriber: RTCPeerConnection | null,
 *   rebuild: () => boolean, emit: (type: string, detail: object) => void}} Healable
 */

export class MediaHealth {
  /**
   * @param {Healable} session
   * @param {{graceMs?: number, attemptMs?: number}} [options]
   */
  constructor(session, options = {}) {
    this.session = session;
    this.graceMs = options.graceMs ?? DISCONNECTED_GRACE_MS;
    this.attemptMs = options.attemptMs ?? ATTEMPT_MS;
    this.reconnecting = false;
    this.attempts = 0; // repairs started, in all (for the console and tests)
    this.extensions = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.graceTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.attemptTimer = null;
  }

  /** The peer connections of the session now. */
  current() {
    return [this.session.publisher, this.session.subscriber].filter((pc) => pc !== null);
  }

  /**
   * Watch a peer connection the session has just made.
   * @param {RTCPeerConnection} pc
   */
  watch(pc) {
    pc.addEventListener("connectionstatechange", () => this.changed(pc));
  }

  /** @param {RTCPeerConnection} pc */
  changed(pc) {
    if (!this.current().includes(pc)) return; // replaced meanwhile
    const state = pc.connectionState;
    if (state === "connected") {
      if (!this.current().some((other) => other.connectionState === "disconnected")) this.clearGrace();
      this.settle();
    } else if (state === "failed") {
      this.trouble(`${this.which(pc)} connection failed`);
    } else if (state === "disconnected" && this.graceTimer === null) {
      this.waitOut(pc, 0);
    }
  }

  /**
   * Short losses mend themselves (ICE keeps checking); a longer one is not waited out,
   * unless the server's packets still arrive.
   * @param {RTCPeerConnection} pc
   * @param {number} graces given so far
   */
  waitOut(pc, graces) {
    const before = bytesReceived(pc);
    this.graceTimer = setTimeout(async () => {
      const timer = this.graceTimer;
      if (!this.current().includes(pc) || pc.connectionState !== "disconnected") {
        this.graceTimer = null;
        return;
      }
      const arriving = (await bytesReceived(pc)) > (await before);
      if (this.graceTimer !== timer) return; // connected (or replaced) meanwhile
      this.graceTimer = null;
      if (!this.current().includes(pc) || pc.connectionState !== "disconnected") return;
      if (arriving && graces < MORE_GRACES) {
        this.waitOut(pc, graces + 1);
        return;
      }
      const why = arriving ? "for long" : `for ${this.graceMs} ms, nothing arriving`;
      this.trouble(`${this.which(pc)} connection disconnected ${why}`);
    }, this.graceMs);
  }

  /** The server dropped one of our connections (`media_failed`). */
  serverFailed() {
    this.trouble("the server dropped a connection");
  }

  /** @param {RTCPeerConnection} pc */
  which(pc) {
    return pc === this.session.publisher ? "publish" : "subscribe";
  }

  /**
   * Start a repair, unless one is under way (its own timer judges it).
   * @param {string} why for the console
   */
  trouble(why) {
    if (this.reconnecting) return;
    console.warn(`media: repairing (${why})`);
    this.reconnecting = true;
    this.session.emit("mediastate", { reconnecting: true });
    this.attempt();
  }

  attempt() {
    this.clearTimers();
    this.extensions = 0;
    this.attempts += 1;
    this.session.rebuild(); // false while the websocket is down: its reconnect restarts media
    this.attemptTimer = setTimeout(() => this.judge(), this.attemptMs);
  }

  async judge() {
    this.attemptTimer = null;
    if (!this.reconnecting) return;
    if (this.healthy()) return this.settle();
    if (this.extensions < EXTENSIONS && (await this.answered())) {
      this.extensions += 1; // the path works: connecting is merely slow (a busy machine)
      this.attemptTimer = setTimeout(() => this.judge(), this.attemptMs);
      return;
    }
    if (this.reconnecting && !this.healthy()) {
      console.warn("media: the repair did not connect; another one");
      this.attempt();
    }
  }

  /** Whether every peer connection there is has connected. */
  healthy() {
    return this.current().every((pc) => pc.connectionState === "connected");
  }

  /** Whether the server answered an ICE check of every unconnected peer connection. */
  async answered() {
    for (const pc of this.current()) {
      if (pc.connectionState === "connected") continue;
      let answers = 0;
      const stats = await pc.getStats().catch(() => null);
      stats?.forEach((report) => {
        if (report.type === "candidate-pair") answers += report.responsesReceived || 0;
      });
      if (!answers) return false;
    }
    return true;
  }

  /** Media flows again: the repair is over. */
  settle() {
    if (!this.reconnecting || !this.healthy()) return;
    this.reconnecting = false;
    if (this.attemptTimer !== null) clearTimeout(this.attemptTimer);
    this.attemptTimer = null;
    this.session.emit("mediastate", { reconnecting: false });
  }

  clearGrace() {
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    this.graceTimer = null;
  }

  clearTimers() {
    this.clearGrace();
    if (this.attemptTimer !== null) clearTimeout(this.attemptTimer);
    this.attemptTimer = null;
  }

  /** The session closed for good. */
  stop() {
    this.clearTimers();
    if (this.reconnecting) {
      this.reconnecting = false;
      this.session.emit("mediastate", { reconnecting: false });
    }
  }
}

/**
 * Bytes received on a connection so far (its candidate pairs'), 0 when unknown.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<number>}
 */
async function bytesReceived(pc) {
  let bytes = 0;
  const stats = await pc.getStats().catch(() => null);
  stats?.forEach((report) => {
    if (report.type === "candidate-pair") bytes += report.bytesReceived || 0;
  });
  return bytes;
}

/**
 * Show "reconnecting media" (the element's own text) while a repair is under way.
 * @param {EventTarget} session a MediaSession
 * @param {HTMLElement | null} element
 */
export function showMediaState(session, element) {
  if (!element) return;
  session.addEventListener("mediastate", (event) => {
    element.hidden = !(/** @type {CustomEvent} */ (event).detail.reconnecting);
  });
}
