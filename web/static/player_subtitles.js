// The trainers' part of the player: add, replace or remove a language's subtitles of a
// recording of their room (PUT/DELETE /api/recordings/{id}/subtitles/{lang}); the page
// loads again to play them.
import { errorText, t } from "/static/i18n.js";
import { languageName } from "/static/languages.js";

/**
 * Show the editor when the caller may change this recording's subtitles.
 * @param {any} recording the API's view of it (can_edit, subtitles)
 * @param {string} token
 */
export function offerSubtitleEditing(recording, token) {
  const form = /** @type {HTMLFormElement} */ (document.getElementById("subtitles-editor"));
  if (!recording.can_edit) return;
  form.hidden = false;
  const message = /** @type {HTMLElement} */ (document.getElementById("subtitles-message"));
  const select = /** @type {HTMLSelectElement} */ (document.getElementById("subtitles-language"));
  const input = /** @type {HTMLInputElement} */ (document.getElementById("subtitles-file"));
  for (const option of select.querySelectorAll("option[data-language]")) {
    option.textContent = languageName(/** @type {HTMLElement} */ (option).dataset.language || "");
  }
  const url = (/** @type {string} */ lang) =>
    `/api/recordings/${encodeURIComponent(recording.id)}/subtitles/${encodeURIComponent(lang)}`;
  const list = /** @type {HTMLElement} */ (document.getElementById("subtitles-present"));
  for (const entry of recording.subtitles) {
    const item = document.createElement("li");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = t("player.remove_subtitles", { language: languageName(entry.language) });
    remove.addEventListener("click", () => send("DELETE", url(entry.language), null));
    item.append(languageName(entry.language), " ", remove);
    list.append(item);
  }

  /** @param {string} method @param {string} address @param {File|null} body */
  async function send(method, address, body) {
    message.textContent = t("upload.sending");
    const response = await fetch(address, { method, headers: { Authorization: `Bearer ${token}` }, body });
    const reply = await response.json().catch(() => ({}));
    if (!response.ok) {
      const reason = reply?.error?.reason;
      const key = `upload.reason.${reason}`;
      message.textContent = reason && t(key) !== key ? t(key, { file: reply.error.file || "" }) : errorText(reply, response.status);
      return;
    }
    window.location.reload();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files?.[0];
    if (!file) {
      message.textContent = t("upload.need_files");
      input.focus();
      return;
    }
    send("PUT", url(select.value), file);
  });
}
