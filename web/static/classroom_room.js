// The classroom's room: its state (participants, lobby, lock, pin, screen sharing, the
// session), kept in step with the server's messages through protocol.js, and the stage,
// people and chat drawn from it. It composes the toolbar (classroom_controls.js),
// moderation (classroom_moderation.js) and the phases (classroom_phases.js), and starts
// media and the feature panels once you are in (classroom_media.js).

import { Chat } from "/static/chat.js";
import { t } from "/static/i18n.js";
import { People } from "/static/people.js";
import { ClassroomConnection, tabId } from "/static/protocol.js";
import { Stage } from "/static/stage.js";
import { Controls } from "/static/classroom_controls.js";
import { mountFeatures, startMedia } from "/static/classroom_media.js";
import { Moderation } from "/static/classroom_moderation.js";
import {
  $,
  ViewStore,
  alert,
  announce,
  confirm,
  setConnectionState,
  setPanel,
  toast,
} from "/static/classroom_page.js";
import { Phases } from "/static/classroom_phases.js";
import { RoomScreen } from "/static/classroom_screen.js";

/**
 * @typedef {import("/static/stage.js").Participant} Participant
 * @typedef {import("/static/prejoin.js").DeviceChoice} DeviceChoice
 * @typedef {import("/static/chat.js").ChatMessage} ChatMessage
 * @typedef {{sub: string, name: string, room: string, role: string, lang: string|null,
 *   permissions: string[]}} Me
 */

export class Classroom {
  /**
   * @param {string} token
   * @param {Me} me
   * @param {boolean} bigScreen a room device's page, which joins by itself
   */
  constructor(token, me, bigScreen) {
    this.token = token;
    this.me = me;
    this.you = me.sub;
    this.permissions = new Set(me.permissions);
    this.bigScreen = bigScreen;
    this.store = new ViewStore(`classroom.view.${me.room}.${me.sub}`);
    /** @type {import("/static/classroom_phases.js").Phase} */
    this.phase = "loading";
    /** @type {Map<string, Participant>} */
    this.participants = new Map();
    /** @type {Map<string, Participant>} */
    this.lobby = new Map();
    /** @type {Map<string, string>} removed or refused, by id: trainers only */
    this.banned = new Map();
    this.locked = false;
    /** @type {string|null} */
    this.pinned = null;
    this.screenShareAllowed = false;
    /** @type {any} */
    this.session = null;
    /** @type {string|null} */
    this.activeSpeaker = null;
    this.localStream = new MediaStream();
    /** @type {MediaStream|null} */
    this.screenStream = null;
    this.microphoneOn = true;
    this.cameraOn = true;
    this.leaving = false;
    /** @type {string|null} why the page ended, once it has */
    this.endedBy = null;
    /** @type {ClassroomConnection|null} */
    this.connection = null;
    /** @type {any} the MediaSession of media.js, once loaded */
    this.media = null;
    this.featuresMounted = false;
    /** @type {any} the interpretation panel, told about media once it starts */
    this.interpretation = null;
    this.stage = new Stage($("#stage"), $("#gallery"), $("#sinks"));
    this.stage.onAudioBlocked = () => ($("#enable-sound").hidden = false);
    // The sign-language interpreter this viewer chose is pinned in a window of their own
    // (interpretation.js): no tile of theirs in the gallery beside it.
    document.addEventListener("signlanguagewindow", (event) => {
      this.stage.apart = /** @type {CustomEvent<{participant: string|null}>} */ (event).detail.participant;
      this.render();
    });
    this.people = new People($("#people"), $("#lobby"), {
      you: this.you,
      moderator: this.can("moderate"),
      send: (type, fields) => this.send(type, fields),
      confirm: (text) => confirm(text),
    });
    this.chat = new Chat($("#chat"), {
      you: this.you,
      send: (text) => this.send("chat", { text }),
      saved: this.store.view.chat,
      onChange: (messages) => this.store.save({ chat: messages }),
    });
    this.controls = new Controls(this);
    this.moderation = new Moderation(this);
    this.phases = new Phases(this);
    /** @type {RoomScreen|null} a room device's big screen: phones' code, questions, its own state */
    this.screen = bigScreen ? new RoomScreen(this) : null;
    this.controls.bind();
    this.phases.bind();
    this.moderation.bind();
    document.addEventListener("keydown", (event) => this.controls.onShortcut(event));
  }

  /** @param {string} action an Action of classroom/permissions.py, as /api/me lists them */
  can(action) {
    return this.permissions.has(action);
  }

  /** Pre-join, or straight in (classroom_phases.js). */
  start() {
    return this.phases.start();
  }

