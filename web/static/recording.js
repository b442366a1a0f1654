// The classroom page's recording indicator, and the start/stop button of those who may
// record (trainers). The server tells everyone with recording_started / recording_stopped.
import { t } from "/static/i18n.js";
import { joinToken } from "/static/join.js";

/**
 * @param {HTMLElement} root where the indicator and the button go
 * @param {EventTarget} connection the ClassroomConnection (its events are message types)
 * @param {{room: string, permissions: string[]}} you
 */
export function mountRecording(root, connection, you) {
  const badge = document.createElement("span");
  badge.className = "recording-badge";
  badge.setAttribute("role", "status");
  badge.textContent = t("recording.on");
  badge.title = t("recording.notice");
  badge.hidden = true;
  const notice = document.createElement("span");
  notice.className = "recording-notice";
  notice.setAttribute("role", "status");
  root.append(badge, notice);
  let recording = false;

  /** @type {HTMLButtonElement|null} */
  let button = null;
  if (you.permissions.includes("record")) {
    button = document.createElement("button");
    button.type = "button";
    button.id = "toggle-recording";
    button.setAttribute("aria-pressed", "false");
    button.textContent = t("recording.start");
    button.addEventListener("click", () => toggle());
    root.append(button);
  }

  /** @param {boolean} on */
  function show(on) {
    // Whoever learns the room is being recorded is told, whether the news came as
    // recording_started or from the first look (a page that mounted after it began).
    if (on && !recording) notice.textContent = t("recording.notice");
    recording = on;
    root.dataset.recording = String(on);
    badge.hidden = !on;
    if (button) {
      button.textContent = t(on ? "recording.stop" : "recording.start");
      button.setAttribute("aria-pressed", String(on));
    }
  }

  async function toggle() {
    if (!button) return;
    button.disabled = true;
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(you.room)}/recording`, {
        method: "POST",
        headers: { Authorization: `Bearer ${joinToken()}`, "Content-Type": "application/json" },
        body: JSON.stringify({ action: recording ? "stop" : "start" }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
      }
    } catch (error) {
      notice.textContent = t("recording.failed", { message: error instanceof Error ? error.message : String(error) });
    } finally {
      button.disabled = false;
    }
  }

  // News that came while a look was on its way is newer than the look's answer: a look
  // asked before recording_started may answer "not recording" after it.
  let news = 0;

  // What was under way before this panel listened (and after a reconnect).
  async function refresh() {
    const asked = news;
    const response = await fetch(`/api/rooms/${encodeURIComponent(you.room)}/recording`, {
      headers: { Authorization: `Bearer ${joinToken()}` },
    }).catch(() => null);
    if (!response?.ok) return;
    const recording = Boolean((await response.json()).recording);
    if (asked === news) show(recording);
  }
  refresh();
  connection.addEventListener("open", refresh);

  connection.addEventListener("recording_started", () => {
    news += 1;
    show(true);
  });
  connection.addEventListener("recording_stopped", (event) => {
    news += 1;
    const reason = /** @type {CustomEvent} */ (event).detail.reason;
    notice.textContent = t(reason === "disk_full" ? "recording.stopped_disk_full" : "recording.stopped");
    show(false);
  });
}
