// The polls page: the polls panel alone, connected with the join token of this tab as a
// side page (no media; it never takes the person's place in the classroom).

import { errorText, loadLanguage, t } from "/static/i18n.js";
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
  connection.addEventListener("reconnecting", async () => {
    status.textContent = t("pollspage.connecting");
    // A link refused at the door (expired, withdrawn) only reconnects: say why, and stop.
    const response = await fetch("/api/me", { headers: { Authorization: `Bearer ${token}` } }).catch(() => null);
    if (response?.status !== 401) return;
    connection.close();
    status.textContent = errorText(await response.json().catch(() => ({})), 401);
  });
  connection.connect();
}
