// The classroom wire protocol in the browser: the websocket, reconnection, and
// (with media) the two peer connections. No DOM here: the UI (classroom.js)
// listens to events and calls methods. See docs/protocol.md for every message.

/**
 * @typedef {{type: string, [key: string]: any}} Message
 */

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5000;

export class ClassroomConnection extends EventTarget {
  /**
   * @param {string} token the join token
   * @param {{url?: string, page?: "classroom"|"side", client?: string}} [options] what the
   *   page is for (a classroom page has presence and media; a side page, such as the polls
   *   page, never replaces another page) and the tab's own id, the same on its reconnects
   */
  constructor(token, options = {}) {
    super();
    this.token = token;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = options.url || `${scheme}//${location.host}/ws`;
    this.page = options.page || "classroom";
    this.client = options.client || null;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.closedByUs = false;
    this.attempt = 0;
    /** @type {Message[]} */
    this.pending = [];
  }

  /** Open the websocket; it reconnects by itself until close() is called. */
  connect() {
    this.closedByUs = false;
    const query = new URLSearchParams({ token: this.token, page: this.page });
    if (this.client) query.set("client", this.client);
    const ws = new WebSocket(`${this.url}?${query}`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.dispatchEvent(new CustomEvent("open"));
      for (const message of this.pending.splice(0)) ws.send(JSON.stringify(message));
    });
    ws.addEventListener("message", (event) => {
      /** @type {Message} */
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.dispatchEvent(new CustomEvent("message", { detail: message }));
      this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.dispatchEvent(new CustomEvent("close", { detail: { code: event.code, reason: event.reason } }));
      // Removed (4003), replaced (4001) or left (1000): do not come back on our own.
      const final = this.closedByUs || [1000, 4001, 4003].includes(event.code);
      if (!final) this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.dispatchEvent(new CustomEvent("reconnecting", { detail: { delay } }));
    setTimeout(() => {
      if (!this.closedByUs) this.connect();
    }, delay);
  }

  /**
   * Send a message; queued while the socket is (re)connecting.
   * @param {string} type
   * @param {object} [fields]
   */
  send(type, fields = {}) {
    const message = { type, ...fields };
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
    } else {
      this.pending.push(message);
    }
  }

  /** Leave for good. */
  close() {
    this.closedByUs = true;
    if (this.ws) this.ws.close(1000, "bye");
  }
}

/**
 * The id of this browser tab: kept in sessionStorage, so the tab's reconnects and reloads
 * carry the same one, and another tab has its own (docs/protocol.md, "Several pages").
 * @returns {string}
 */
export function tabId() {
  const key = "classroom.tab";
  try {
    const known = sessionStorage.getItem(key);
    if (known) return known;
    const made = randomId();
    sessionStorage.setItem(key, made);
    return made;
  } catch {
    return randomId(); // storage disabled: an id for this page's life
  }
}

/** 32 hex digits (crypto.randomUUID needs a secure context; this does not). */
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
