// The companion phone page: pair with the room's code under one's own name, then answer
// polls and quizzes, chat, raise a hand, listen to a channel of one's choice on one's own
// earphones and follow the shared screen. It receives media and sends none (no camera,
// no microphone), so it is never a video tile on anyone's screen.
//
// One state at a time, shown by #companion[data-state] and said by #companion-state:
//   pairing -> joining -> lobby (a locked room) -> room -> removed | left
//   and expired (the code typed, or this phone's place, has run out: pair again).

import { loadLanguage, t } from "/static/i18n.js";
import { mountInterpretation } from "/static/interpretation.js";
import { MediaSession } from "/static/media.js";
import { mountPolls } from "/static/polls.js";
import { ClassroomConnection } from "/static/protocol.js";

const KEY = "classroom.companion";
const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

/**
 * @typedef {"pairing"|"joining"|"expired"|"lobby"|"room"|"removed"|"left"} State
 * @typedef {{token: string, name: string, expires: number}} Saved
 */

/** What each state shows; the rest of the page is hidden. */
const PARTS = /** @type {Record<State, string[]>} */ ({
  pairing: ["pair-form"],
  joining: ["pair-form"],
  expired: ["pair-form"],
  lobby: ["companion-leave"],
  room: ["companion-live", "companion-leave"],
  removed: ["companion-again"],
  left: ["companion-again"],
});
const ALL_PARTS = [...new Set(Object.values(PARTS).flat())];
/** Pairing refusals by error code (POST /api/companion/pair). */
const PAIRING_ERRORS = /** @type {Record<string, string>} */ ({
  not_found: "companion.wrong_code",
  invalid: "companion.bad_code",
  bad_request: "companion.bad_code",
  rate_limited: "companion.rate_limited",
  store_unavailable: "error.store_unavailable",
  internal: "error.internal",
});

await loadLanguage();
const root = $("companion");
const stateLine = $("companion-state");
const status = $("pair-status");

/**
 * Show one state, and say it.
 * @param {State} state
 * @param {string} text
 */
function show(state, text) {
  root.dataset.state = state;
  stateLine.textContent = text;
  for (const id of ALL_PARTS) $(id).hidden = !PARTS[state].includes(id);
  $("pair-form").querySelector("button[type=submit]").disabled = state === "joining";
  if (state !== "pairing" && state !== "joining") status.textContent = "";
}

/** @returns {Saved|null} the pairing kept on this phone, if still valid */
function saved() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) || "null");
    return value && value.token ? value : null;
  } catch {
    return null;
  }
}

/** @param {Saved} pairing */
function expired(pairing) {
  return pairing.expires <= Date.now() / 1000 + 60;
}

$("pair-form").addEventListener("submit", async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  show("joining", t("companion.pairing"));
  const response = await fetch("/api/companion/pair", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      code: $("pair-code").value,
      name: $("pair-name").value,
      lang: document.documentElement.lang || null,
    }),
  }).catch(() => null);
  const body = response ? await response.json().catch(() => ({})) : {};
  if (!response || !response.ok) {
    const { code, reason } = body.error || {};
    if (reason === "code_expired") {
      show("expired", t("companion.expired_code"));
    } else {
      show("pairing", t("companion.state.pairing"));
      const key = reason === "device_full" ? "companion.full" : PAIRING_ERRORS[code];
      status.textContent = key ? t(key) : t("companion.failed");
    }
    $("pair-code").focus();
    return;
  }
  localStorage.setItem(KEY, JSON.stringify(body));
  start(body);
});

$("companion-again").addEventListener("click", () => {
  show("pairing", t("companion.state.pairing"));
  $("pair-code").focus();
});

/**
 * Why a token is refused now, from the API (reason codes: expired, withdrawn...), or
 * null while it is still good or the server cannot be reached.
 * @param {string} token
 * @returns {Promise<string|null>}
 */
async function refusal(token) {
  const response = await fetch("/api/me", { headers: { Authorization: `Bearer ${token}` } }).catch(() => null);
  if (response?.status !== 401) return null;
  const body = await response.json().catch(() => ({}));
  return body.error?.reason || "invalid";
}

/**
 * The phone's place was lost (its token expired or was withdrawn): say which, and
 * offer to pair again.
 * @param {string} reason
 */
function refused(reason) {
  localStorage.removeItem(KEY);
  if (reason === "withdrawn") show("removed", t("companion.state.removed"));
  else show("expired", t("companion.state.expired"));
}

