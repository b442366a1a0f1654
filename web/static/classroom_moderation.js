// A trainer's moderation of the whole room (mute everyone, lock, allow screen sharing,
// unpin) and the session: the form that starts one of a training module (GET
// /api/modules), ending it, and the session's state line that everyone sees.

import { formatTime, t } from "/static/i18n.js";
import { $, confirm } from "/static/classroom_page.js";

/** @typedef {import("/static/classroom_room.js").Classroom} Classroom */

export class Moderation {
  /** @param {Classroom} room */
  constructor(room) {
    this.room = room;
  }

  bind() {
    const room = this.room;
    $("#mute-all").addEventListener("click", () => room.send("mute", { target: null, muted: true }));
    $("#lock-room").addEventListener("click", () => room.send("lock", { value: !room.locked }));
    $("#allow-share").addEventListener("click", () =>
      room.send("allow_screen_share", { value: !room.screenShareAllowed }),
    );
    $("#unpin").addEventListener("click", () => room.send("pin", { target: null }));
    $("#session-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const title = /** @type {HTMLInputElement} */ ($("#session-title")).value.trim();
      const module = /** @type {HTMLSelectElement} */ ($("#session-module")).value;
      room.send("start_session", { title: title || null, module: module || null });
    });
    $("#end-session").addEventListener("click", async () => {
      if (await confirm(t("session.end_confirm"))) room.send("end_session");
    });
  }

  /**
   * The training modules a trainer may start a session of, grouped by topic, with the
   * room's last module chosen (GET /api/modules).
   */
  async loadModules() {
    const response = await fetch("/api/modules", { headers: { Authorization: `Bearer ${this.room.token}` } }).catch(
      () => null,
    );
    if (!response?.ok) return;
    const catalogue = await response.json();
    const select = /** @type {HTMLSelectElement} */ ($("#session-module"));
    for (const topic of catalogue.topics) {
      const group = document.createElement("optgroup");
      group.label = topic.title;
      for (const module of topic.modules) group.append(new Option(module.title, module.id));
      select.append(group);
    }
    select.value = catalogue.last_module || "";
  }

  render() {
    this.renderModeration();
    this.renderSession();
  }

  renderModeration() {
    const room = this.room;
    const moderator = room.can("moderate");
    $("#moderation").hidden = !moderator;
    if (!moderator) return;
    $("#lock-room").textContent = t(room.locked ? "mod.unlock" : "mod.lock");
    $("#lock-room").setAttribute("aria-pressed", String(room.locked));
    $("#allow-share").textContent = t(room.screenShareAllowed ? "mod.disallow_share" : "mod.allow_share");
    $("#allow-share").setAttribute("aria-pressed", String(room.screenShareAllowed));
    $("#unpin").hidden = !room.pinned;
    const live = room.session?.state === "live";
    $("#session-form").hidden = live;
    $("#end-session").hidden = !live;
  }

  renderSession() {
    const element = $("#session-state");
    const session = this.room.session;
    element.dataset.state = session?.state || "none";
    if (session?.state === "live") {
      element.textContent = t("session.live", { title: session.title, time: formatTime(session.started_at) });
    } else if (session?.state === "ended") {
      element.textContent = t("session.over", { title: session.title });
    } else {
      element.textContent = t("session.not_started");
    }
  }
}
