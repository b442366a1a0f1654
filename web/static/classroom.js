// The classroom page: pre-join, then the room (stage, people, chat, moderation, lobby),
// kept in step with the server through protocol.js and with media through media.js.
// This module starts it; the page is split by concern:
//   classroom_room.js        the room's state and the server's messages
//   classroom_media.js       media (media.js) and the feature panels, once in the room
//   classroom_controls.js    the toolbar: microphone, camera, hand, screen; shortcuts
//   classroom_moderation.js  moderation of the room and the session form
//   classroom_phases.js      pre-join, lobby, elsewhere (another tab), the end
//   classroom_page.js        announcements, alerts, confirm, toasts; what the tab keeps

import { errorText, loadLanguage, t } from "/static/i18n.js";
import { joinToken } from "/static/join.js";
import { $, refuse, root } from "/static/classroom_page.js";
import { Classroom } from "/static/classroom_room.js";

/**
 * /api/me for this token. While the server cannot be reached (a room PC that starts
 * before the server, a restart) it keeps asking, as the websocket does later.
 * @param {string} token
 * @returns {Promise<Response>}
 */
async function whoAmI(token) {
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch("/api/me", { headers: { Authorization: `Bearer ${token}` } }).catch(
      () => null,
    );
    if (response && response.status < 500) return response;
    root.dataset.phase = "waiting-for-server";
    $("#page-status").textContent = t("room.waiting_for_server");
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** attempt)));
  }
}

async function main() {
  await loadLanguage(document.documentElement.lang);
  const token = joinToken();
  if (!token) {
    refuse("ended.no_token.title", t("ended.no_token.text"));
    return;
  }
  const response = await whoAmI(token);
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    // Why, by the reason's code in the page's language (expired, withdrawn...).
    refuse("ended.refused.title", body?.error?.reason ? errorText(body) : t("ended.refused.text"));
    return;
  }
  $("#page-status").textContent = "";
  const classroom = new Classroom(token, await response.json(), root.dataset.autojoin === "true");
  // For the console and for tests: the page's state and its MediaSession.
  Object.defineProperty(window, "classroom", { value: classroom });
  await classroom.start();
}

main();
