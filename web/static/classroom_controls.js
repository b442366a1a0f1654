// The classroom's toolbar: your microphone, camera, hand and screen share (with the
// keyboard shortcuts m, v, h), a trainer's request to unmute you, the side panel and the
// sound button; and the toolbar's state drawn from the room (render).

import { t } from "/static/i18n.js";
import { $, alert, announce, setPanel } from "/static/classroom_page.js";

/** @typedef {import("/static/classroom_room.js").Classroom} Classroom */

export class Controls {
  /** @param {Classroom} room */
  constructor(room) {
    this.room = room;
  }

  /** The toolbar's buttons, the unmute request's, the panel's and the sound button. */
  bind() {
    const room = this.room;
    $("#toggle-microphone").addEventListener("click", () => this.setMicrophone(!room.microphoneOn));
    $("#toggle-camera").addEventListener("click", () => this.setCamera(!room.cameraOn));
    $("#toggle-hand").addEventListener("click", () => this.toggleHand());
    $("#toggle-screen").addEventListener("click", () => this.toggleScreen());
    $("#unmute-accept").addEventListener("click", () => this.answerUnmute(true));
    $("#unmute-decline").addEventListener("click", () => this.answerUnmute(false));
    $("#toggle-panel").addEventListener("click", () => {
      const open = $("#toggle-panel").getAttribute("aria-expanded") !== "true";
      setPanel(open);
      room.store.save({ panel: open });
    });
    $("#enable-sound").addEventListener("click", () => {
      room.stage.resumeAudio();
      $("#enable-sound").hidden = true;
    });
  }