/** @param {Saved} pairing */
function start(pairing) {
  show("joining", t("companion.pairing"));
  const connection = new ClassroomConnection(pairing.token);
  let raised = false;
  /** @type {string|null} your participant id, from the welcome */
  let you = null;
  /** @type {MediaSession|null} */
  let media = null;
  let ended = false;
  let mounted = false;
  connection.addEventListener("welcome", (/** @type {any} */ event) => {
    const me = event.detail.you;
    you = me.sub;
    // In a locked room the first welcome is the lobby's (it lists only us, waiting);
    // the room's own follows `admitted`.
    if (event.detail.room.lobby?.some((/** @type {{id: string}} */ p) => p.id === me.sub)) {
      show("lobby", t("companion.waiting"));
      return;
    }
    show("room", t("companion.you_are", { name: pairing.name }));
    if (mounted) return; // a reconnect: what is mounted stays
    mounted = true;
    mountPolls($("companion-polls"), connection, me);
    media = new MediaSession(connection);
    media.addEventListener("track", (/** @type {any} */ e) => showScreen(e.detail));
    media.addEventListener("trackended", (/** @type {any} */ e) => hideScreen(e.detail));
    panel?.close(); // a previous pairing's
    panel = mountInterpretation($("companion-listen"), connection, media, { ...me, id: me.sub });
    sound(false);
    $("companion-sound").hidden = false;
  });
  connection.addEventListener("hand_changed", (/** @type {any} */ event) => {
    if (event.detail.id !== you) return;
    raised = event.detail.raised;
    $("companion-hand").setAttribute("aria-pressed", String(raised));
    $("companion-hand").textContent = t(raised ? "companion.lower_hand" : "companion.raise_hand");
  });
  // Only trainers and the one waiting hear of the lobby: this is about us.
  connection.addEventListener("lobby_entered", () => show("lobby", t("companion.waiting")));
  /** This pairing is over: no more connection, no more media. */
  const stop = () => {
    ended = true;
    connection.close();
    media?.close();
  };
  connection.addEventListener("removed", (/** @type {any} */ event) => {
    if (event.detail.id !== you) return;
    stop();
    refused("withdrawn");
  });
  connection.addEventListener("chat_posted", (/** @type {any} */ event) => {
    const item = document.createElement("li");
    item.textContent = `${event.detail.name}: ${event.detail.text}`;
    $("companion-chat-log").append(item);
  });
  connection.addEventListener("close", (/** @type {any} */ event) => {
    if (ended) return;
    if (event.detail.code === 4003) {
      stop();
      refused("withdrawn");
    } else if ([4001, 1000].includes(event.detail.code)) {
      stop();
      show("left", t("companion.ended"));
    }
  });
  // A connection refused at the door (expired or withdrawn token) only reconnects:
  // ask the API why, and stop there if the token is refused for good.
  connection.addEventListener("reconnecting", async () => {
    const reason = ended ? null : await refusal(pairing.token);
    if (reason === null || ended) return;
    stop();
    refused(reason);
  });
  controls = {
    hand: () => connection.send("raise_hand", { raised: !raised, target: null }),
    chat: (/** @type {string} */ text) => connection.send("chat", { text }),
    leave: () => {
      connection.send("leave");
      stop();
      localStorage.removeItem(KEY);
      show("left", t("companion.ended"));
    },
  };
  connection.connect();
}

/** What the buttons of the page act on: the current pairing's connection. */
let controls = { hand: () => {}, chat: (/** @type {string} */ _text) => {}, leave: () => {} };
$("companion-hand").addEventListener("click", () => controls.hand());
$("companion-leave").addEventListener("click", () => controls.leave());
$("companion-chat").addEventListener("submit", (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const text = $("companion-chat-text").value.trim();
  if (text) controls.chat(text);
  $("companion-chat-text").value = "";
});

/**
 * The phone plays sound only once asked (the room's loudspeakers play the floor
 * already): the toggle, or choosing a channel, turns it on; the toggle turns it off.
 * @type {import("/static/interpretation.js").InterpretationPanel|null} the current pairing's
 */
let panel = null;

/** @param {boolean} on */
function sound(on) {
  if (!panel) return;
  panel.mixer.output.gain.value = on ? 1 : 0;
  if (on) panel.mixer.resume();
  $("companion-sound").setAttribute("aria-pressed", String(on));
  $("companion-sound").textContent = t(on ? "companion.sound_stop" : "companion.sound_start");
}

$("companion-sound").addEventListener("click", () => sound($("companion-sound").getAttribute("aria-pressed") !== "true"));
$("companion-listen").addEventListener("change", (/** @type {Event} */ event) => {
  if (/** @type {HTMLInputElement} */ (event.target).name === "interpretation-channel") sound(true);
});

/** @type {string|null} whose screen is shown */
let screenOf = null;

/** @param {{participant: string, source: string, kind: string, stream: MediaStream}} track */
function showScreen({ participant, source, kind, stream }) {
  if (source !== "screen" || kind !== "video") return;
  screenOf = participant;
  const video = $("companion-screen-video");
  video.srcObject = stream;
  video.hidden = false;
  $("companion-no-screen").hidden = true;
  video.play().catch(() => {});
}

/** @param {{participant: string, source: string}} track */
function hideScreen({ participant, source }) {
  if (source !== "screen" || participant !== screenOf) return;
  screenOf = null;
  const video = $("companion-screen-video");
  video.srcObject = null;
  video.hidden = true;
  $("companion-no-screen").hidden = false;
}

const previous = saved();
if (previous && !new URL(location.href).searchParams.get("code")) {
  if (expired(previous)) refused("expired");
  else start(previous);
} else {
  show("pairing", t("companion.state.pairing"));
}
