// The classroom page's phases around the room: pre-join (or straight in), the lobby,
// "in the class on another page" (elsewhere), and the end (left, removed, refused, ...).
// The room itself and its messages are classroom_room.js.

import { errorText, t } from "/static/i18n.js";
import { PreJoin, openDevices } from "/static/prejoin.js";
import { $, root, setConnectionState } from "/static/classroom_page.js";

/**
 * @typedef {import("/static/classroom_room.js").Classroom} Classroom
 * @typedef {"loading"|"prejoin"|"connecting"|"elsewhere"|"lobby"|"room"|"ended"} Phase
 * @typedef {"left"|"removed"|"denied"|"replaced"|"refused"|"banned"|"full"} Ending
 */

/** Close codes after which the server will not take us back (see docs/protocol.md). */
const CLOSE_LEFT = 1000;
const CLOSE_REPLACED = 4001;
const CLOSE_REMOVED = 4003;

export class Phases {
  /** @param {Classroom} room */
  constructor(room) {
    this.room = room;
  }

  /** The buttons of the phases: leave, join again, join here. */
  bind() {
    for (const button of root.querySelectorAll(".leave-button")) {
      button.addEventListener("click", () => this.leave());
    }
    // The join page needs the token in its address (join.js takes it out again at once).
    $("#join-again").addEventListener("click", () => {
      // Joined elsewhere: coming back here takes the class over from that other page.
      if (this.room.endedBy === "replaced") this.room.store.save({ takeOver: true });
      location.assign(`/join?token=${encodeURIComponent(this.room.token)}`);
    });
    $("#join-here").addEventListener("click", () => this.joinHere());
  }

  /** @param {Phase} phase */
  set(phase) {
    this.room.phase = phase;
    root.dataset.phase = phase;
    $("#prejoin").hidden = phase !== "prejoin";
    $("#waiting").hidden = phase !== "lobby";
    $("#elsewhere").hidden = phase !== "elsewhere";
    $("#ended").hidden = phase !== "ended";
    $("#room").hidden = !["room", "connecting"].includes(phase);
  }

  /** Pre-join, or straight in for a room device and for a reload of a joined tab. */
  async start() {
    const room = this.room;
    const { view } = room.store;
    if (room.bigScreen || view.joined) {
      const { stream } = room.can("publish_media")
        ? await openDevices({ ...view.choice, camera: true, microphone: true })
        : { stream: new MediaStream() };
      room.enter(stream, view.choice);
      return;
    }
    this.set("prejoin");
    const form = /** @type {HTMLFormElement} */ ($("#prejoin-form"));
    if (!room.can("publish_media")) {
      for (const field of root.querySelectorAll("[data-media]")) /** @type {HTMLElement} */ (field).hidden = true;
      $(".preview-frame").hidden = true;
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        room.enter(new MediaStream(), {});
      });
      $("#join-button").focus();
      return;
    }
    const prejoin = new PreJoin($("#prejoin"), view.choice);
    form.addEventListener(
      "submit",
      async (event) => {
        event.preventDefault();
        /** @type {HTMLButtonElement} */ ($("#join-button")).disabled = true;
        const { stream, choice } = await prejoin.finish();
        room.enter(stream, choice);
      },
      { once: true },
    );
    $("#join-button").focus();
    await prejoin.start();
  }

  /** While reconnecting: a token that has expired (or been revoked) will never get back in. */
  async checkToken() {
    const response = await fetch("/api/me", { headers: { Authorization: `Bearer ${this.room.token}` } }).catch(
      () => null,
    );
    if (response?.status !== 401 || this.room.phase === "ended") return;
    const body = await response.json().catch(() => ({}));
    this.end("refused", body?.error?.reason ? errorText(body) : undefined);
  }

  /**
   * The person is in the class on another page (a second tab): offer to join here, and
   * until then hold no camera or microphone. After "Join here again" it takes over at once.
   */
  onElsewhere() {
    const room = this.room;
    if (room.store.view.takeOver) {
      room.store.save({ takeOver: false });
      room.send("join_here");
      return;
    }
    for (const track of room.localStream.getTracks()) track.stop();
    this.set("elsewhere");
    $("#join-here").focus();
  }

  /** "Join here instead": this page takes the class over from the other one. */
  async joinHere() {
    const room = this.room;
    /** @type {HTMLButtonElement} */ ($("#join-here")).disabled = true;
    if (room.can("publish_media")) {
      const { stream } = await openDevices({ ...room.store.view.choice, camera: true, microphone: true });
      room.localStream = stream;
      room.controls.applyLocalTracks();
      room.stage.showLocal(room.you, stream);
    }
    this.set("connecting");
    room.send("join_here");
    /** @type {HTMLButtonElement} */ ($("#join-here")).disabled = false;
  }

  /** @param {number} code */
  onClose(code) {
    const phase = this.room.phase;
    if (phase === "ended") return;
    if (code === CLOSE_REMOVED) this.end(phase === "lobby" ? "denied" : "removed");
    else if (code === CLOSE_REPLACED) this.end("replaced");
    else if (code === CLOSE_LEFT || this.room.leaving) this.end("left");
  }

  leave() {
    this.room.leaving = true;
    this.room.send("leave");
    this.room.connection?.close();
    this.end("left");
  }

  /**
   * @param {Ending} why
   * @param {string} [detail] the server's reason, shown as it is
   */
  end(why, detail) {
    const room = this.room;
    if (room.phase === "ended") return;
    this.set("ended");
    room.connection?.close();
    setConnectionState(null);
    room.media?.close();
    room.media = null;
    for (const track of room.localStream.getTracks()) track.stop();
    if (room.screenStream) for (const track of room.screenStream.getTracks()) track.stop();
    room.store.save({ joined: false });
    $("#ended-heading").textContent = t(`ended.${why}.title`);
    $("#ended-text").textContent = detail || t(`ended.${why}.text`);
    $("#join-again").hidden = !["left", "replaced"].includes(why);
    $("#join-again").textContent = t(why === "replaced" ? "ended.join_here_again" : "ended.join_again");
    room.endedBy = why;
    $("#ended-heading").setAttribute("tabindex", "-1");
    $("#ended-heading").focus();
  }
}
