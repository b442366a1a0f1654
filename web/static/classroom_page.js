// The classroom page's elements and its ways of telling: announcements for screen
// readers, alerts, the confirm dialog, chat toasts, the connection line and the side
// panel; and what the tab remembers across a reload (ViewStore). No room state here.

import { t } from "/static/i18n.js";

/**
 * @typedef {import("/static/prejoin.js").DeviceChoice} DeviceChoice
 * @typedef {import("/static/chat.js").ChatMessage} ChatMessage
 * @typedef {{joined: boolean, choice: DeviceChoice, panel: boolean|null, chat: ChatMessage[],
 *   takeOver?: boolean}} View
 */

export const root = /** @type {HTMLElement} */ (document.getElementById("classroom"));
/** @param {string} selector */
export const $ = (selector) => /** @type {HTMLElement} */ (root.querySelector(selector));

/**
 * Fetch a module only when it is deployed: features (polls, interpretation) land apart.
 * @param {string} url
 * @returns {Promise<any|null>}
 */
export async function importIfPresent(url) {
  const probe = await fetch(url, { method: "HEAD" }).catch(() => null);
  if (!probe?.ok) return null;
  return import(url);
}

/**
 * What this tab remembers across a reload: that it had joined, its devices, the chat.
 */
export class ViewStore {
  /** @param {string} key */
  constructor(key) {
    this.key = key;
    /** @type {View} */
    this.view = { joined: false, choice: {}, panel: null, chat: [] };
    try {
      Object.assign(this.view, JSON.parse(sessionStorage.getItem(key) || "{}"));
    } catch {
      // a damaged entry is simply forgotten
    }
  }

  /** @param {Partial<View>} change */
  save(change) {
    Object.assign(this.view, change);
    try {
      sessionStorage.setItem(this.key, JSON.stringify(this.view));
    } catch {
      // storage full or disabled: the view is not kept across a reload, nothing more
    }
  }
}

/** @param {string} text announced to screen readers (join/leave, hands, moderation) */
export function announce(text) {
  const announcer = $("#announcer");
  announcer.textContent = "";
  // A fresh text node in a later frame is announced even when the text repeats.
  requestAnimationFrame(() => (announcer.textContent = text));
}

/** @param {string} text shown and announced at once */
export function alert(text) {
  const item = document.createElement("p");
  item.textContent = text;
  $("#alerts").append(item);
  setTimeout(() => item.remove(), 8000);
}

/**
 * @param {string} text
 * @returns {Promise<boolean>}
 */
export function confirm(text) {
  const dialog = /** @type {HTMLDialogElement} */ ($("#confirm"));
  $("#confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) =>
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }),
  );
}

/**
 * With the side panel closed (a room device's big screen), chat shows over the video
 * for a while, and is announced from there.
 * @param {ChatMessage} message
 */
export function toast(message) {
  const item = document.createElement("p");
  item.className = "chat-toast";
  const who = document.createElement("strong");
  who.textContent = message.name;
  const text = document.createElement("span");
  text.dir = "auto";
  text.textContent = message.text;
  item.append(who, ": ", text);
  const toasts = $("#chat-toasts");
  toasts.append(item);
  while (toasts.children.length > 3) toasts.firstElementChild?.remove();
  setTimeout(() => item.remove(), 15000);
}

/** @param {boolean} open */
export function setPanel(open) {
  $("#panel").hidden = !open;
  $("#toggle-panel").setAttribute("aria-expanded", String(open));
  root.classList.toggle("panel-closed", !open);
}

/** @param {string|null} key */
export function setConnectionState(key) {
  const element = $("#connection-state");
  element.textContent = key ? t(key) : "";
  element.hidden = !key;
  root.classList.toggle("offline", Boolean(key));
}

/**
 * The page refuses before any room: no token, or one the server does not take.
 * @param {string} titleKey
 * @param {string} text
 */
export function refuse(titleKey, text) {
  for (const screen of root.querySelectorAll("section")) /** @type {HTMLElement} */ (screen).hidden = true;
  $("#ended").hidden = false;
  $("#ended-heading").textContent = t(titleKey);
  $("#ended-text").textContent = text;
  root.dataset.phase = "ended";
}
