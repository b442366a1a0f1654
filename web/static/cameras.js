// The trainer's IP cameras (RTSP) in the side panel: the room's cameras with their state
// (told by the server in `cameras` messages), a form to add one and a button to remove
// each (POST and DELETE /api/rooms/{room}/cameras). A password typed here goes to the
// server and is never shown again: the server lists cameras without it.

import { t } from "/static/i18n.js";
import { joinToken } from "/static/join.js";

/**
 * @typedef {{id: string, name: string, url: string, username: string|null,
 *   has_password: boolean, state: string, error: string|null, message: string|null,
 *   profile: string|null}} Camera
 */

const ERRORS = ["unreachable", "unauthorized", "not_found", "codec", "no_video", "dropped", "lobby", "removed"];

/**
 * @param {string} tag
 * @param {Record<string, string>} [attributes]
 * @param {string} [text]
 */
function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/**
 * What a camera's state says, in the page's language.
 * @param {Camera} camera
 */
export function cameraStateText(camera) {
  const state = t(`cameras.state.${camera.state}`);
  if (!camera.error || camera.state === "live") return state;
  const why = ERRORS.includes(camera.error) ? t(`cameras.error.${camera.error}`) : camera.message || camera.error;
  return `${state}: ${why}`;
}

/**
 * @param {HTMLElement} root the panel's section
 * @param {EventTarget} connection the room's ClassroomConnection
 * @param {{room: string}} you
 */
export function mountCameras(root, connection, you) {
  const base = `/api/rooms/${encodeURIComponent(you.room)}/cameras`;
  const headers = () => ({ Authorization: `Bearer ${joinToken()}`, "Content-Type": "application/json" });
  root.hidden = false;
  const heading = element("h2", { id: "cameras-heading" }, t("cameras.title"));
  root.setAttribute("aria-labelledby", "cameras-heading");
  const list = element("ul", { id: "camera-list", class: "cameras" });
  const form = /** @type {HTMLFormElement} */ (element("form", { id: "camera-form", class: "camera-form" }));
  /** @type {Record<string, HTMLInputElement>} */
  const inputs = {};
  for (const [name, type, required] of [
    ["name", "text", true],
    ["url", "text", true],
    ["username", "text", false],
    ["password", "password", false],
  ]) {
    const id = `camera-${name}`;
    const input = /** @type {HTMLInputElement} */ (element("input", { id, name: String(name), type: String(type) }));
    input.autocomplete = name === "password" ? "new-password" : "off";
    if (required) input.required = true;
    if (name === "url") input.placeholder = "rtsp://192.0.2.10:554/stream1";
    inputs[String(name)] = input;
    form.append(element("label", { for: id }, t(`cameras.${name}`)), input);
  }
  const add = element("button", { type: "submit", id: "camera-add" }, t("cameras.add"));
  const status = element("p", { id: "camera-status", class: "camera-status", role: "status" });
  form.append(add, status);
  root.append(heading, list, form);

  /** @param {Camera[]} cameras */
  function show(cameras) {
    list.replaceChildren();
    if (!cameras.length) list.append(element("li", { class: "empty" }, t("cameras.none")));
    for (const camera of cameras) {
      const item = element("li", { "data-camera": camera.id, "data-state": camera.state });
      const name = element("span", { class: "camera-name" }, camera.name);
      const state = element("span", { class: "camera-state", role: "status" }, cameraStateText(camera));
      const remove = element("button", { type: "button", class: "camera-remove" }, t("cameras.remove"));
      remove.setAttribute("aria-label", t("cameras.remove_named", { name: camera.name }));
      remove.addEventListener("click", async () => {
        remove.setAttribute("disabled", "");
        const response = await fetch(`${base}/${encodeURIComponent(camera.id)}`, {
          method: "DELETE",
          headers: headers(),
        }).catch(() => null);
        if (!response?.ok) remove.removeAttribute("disabled");
      });
      item.append(name, state, remove);
      list.append(item);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: inputs.name.value.trim(),
      url: inputs.url.value.trim(),
      username: inputs.username.value.trim() || null,
      password: inputs.password.value || null,
    };
    add.setAttribute("disabled", "");
    status.textContent = "";
    try {
      const response = await fetch(base, { method: "POST", headers: headers(), body: JSON.stringify(body) });
      if (response.ok) {
        form.reset();
      } else {
        const reply = await response.json().catch(() => ({}));
        const code = reply?.error?.code;
        status.textContent = code === "bad_url" ? t("cameras.bad_url") : t("cameras.failed", {
          message: reply?.error?.message || `HTTP ${response.status}`,
        });
      }
    } finally {
      add.removeAttribute("disabled");
    }
  });

  // What the room had before this panel listened (and after a reconnect); then each change.
  async function refresh() {
    const response = await fetch(base, { headers: headers() }).catch(() => null);
    if (response?.ok) show((await response.json()).cameras);
  }
  connection.addEventListener("cameras", (event) => show(/** @type {CustomEvent} */ (event).detail.cameras));
  connection.addEventListener("open", refresh);
  show([]);
  refresh();
}