  /** @param {KeyboardEvent} event */
  onShortcut(event) {
    const room = this.room;
    if (room.phase !== "room" || event.ctrlKey || event.altKey || event.metaKey) return;
    const target = /** @type {HTMLElement} */ (event.target);
    if (target.closest("input, textarea, select, [contenteditable], dialog")) return;
    const actions = /** @type {Record<string, () => void>} */ ({
      m: () => room.can("publish_media") && this.setMicrophone(!room.microphoneOn),
      v: () => room.can("publish_media") && this.setCamera(!room.cameraOn),
      h: () => room.can("raise_hand") && this.toggleHand(),
    });
    const action = actions[event.key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    action();
  }

  /** Make the local tracks (and what media.js sends) match the toggles. */
  applyLocalTracks() {
    const room = this.room;
    for (const track of room.localStream.getAudioTracks()) track.enabled = room.microphoneOn;
    for (const track of room.localStream.getVideoTracks()) track.enabled = room.cameraOn;
    room.media?.setMicrophoneEnabled?.(room.microphoneOn);
    room.media?.setCameraEnabled?.(room.cameraOn);
    room.stage.setLocalCamera(room.you, room.cameraOn);
  }

  /**
   * @param {boolean} on
   * @param {boolean} [byTrainer] the trainer muted us: this is not our own choice to keep
   */
  setMicrophone(on, byTrainer = false) {
    const room = this.room;
    if (on && room.participants.get(room.you)?.audio_muted) {
      alert(t("room.muted_by_trainer_hint"));
      return;
    }
    room.microphoneOn = on;
    if (!byTrainer) {
      room.store.save({ choice: { ...room.store.view.choice, microphone: on } });
      announce(t(on ? "room.microphone_is_on" : "room.microphone_is_off"));
    }
    if (on) $("#unmute-request").hidden = true;
    this.applyLocalTracks();
    this.reportMicrophone();
    room.render();
  }

  /** @param {boolean} on */
  setCamera(on) {
    const room = this.room;
    room.cameraOn = on;
    room.store.save({ choice: { ...room.store.view.choice, camera: on } });
    announce(t(on ? "room.camera_is_on" : "room.camera_is_off"));
    this.applyLocalTracks();
    room.render();
  }

  /** Tell the room our microphone's real state (on only with a live track, switched on). */
  reportMicrophone() {
    const room = this.room;
    if (!room.can("publish_media") || room.phase !== "room") return;
    const live = room.localStream.getAudioTracks().some((track) => track.readyState === "live");
    // A refusal (say, while the trainer's mute arrives) is not shown as an error.
    room.sendQuietly("microphone", { on: room.microphoneOn && live });
  }

  /**
   * A trainer unmuted us while our microphone is off: an unattended room device turns it
   * on at once; a person is asked, and decides.
   * @param {boolean} direct
   */
  onUnmuteRequested(direct) {
    if (direct) {
      this.setMicrophone(true);
      return;
    }
    const request = $("#unmute-request");
    request.hidden = false;
    $("#unmute-accept").focus();
  }

  /** @param {boolean} accepted */
  answerUnmute(accepted) {
    $("#unmute-request").hidden = true;
    if (accepted) this.setMicrophone(true);
    else this.room.sendQuietly("decline_unmute");
    $("#toggle-microphone").focus();
  }

  /** @param {string} id */
  onUnmuteDeclined(id) {
    const participant = this.room.participants.get(id);
    if (participant) alert(t("room.unmute_declined", { name: participant.name }));
  }

  toggleHand() {
    const room = this.room;
    const raised = Boolean(room.participants.get(room.you)?.hand_raised);
    room.send("raise_hand", { raised: !raised, target: null });
  }

  mayShareScreen() {
    const room = this.room;
    return room.can("share_screen") || (room.can("request_screen_share") && room.screenShareAllowed);
  }

  async toggleScreen() {
    const room = this.room;
    if (room.screenStream) {
      this.stopScreen();
      return;
    }
    if (!this.mayShareScreen()) {
      alert(t("room.share_not_allowed"));
      return;
    }
    if (!room.media || !navigator.mediaDevices?.getDisplayMedia) {
      alert(t("room.share_unavailable"));
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      // NotAllowedError: the user closed the browser's picker (or said no); nothing to say.
      // NotFoundError: the browser has nothing to share here (Firefox without a screen
      // it can capture); NotReadableError: the system kept it from capturing.
      const name = String(/** @type {any} */ (error)?.name || "");
      if (name === "NotFoundError") alert(t("room.share_not_found"));
      else if (name === "NotReadableError") alert(t("room.share_not_readable"));
      else if (name !== "NotAllowedError" && name !== "AbortError") alert(t("room.share_failed"));
      return;
    }
    room.screenStream = stream;
    const [track] = stream.getVideoTracks();
    track.addEventListener("ended", () => this.stopScreen());
    room.stage.attach({ participant: room.you, source: "screen", kind: "video", track, stream });
    room.render();
    try {
      await room.media.shareScreen(stream);
    } catch {
      this.stopScreen();
      alert(t("room.share_failed"));
    }
  }

  stopScreen() {
    const room = this.room;
    const stream = room.screenStream;
    if (!stream) return;
    room.screenStream = null;
    for (const track of stream.getTracks()) track.stop();
    room.stage.detach({ participant: room.you, source: "screen" });
    room.media?.shareScreen(null);
    room.render();
  }

  /** The toolbar as the room now stands: what you may do, and what is on. */
  render() {
    const room = this.room;
    const mine = room.participants.get(room.you);
    const publish = room.can("publish_media");
    const microphone = $("#toggle-microphone");
    microphone.hidden = !publish;
    // Each toggle says what pressing it does now; aria-pressed says what is on.
    microphone.textContent = t(room.microphoneOn ? "room.mute" : "room.unmute");
    microphone.setAttribute("aria-pressed", String(!room.microphoneOn));
    microphone.classList.toggle("locked", Boolean(mine?.audio_muted));
    microphone.title = mine?.audio_muted ? t("room.muted_by_trainer") : "";
    const camera = $("#toggle-camera");
    camera.hidden = !publish;
    camera.textContent = t(room.cameraOn ? "room.camera_off" : "room.camera_on");
    camera.setAttribute("aria-pressed", String(!room.cameraOn));
    const hand = $("#toggle-hand");
    hand.hidden = !room.can("raise_hand");
    hand.textContent = t(mine?.hand_raised ? "room.lower_hand" : "room.raise_hand");
    hand.setAttribute("aria-pressed", String(Boolean(mine?.hand_raised)));
    const screen = $("#toggle-screen");
    screen.hidden = !room.media || !(room.can("share_screen") || room.can("request_screen_share"));
    screen.textContent = t(room.screenStream ? "room.stop_sharing" : "room.share_screen");
    screen.setAttribute("aria-pressed", String(Boolean(room.screenStream)));
    screen.setAttribute("aria-disabled", String(!this.mayShareScreen() && !room.screenStream));
    $("#chat-form").hidden = !room.can("chat");
  }
}
