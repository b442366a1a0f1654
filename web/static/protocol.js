// The classroom wire protocol in the browser: the websocket, reconnection, and
// (with media) the two peer connections. No DOM here: the UI (classroom.js)
// listens to events and calls methods. See docs/protocol.md for every message.

/**
 * @typedef {{type: string, [key: string]: any}} Message
 * @typedef {{reply: string|null, resolve: (message: Message|null) => void,
 *   reject: (error: Error) => void, timer: ReturnType<typeof setTimeout>}} Waiter
 */

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5000;
const REPLY_TIMEOUT_MS = 15000;

/** The server's `error` answering a request (its `code` and `message`, docs/protocol.md). */
export class RequestError extends Error {
  /**
   * @param {string} message
   * @param {string} code
   */
  constructor(message, code) {
    super(message);
    this.name = "RequestError";
    this.code = code;
  }
}

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
    /** @type {Map<string, Waiter>} requests waiting for their answer, by ref */
    this.waiting = new Map();
    this.refs = 0;
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
      // An error answering a request is that request's (it rejects); nobody else hears it.
      if (this.settle(message)) return;
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

  /**
   * Send a message and wait for its reply: the message of type `reply` that echoes the
   * message's `ref`. Rejects with a RequestError on an `error` with that ref, and with an
   * Error after the timeout or when `signal` aborts. The reply is also dispatched as usual.
   * @param {string} type
   * @param {object} fields
   * @param {{reply: string, timeoutMs?: number, signal?: AbortSignal}} options
   * @returns {Promise<Message>}
   */
  request(type, fields, { reply, timeoutMs = REPLY_TIMEOUT_MS, signal }) {
    return /** @type {Promise<Message>} */ (this.ask(type, fields, reply, timeoutMs, signal));
  }

  /**
   * Send a message that has no reply of its own (its effect is broadcast): rejects with a
   * RequestError if an `error` echoes its ref within the timeout, resolves otherwise (at the
   * first other message that echoes the ref, or when the timeout passes).
   * @param {string} type
   * @param {object} [fields]
   * @param {{timeoutMs?: number}} [options]
   * @returns {Promise<void>}
   */
  async command(type, fields = {}, { timeoutMs = REPLY_TIMEOUT_MS } = {}) {
    await this.ask(type, fields, null, timeoutMs);
  }

  /**
   * @param {string} type
   * @param {object} fields
   * @param {string|null} reply the reply's type, or null for a command
   * @param {number} timeoutMs
   * @param {AbortSignal} [signal]
   * @returns {Promise<Message|null>}
   */
  ask(type, fields, reply, timeoutMs, signal) {
    const ref = `r${++this.refs}`;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        if (!this.waiting.delete(ref)) return;
        if (reply) reject(new Error(`no ${reply} from the server`));
        else resolve(null);
      }, timeoutMs);
      this.waiting.set(ref, { reply, resolve, reject, timer });
      signal?.addEventListener("abort", () => {
        const waiter = this.waiting.get(ref);
        if (!waiter) return;
        this.waiting.delete(ref);
        clearTimeout(waiter.timer);
        reject(signal.reason);
      });
      this.send(type, { ...fields, ref });
    });
  }

  /**
   * Settle the request a message answers, if any.
   * @param {Message} message
   * @returns {boolean} true for an error that was a request's (not to be dispatched)
   */
  settle(message) {
    const waiter = typeof message.ref === "string" ? this.waiting.get(message.ref) : undefined;
    if (!waiter) return false;
    if (message.type === "error") {
      this.waiting.delete(message.ref);
      clearTimeout(waiter.timer);
      waiter.reject(new RequestError(message.message, message.code));
      return true;
    }
    if (waiter.reply === null || waiter.reply === message.type) {
      this.waiting.delete(message.ref);
      clearTimeout(waiter.timer);
      waiter.resolve(message);
    }
    return false;
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
