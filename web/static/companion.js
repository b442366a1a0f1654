// The companion phone page: pair with the room's code under one's own name, then answer
// polls and quizzes, chat and raise a hand. No camera, no microphone.

import { loadLanguage, t } from "/static/i18n.js";
import { mountPolls } from "/static/polls.js";
import { ClassroomConnection } from "/static/protocol.js";

const KEY = "classroom.companion";
const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

await loadLanguage();
const status = $("pair-status");

/** @returns {{token: string, name: string, expires: number}|null} */
function saved() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) || "null");
    return value && value.expires > Date.now() / 1000 + 60 ? value : null;
  } catch {
    return null;
  }
}

$("pair-form").addEventListener("submit", async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  status.textContent = t("companion.pairing");
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
    const known = {
      not_found: "companion.wrong_code",
      invalid_state: "companion.expired_code",
      store_unavailable: "error.store_unavailable",
    };
    const key = /** @type {Record<string, string>} */ (known)[body.error?.code];
    status.textContent = key ? t(key) : body.error?.message || t("companion.failed");
    $("pair-code").focus();
    return;
  }
  localStorage.setItem(KEY, JSON.stringify(body));
  start(body);
});

/** @param {{token: string, name: string}} pairing */
function start(pairing) {
  $("pair-form").hidden = true;
  status.textContent = "";
  $("companion-live").hidden = false;
  $("companion-you").textContent = t("companion.you_are", { name: pairing.name });
  const connection = new ClassroomConnection(pairing.token);
  let raised = false;
  let mounted = false;
  /** @type {string|null} your participant id, from the welcome */
  let you = null;
  connection.addEventListener("welcome", (/** @type {any} */ event) => {
    if (mounted) return;
    mounted = true;
    mountPolls($("companion-polls"), connection, event.detail.you);
  });
  connection.addEventListener("hand_changed", (/** @type {any} */ event) => {
    if (event.detail.id !== you) return;
    raised = event.detail.raised;
    $("companion-hand").setAttribute("aria-pressed", String(raised));
    $("companion-hand").textContent = t(raised ? "companion.lower_hand" : "companion.raise_hand");
  });
  connection.addEventListener("welcome", (/** @type {any} */ event) => {
    you = event.detail.you.sub;
  });
  // Only trainers and the one waiting hear of the lobby: this is about us.
  connection.addEventListener("lobby_entered", () => {
    status.textContent = t("companion.waiting");
  });
  connection.addEventListener("admitted", () => {
    status.textContent = "";
  });
  connection.addEventListener("chat_posted", (/** @type {any} */ event) => {
    const item = document.createElement("li");
    item.textContent = `${event.detail.name}: ${event.detail.text}`;
    $("companion-chat-log").append(item);
  });
  connection.addEventListener("close", (/** @type {any} */ event) => {
    if ([4001, 4003, 1000].includes(event.detail.code)) status.textContent = t("companion.ended");
  });
  $("companion-hand").addEventListener("click", () => connection.send("raise_hand", { raised: !raised, target: null }));
  $("companion-chat").addEventListener("submit", (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    const text = $("companion-chat-text").value.trim();
    if (text) connection.send("chat", { text });
    $("companion-chat-text").value = "";
  });
  $("companion-leave").addEventListener("click", () => {
    connection.send("leave");
    localStorage.removeItem(KEY);
    $("companion-live").hidden = true;
    $("pair-form").hidden = false;
  });
  connection.connect();
}

const previous = saved();
if (previous && !new URL(location.href).searchParams.get("code")) start(previous);
