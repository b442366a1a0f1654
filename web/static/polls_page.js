// The polls page: the polls panel alone, connected with the join token of this tab as a
// side page (no media; it never takes the person's place in the classroom).

import { loadLanguage, t } from "/static/i18n.js";
import { joinToken } from "/static/join.js";
import { mountPolls } from "/static/polls.js";
import { ClassroomConnection } from "/static/protocol.js";

await loadLanguage();
const status = /** @type {HTMLElement} */ (document.getElementById("polls-page-status"));
const token = joinToken();
if (!token) {
  status.textContent = t("report.no_token");
} else {
  const connection = new ClassroomConnection(token, { page: "side" });
  let mounted = false;
  connection.addEventListener("welcome", async (/** @type {any} */ event) => {
    status.textContent = t("pollspage.connected", { name: event.detail.you.name });
    if (mounted) return;
    mounted = true;
    await mountPolls(/** @type {HTMLElement} */ (document.getElementById("polls-page")), connection, event.detail.you);
  });
  connection.addEventListener("reconnecting", () => {
    status.textContent = t("pollspage.connecting");
  });
  connection.connect();
}