  /**
   * Join the room with this local stream.
   * @param {MediaStream} stream
   * @param {DeviceChoice} choice
   */
  enter(stream, choice) {
    this.localStream = stream;
    this.microphoneOn = choice.microphone !== false;
    this.cameraOn = choice.camera !== false;
    this.store.save({ joined: true, choice });
    this.controls.applyLocalTracks();
    if (this.can("publish_media")) this.stage.showLocal(this.you, stream);
    const panelOpen = this.store.view.panel ?? !this.bigScreen;
    setPanel(panelOpen);
    this.phases.set("connecting");
    const connection = new ClassroomConnection(this.token, { page: "classroom", client: tabId() });
    this.connection = connection;
    const controls = this.controls;
    /** @type {Record<string, (message: any) => void>} */
    const handlers = {
      welcome: (m) => this.onWelcome(m),
      in_class_elsewhere: () => this.phases.onElsewhere(),
      participant_joined: (m) => this.onJoined(m.participant, m.rejoined),
      participant_disconnected: (m) => this.update(m.id, { connected: false }),
      participant_left: (m) => this.onLeft(m.id, m.reason),
      // Arrivals and departures of a crowd, in one message (docs/protocol.md).
      participants_changed: (m) => {
        for (const event of m.events) handlers[event.type]?.(event);
      },
      lobby_entered: (m) => this.onLobbyEntered(m.participant),
      admitted: (m) => this.onAdmitted(m.id),
      room_locked: (m) => this.onLocked(m.locked),
      hand_changed: (m) => this.onHand(m.id, m.raised),
      mute_changed: (m) => this.onMute(m.id, m.muted),
      microphone_changed: (m) => this.update(m.id, { self_muted: m.self_muted }),
      unmute_requested: (m) => controls.onUnmuteRequested(m.direct),
      unmute_declined: (m) => controls.onUnmuteDeclined(m.id),
      removed: (m) => m.id === this.you && this.phases.end("removed"),
      ban_changed: (m) => {
        if (m.banned) this.banned.set(m.id, m.name);
        else this.banned.delete(m.id);
        this.render();
      },
      pin_changed: (m) => this.onPin(m.id),
      screen_share_permission_changed: (m) => this.onSharePermission(m.allowed),
      screen_share_changed: (m) => this.onShare(m.id, m.sharing),
      chat_posted: (m) => this.onChat(m),
      session_changed: (m) => this.onSession(m.session),
      error: (m) => this.onError(m),
    };
    for (const [type, handler] of Object.entries(handlers)) {
      connection.addEventListener(type, (event) => handler(/** @type {CustomEvent} */ (event).detail));
    }
    connection.addEventListener("reconnecting", () => {
      setConnectionState("room.reconnecting");
      this.phases.checkToken();
    });
    connection.addEventListener("open", () => setConnectionState(null));
    connection.addEventListener("close", (event) =>
      this.phases.onClose(/** @type {CustomEvent} */ (event).detail.code),
    );
    connection.connect();
  }

  /**
   * @param {string} type
   * @param {object} [fields]
   */
  send(type, fields = {}) {
    this.connection?.send(type, fields);
  }

  /**
   * Send a message whose refusal is not shown as an error (protocol.js gives the error
   * that echoes its ref to this request, not to the page's error handler).
   * @param {string} type
   * @param {object} [fields]
   */
  sendQuietly(type, fields = {}) {
    this.connection?.command(type, fields).catch(() => {});
  }

  // --- server messages ----------------------------------------------------

  /** @param {any} message */
  onWelcome(message) {
    if (this.store.view.takeOver) this.store.save({ takeOver: false });
    const room = message.room;
    this.participants = new Map(room.participants.map((/** @type {Participant} */ p) => [p.id, p]));
    this.lobby = new Map(room.lobby.map((/** @type {Participant} */ p) => [p.id, p]));
    this.banned = new Map((room.banned || []).map((/** @type {{id: string, name: string}} */ b) => [b.id, b.name]));
    this.locked = room.locked;
    this.pinned = room.pinned;
    this.screenShareAllowed = room.screen_share_allowed;
    this.session = room.session;
    const mine = this.participants.get(this.you);
    if (mine?.audio_muted && this.microphoneOn) this.controls.setMicrophone(false);
    if (this.lobby.has(this.you) && !mine) {
      this.phases.set("lobby");
      $("#waiting .leave-button").focus();
    } else {
      this.goLive();
      this.controls.reportMicrophone();
    }
    this.render();
  }

  goLive() {
    const first = this.phase !== "room";
    this.phases.set("room");
    if (first) {
      announce(t("room.joined", { room: this.me.room }));
      startMedia(this);
      mountFeatures(this);
      this.screen?.start();
    }
  }

  /**
   * @param {Participant} participant
   * @param {boolean} rejoined
   */
  onJoined(participant, rejoined) {
    const known = this.participants.get(participant.id);
    this.participants.set(participant.id, participant);
    this.lobby.delete(participant.id);
    if (participant.id !== this.you && this.phase === "room") {
      if (!known) announce(t("room.someone_joined", { name: participant.name }));
      else if (rejoined && !known.connected) announce(t("room.someone_back", { name: participant.name }));
    }
    this.render();
  }

  /**
   * @param {string} id
   * @param {string} reason
   */
  onLeft(id, reason) {
    if (id === this.you) {
      if (reason === "denied") this.phases.end("denied");
      else if (reason === "removed") this.phases.end("removed");
      return;
    }
    const participant = this.participants.get(id) || this.lobby.get(id);
    this.participants.delete(id);
    this.lobby.delete(id);
    this.stage.drop(id);
    if (this.pinned === id) this.pinned = null;
    if (participant && this.phase === "room") {
      announce(t(`room.someone_left_${reason}`, { name: participant.name }));
    }
    this.render();
  }

  /** @param {Participant} participant */
  onLobbyEntered(participant) {
    if (participant.id === this.you) {
      this.phases.set("lobby");
      return;
    }
    this.lobby.set(participant.id, participant);
    announce(t("lobby.someone_waiting", { name: participant.name }));
    this.render();
  }

  /** @param {string} id */
  onAdmitted(id) {
    this.lobby.delete(id);
    if (id === this.you) this.goLive();
    this.render();
  }

  /** @param {boolean} locked */
  onLocked(locked) {
    this.locked = locked;
    announce(t(locked ? "room.locked" : "room.unlocked"));
    this.render();
  }

  /**
   * @param {string} id
   * @param {boolean} raised
   */
  onHand(id, raised) {
    const participant = this.participants.get(id);
    this.update(id, { hand_raised: raised });
    if (!participant) return;
    if (id === this.you) announce(t(raised ? "room.your_hand_raised" : "room.your_hand_lowered"));
    else if (raised) announce(t("room.someone_raised_hand", { name: participant.name }));
  }

  /**
   * @param {string} id
   * @param {boolean} muted
   */
  onMute(id, muted) {
    this.update(id, { audio_muted: muted });
    if (id !== this.you) return;
    if (muted) {
      this.controls.setMicrophone(false, true);
      announce(t("room.muted_by_trainer"));
    } else {
      announce(t("room.unmuted_by_trainer"));
    }
    this.render();
  }

  /** @param {string|null} id */
  onPin(id) {
    this.pinned = id;
    const participant = id ? this.participants.get(id) : null;
    announce(participant ? t("room.pinned", { name: participant.name }) : t("room.unpinned"));
    this.render();
  }

  /** @param {boolean} allowed */
  onSharePermission(allowed) {
    this.screenShareAllowed = allowed;
    if (!allowed && this.screenStream && !this.can("share_screen")) this.controls.stopScreen();
    announce(t(allowed ? "room.share_allowed" : "room.share_disallowed"));
    this.render();
  }

  /**
   * @param {string} id
   * @param {boolean} sharing
   */
  onShare(id, sharing) {
    this.update(id, { screen_sharing: sharing });
    if (id === this.you && !sharing && this.screenStream) this.controls.stopScreen();
    const participant = this.participants.get(id);
    if (sharing && participant && id !== this.you) {
      announce(t("room.someone_sharing", { name: participant.name }));
    }
  }

  /** @param {ChatMessage} message */
  onChat(message) {
    this.chat.add(message);
    if ($("#panel").hidden && message.sender !== this.you) toast(message);
  }

  /** @param {any} session */
  onSession(session) {
    this.session = session;
    announce(t(session.state === "live" ? "session.started" : "session.ended"));
    this.render();
  }

  /** @param {{code: string, message: string, ref?: string}} error */
  onError(error) {
    if (error.code === "replaced") return; // the close that follows says it
    // An error with a ref answers a request (protocol.js), which reports its own failures;
    // one that still reaches the page answers a request that stopped waiting.
    if (error.ref) return;
    // Refused at the door: removed or refused before (until a trainer lets them), or full.
    if (this.phase === "connecting" && error.code === "forbidden") return this.phases.end("banned");
    if (this.phase === "connecting" && error.code === "invalid_state") return this.phases.end("full");
    const known = t(`error.${error.code}`);
    alert(known === `error.${error.code}` ? error.message : `${known} (${error.message})`);
  }

  /**
   * @param {string} id
   * @param {Partial<Participant>} change
   */
  update(id, change) {
    const participant = this.participants.get(id);
    if (participant) Object.assign(participant, change);
    this.render();
  }

  render() {
    this.people.render(this.participants, this.pinned);
    this.people.renderLobby(this.lobby);
    this.people.renderBanned(this.banned);
    this.stage.layout({
      participants: this.participants,
      pinned: this.pinned,
      activeSpeaker: this.activeSpeaker,
      you: this.you,
    });
    this.controls.render();
    this.moderation.render();
    this.screen?.render();
  }
}
