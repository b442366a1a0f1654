// The classroom page: pre-join, then the room (stage, people, chat, moderation, lobby),
// kept in step with the server through protocol.js and with media through media.js.

import { Chat } from "/static/chat.js";
import { formatTime, loadLanguage, t } from "/static/i18n.js";
import { joinToken } from "/static/join.js";
import { MediaSession } from "/static/media.js";
import { showMediaState } from "/static/media_health.js";
import { People } from "/static/people.js";
import { PreJoin, openDevices } from "/static/prejoin.js";
import { ClassroomConnection, tabId } from "/static/protocol.js";
import { Stage } from "/static/stage.js";

/**
 * @typedef {import("/static/stage.js").Participant} Participant
 * @typedef {import("/static/prejoin.js").DeviceChoice} DeviceChoice
 * @typedef {import("/static/chat.js").ChatMessage} ChatMessage
 * @typedef {{sub: string, name: string, room: string, role: string, lang: string|null,
 *   permissions: string[]}} Me
 * @typedef {{joined: boolean, choice: DeviceChoice, panel: boolean|null, chat: ChatMessage[],
 *   takeOver?: boolean}} View
 */

const root = /** @type {HTMLElement} */ (document.getElementById("classroom"));
/** @param {string} selector */
const $ = (selector) => /** @type {HTMLElement} */ (root.querySelector(selector));

/** Close codes after which the server will not take us back (see docs/protocol.md). */
const CLOSE_LEFT = 1000;
const CLOSE_REPLACED = 4001;
const CLOSE_REMOVED = 4003;

/**
 * Fetch a module only when it is deployed: features (polls, interpretation) land apart.
 * @param {string} url
 * @returns {Promise<any|null>}
 */
async function importIfPresent(url) {
  const probe = await fetch(url, { method: "HEAD" }).catch(() => null);
  if (!probe?.ok) return null;
  return import(url);
}

/**
 * What this tab remembers across a reload: that it had joined, its devices, the chat.
 */
class ViewStore {
  /** @param {string} key */
  constructor(key) {
    this.key = key;
    /** @type {View} */
    this.view = { joined: false, choice: {}, panel: null, chat: [] };
    try {
      Object.assign(this.view, JSON.parse(sessionStorage.getItem(key) || "{}"));
    } catch {
      // a damaged entry is simply forgotten
    }
  }

  /** @param {Partial<View>} change */
  save(change) {
    Object.assign(this.view, change);
    try {
      sessionStorage.setItem(this.key, JSON.stringify(this.view));
    } catch {
      // storage full or disabled: the view is not kept across a reload, nothing more
    }
  }
}

class Classroom {
  /**
   * @param {string} token
   * @param {Me} me
   */
  constructor(token, me) {
    this.token = token;
    this.me = me;
    this.you = me.sub;
    this.permissions = new Set(me.permissions);
    this.bigScreen = root.dataset.autojoin === "true";
    this.store = new ViewStore(`classroom.view.${me.room}.${me.sub}`);
    /** @type {"loading"|"prejoin"|"connecting"|"elsewhere"|"lobby"|"room"|"ended"} */
    this.phase = "loading";
    /** @type {Map<string, Participant>} */
    this.participants = new Map();
    /** @type {Map<string, Participant>} */
    this.lobby = new Map();
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
    this.people = new People($("#people"), $("#lobby"), {
      you: this.you,
      moderator: this.can("moderate"),
      send: (type, fields) => this.send(type, fields),
      confirm: (text) => this.confirm(text),
    });
    this.chat = new Chat($("#chat"), {
      you: this.you,
      send: (text) => this.send("chat", { text }),
      saved: this.store.view.chat,
      onChange: (messages) => this.store.save({ chat: messages }),
    });
    this.bindControls();
  }

  /** @param {string} action an Action of classroom/permissions.py, as /api/me lists them */
  can(action) {
    return this.permissions.has(action);
  }

  /** @param {string} phase */
  setPhase(phase) {
    this.phase = /** @type {any} */ (phase);
    root.dataset.phase = phase;
    $("#prejoin").hidden = phase !== "prejoin";
    $("#waiting").hidden = phase !== "lobby";
    $("#elsewhere").hidden = phase !== "elsewhere";
    $("#ended").hidden = phase !== "ended";
    $("#room").hidden = !["room", "connecting"].includes(phase);
  }

  /** Pre-join, or straight in for a room device and for a reload of a joined tab. */
  async start() {
    const { view } = this.store;
    if (this.bigScreen || view.joined) {
      const { stream } = this.can("publish_media")
        ? await openDevices({ ...view.choice, camera: true, microphone: true })
        : { stream: new MediaStream() };
      this.enter(stream, view.choice);
      return;
    }
    this.setPhase("prejoin");
    const form = /** @type {HTMLFormElement} */ ($("#prejoin-form"));
    if (!this.can("publish_media")) {
      for (const field of root.querySelectorAll("[data-media]")) /** @type {HTMLElement} */ (field).hidden = true;
      $(".preview-frame").hidden = true;
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.enter(new MediaStream(), {});
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
        this.enter(stream, choice);
      },
      { once: true },
    );
    $("#join-button").focus();
    await prejoin.start();
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
    this.applyLocalTracks();
    if (this.can("publish_media")) this.stage.showLocal(this.you, stream);
    const panelOpen = this.store.view.panel ?? !this.bigScreen;
    this.setPanel(panelOpen);
    this.setPhase("connecting");
    const connection = new ClassroomConnection(this.token, { page: "classroom", client: tabId() });
    this.connection = connection;
    /** @type {Record<string, (message: any) => void>} */
    const handlers = {
      welcome: (m) => this.onWelcome(m),
      in_class_elsewhere: () => this.onElsewhere(),
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
      unmute_requested: (m) => this.onUnmuteRequested(m.direct),
      unmute_declined: (m) => this.onUnmuteDeclined(m.id),
      removed: (m) => m.id === this.you && this.end("removed"),
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
      this.setConnectionState("room.reconnecting");
      this.checkToken();
    });
    connection.addEventListener("open", () => this.setConnectionState(null));
    connection.addEventListener("close", (event) => this.onClose(/** @type {CustomEvent} */ (event).detail.code));
    connection.connect();
  }

  /** While reconnecting: a token that has expired (or been revoked) will never get back in. */
  async checkToken() {
    const response = await fetch("/api/me", { headers: { Authorization: `Bearer ${this.token}` } }).catch(
      () => null,
    );
    if (response?.status !== 401 || this.phase === "ended") return;
    const body = await response.json().catch(() => ({}));
    this.end("refused", body?.error?.message);
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

  /**
   * The person is in the class on another page (a second tab): offer to join here, and
   * until then hold no camera or microphone. After "Join here again" it takes over at once.
   */
  onElsewhere() {
    if (this.store.view.takeOver) {
      this.store.save({ takeOver: false });
      this.send("join_here");
      return;
    }
    for (const track of this.localStream.getTracks()) track.stop();
    this.setPhase("elsewhere");
    $("#join-here").focus();
  }

  /** "Join here instead": this page takes the class over from the other one. */
  async joinHere() {
    /** @type {HTMLButtonElement} */ ($("#join-here")).disabled = true;
    if (this.can("publish_media")) {
      const { stream } = await openDevices({ ...this.store.view.choice, camera: true, microphone: true });
      this.localStream = stream;
      this.applyLocalTracks();
      this.stage.showLocal(this.you, stream);
    }
    this.setPhase("connecting");
    this.send("join_here");
    /** @type {HTMLButtonElement} */ ($("#join-here")).disabled = false;
  }

  /** @param {any} message */
  onWelcome(message) {
    if (this.store.view.takeOver) this.store.save({ takeOver: false });
    const room = message.room;
    this.participants = new Map(room.participants.map((/** @type {Participant} */ p) => [p.id, p]));
    this.lobby = new Map(room.lobby.map((/** @type {Participant} */ p) => [p.id, p]));
    /** @type {Map<string, string>} removed or refused, by id: trainers only */
    this.banned = new Map((room.banned || []).map((/** @type {{id: string, name: string}} */ b) => [b.id, b.name]));
    this.locked = room.locked;
    this.pinned = room.pinned;
    this.screenShareAllowed = room.screen_share_allowed;
    this.session = room.session;
    const mine = this.participants.get(this.you);
    if (mine?.audio_muted && this.microphoneOn) this.setMicrophone(false);
    if (this.lobby.has(this.you) && !mine) {
      this.setPhase("lobby");
      $("#waiting .leave-button").focus();
    } else {
      this.goLive();
      this.reportMicrophone();
    }
    this.render();
  }

  goLive() {
    const first = this.phase !== "room";
    this.setPhase("room");
    if (first) {
      this.announce(t("room.joined", { room: this.me.room }));
      this.startMedia();
      this.mountFeatures();
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
      if (!known) this.announce(t("room.someone_joined", { name: participant.name }));
      else if (rejoined && !known.connected) this.announce(t("room.someone_back", { name: participant.name }));
    }
    this.render();
  }

  /**
   * @param {string} id
   * @param {string} reason
   */
  onLeft(id, reason) {
    if (id === this.you) {
      if (reason === "denied") this.end("denied");
      else if (reason === "removed") this.end("removed");
      return;
    }
    const participant = this.participants.get(id) || this.lobby.get(id);
    this.participants.delete(id);
    this.lobby.delete(id);
    this.stage.drop(id);
    if (this.pinned === id) this.pinned = null;
    if (participant && this.phase === "room") {
      this.announce(t(`room.someone_left_${reason}`, { name: participant.name }));
    }
    this.render();
  }

  /** @param {Participant} participant */
  onLobbyEntered(participant) {
    if (participant.id === this.you) {
      this.setPhase("lobby");
      return;
    }
    this.lobby.set(participant.id, participant);
    this.announce(t("lobby.someone_waiting", { name: participant.name }));
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
    this.announce(t(locked ? "room.locked" : "room.unlocked"));
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
    if (id === this.you) this.announce(t(raised ? "room.your_hand_raised" : "room.your_hand_lowered"));
    else if (raised) this.announce(t("room.someone_raised_hand", { name: participant.name }));
  }

  /**
   * @param {string} id
   * @param {boolean} muted
   */
  onMute(id, muted) {
    this.update(id, { audio_muted: muted });
    if (id !== this.you) return;
    if (muted) {
      this.setMicrophone(false, true);
      this.announce(t("room.muted_by_trainer"));
    } else {
      this.announce(t("room.unmuted_by_trainer"));
    }
    this.render();
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
    else this.sendQuietly("decline_unmute");
    $("#toggle-microphone").focus();
  }

  /** @param {string} id */
  onUnmuteDeclined(id) {
    const participant = this.participants.get(id);
    if (participant) this.alert(t("room.unmute_declined", { name: participant.name }));
  }

  /** Tell the room our microphone's real state (on only with a live track, switched on). */
  reportMicrophone() {
    if (!this.can("publish_media") || this.phase !== "room") return;
    const live = this.localStream.getAudioTracks().some((track) => track.readyState === "live");
    // A refusal (say, while the trainer's mute arrives) is not shown as an error.
    this.sendQuietly("microphone", { on: this.microphoneOn && live });
  }

  /** @param {string|null} id */
  onPin(id) {
    this.pinned = id;
    const participant = id ? this.participants.get(id) : null;
    this.announce(participant ? t("room.pinned", { name: participant.name }) : t("room.unpinned"));
    this.render();
  }

  /** @param {boolean} allowed */
  onSharePermission(allowed) {
    this.screenShareAllowed = allowed;
    if (!allowed && this.screenStream && !this.can("share_screen")) this.stopScreen();
    this.announce(t(allowed ? "room.share_allowed" : "room.share_disallowed"));
    this.render();
  }

  /**
   * @param {string} id
   * @param {boolean} sharing
   */
  onShare(id, sharing) {
    this.update(id, { screen_sharing: sharing });
    if (id === this.you && !sharing && this.screenStream) this.stopScreen();
    const participant = this.participants.get(id);
    if (sharing && participant && id !== this.you) {
      this.announce(t("room.someone_sharing", { name: participant.name }));
    }
  }

  /** @param {ChatMessage} message */
  onChat(message) {
    this.chat.add(message);
    if ($("#panel").hidden && message.sender !== this.you) this.toast(message);
  }

  /**
   * With the side panel closed (a room device's big screen), chat shows over the video
   * for a while, and is announced from there.
   * @param {ChatMessage} message
   */
  toast(message) {
    const item = document.createElement("p");
    item.className = "chat-toast";
    const who = document.createElement("strong");
    who.textContent = message.name;
    const text = document.createElement("span");
    text.dir = "auto";
    text.textContent = message.text;
    item.append(who, ": ", text);
    const toasts = $("#chat-toasts");
    toasts.append(item);
    while (toasts.children.length > 3) toasts.firstElementChild?.remove();
    setTimeout(() => item.remove(), 15000);
  }

  /** @param {any} session */
  onSession(session) {
    this.session = session;
    this.announce(t(session.state === "live" ? "session.started" : "session.ended"));
    this.render();
  }

  /** @param {{code: string, message: string, ref?: string}} error */
  onError(error) {
    if (error.code === "replaced") return; // the close that follows says it
    // An error with a ref answers a request (protocol.js), which reports its own failures;
    // one that still reaches the page answers a request that stopped waiting.
    if (error.ref) return;
    // Refused at the door: removed or refused before (until a trainer lets them), or full.
    if (this.phase === "connecting" && error.code === "forbidden") return this.end("banned");
    if (this.phase === "connecting" && error.code === "invalid_state") return this.end("full");
    const known = t(`error.${error.code}`);
    this.alert(known === `error.${error.code}` ? error.message : `${known} (${error.message})`);
  }

  /** @param {number} code */
  onClose(code) {
    if (this.phase === "ended") return;
    if (code === CLOSE_REMOVED) this.end(this.phase === "lobby" ? "denied" : "removed");
    else if (code === CLOSE_REPLACED) this.end("replaced");
    else if (code === CLOSE_LEFT || this.leaving) this.end("left");
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

  // --- media ----------------------------------------------------------------

  async startMedia() {
    if (this.media || !this.connection || !this.can("subscribe_media")) return;
    // ICE servers come from the server (media_config); none of our own to add.
    const media = new MediaSession(this.connection, { iceServers: [] });
    // Created after our welcome (a lobby's welcome comes before we may receive media),
    // so tell the session who we are; it learns it again from every later welcome.
    media.you ||= this.you;
    this.media = media;
    showMediaState(media, $("#media-state"));
    media.addEventListener("track", (/** @type {any} */ event) => {
      this.stage.attach(event.detail);
      this.render();
    });
    media.addEventListener("trackended", (/** @type {any} */ event) => {
      this.stage.detach(event.detail);
      this.render();
    });
    media.addEventListener("activespeaker", (/** @type {any} */ event) => {
      this.activeSpeaker = event.detail.id;
      this.render();
    });
    this.interpretation?.setMedia?.(media);
    if (this.can("publish_media") && this.localStream.getTracks().length) {
      await media.publish(this.localStream);
    }
    this.applyLocalTracks();
    this.render();
  }

  /**
   * The training modules a trainer may start a session of, grouped by topic, with the
   * room's last module chosen (GET /api/modules).
   */
  async loadModules() {
    const response = await fetch("/api/modules", { headers: { Authorization: `Bearer ${this.token}` } }).catch(
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

  /** Mount the polls and interpretation panels of the features that are deployed. */
  async mountFeatures() {
    if (this.featuresMounted) return;
    this.featuresMounted = true;
    if (this.can("moderate")) this.loadModules();
    const you = { ...this.me, id: this.you };
    const polls = await importIfPresent("/static/polls.js");
    if (polls?.mountPolls) {
      $("#polls").hidden = false;
      polls.mountPolls($("#polls"), this.connection, you);
    }
    const recording = await importIfPresent("/static/recording.js");
    recording?.mountRecording?.($("#recording"), this.connection, you);
    const interpretation = await importIfPresent("/static/interpretation.js");
    if (interpretation?.mountInterpretation) {
      $("#interpretation").hidden = false;
      this.interpretation = interpretation.mountInterpretation(
        $("#interpretation"),
        this.connection,
        this.media,
        you,
      );
    }
  }

  /** Make the local tracks (and what media.js sends) match the toggles. */
  applyLocalTracks() {
    for (const track of this.localStream.getAudioTracks()) track.enabled = this.microphoneOn;
    for (const track of this.localStream.getVideoTracks()) track.enabled = this.cameraOn;
    this.media?.setMicrophoneEnabled?.(this.microphoneOn);
    this.media?.setCameraEnabled?.(this.cameraOn);
    this.stage.setLocalCamera(this.you, this.cameraOn);
  }

  /**
   * @param {boolean} on
   * @param {boolean} [byTrainer] the trainer muted us: this is not our own choice to keep
   */
  setMicrophone(on, byTrainer = false) {
    if (on && this.participants.get(this.you)?.audio_muted) {
      this.alert(t("room.muted_by_trainer_hint"));
      return;
    }
    this.microphoneOn = on;
    if (!byTrainer) {
      this.store.save({ choice: { ...this.store.view.choice, microphone: on } });
      this.announce(t(on ? "room.microphone_is_on" : "room.microphone_is_off"));
    }
    if (on) $("#unmute-request").hidden = true;
    this.applyLocalTracks();
    this.reportMicrophone();
    this.render();
  }

  /** @param {boolean} on */
  setCamera(on) {
    this.cameraOn = on;
    this.store.save({ choice: { ...this.store.view.choice, camera: on } });
    this.announce(t(on ? "room.camera_is_on" : "room.camera_is_off"));
    this.applyLocalTracks();
    this.render();
  }

  toggleHand() {
    const raised = Boolean(this.participants.get(this.you)?.hand_raised);
    this.send("raise_hand", { raised: !raised, target: null });
  }

  mayShareScreen() {
    return this.can("share_screen") || (this.can("request_screen_share") && this.screenShareAllowed);
  }

  async toggleScreen() {
    if (this.screenStream) {
      this.stopScreen();
      return;
    }
    if (!this.mayShareScreen()) {
      this.alert(t("room.share_not_allowed"));
      return;
    }
    if (!this.media || !navigator.mediaDevices?.getDisplayMedia) {
      this.alert(t("room.share_unavailable"));
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
      if (name === "NotFoundError") this.alert(t("room.share_not_found"));
      else if (name === "NotReadableError") this.alert(t("room.share_not_readable"));
      else if (name !== "NotAllowedError" && name !== "AbortError") this.alert(t("room.share_failed"));
      return;
    }
    this.screenStream = stream;
    const [track] = stream.getVideoTracks();
    track.addEventListener("ended", () => this.stopScreen());
    this.stage.attach({ participant: this.you, source: "screen", kind: "video", track, stream });
    this.render();
    try {
      await this.media.shareScreen(stream);
    } catch {
      this.stopScreen();
      this.alert(t("room.share_failed"));
    }
  }

  stopScreen() {
    const stream = this.screenStream;
    if (!stream) return;
    this.screenStream = null;
    for (const track of stream.getTracks()) track.stop();
    this.stage.detach({ participant: this.you, source: "screen" });
    this.media?.shareScreen(null);
    this.render();
  }

  // --- leaving ----------------------------------------------------------------

  leave() {
    this.leaving = true;
    this.send("leave");
    this.connection?.close();
    this.end("left");
  }

  /**
   * @param {"left"|"removed"|"denied"|"replaced"|"refused"|"banned"|"full"} why
   * @param {string} [detail] the server's reason, shown as it is
   */
  end(why, detail) {
    if (this.phase === "ended") return;
    this.setPhase("ended");
    this.connection?.close();
    this.setConnectionState(null);
    this.media?.close();
    this.media = null;
    for (const track of this.localStream.getTracks()) track.stop();
    if (this.screenStream) for (const track of this.screenStream.getTracks()) track.stop();
    this.store.save({ joined: false });
    $("#ended-heading").textContent = t(`ended.${why}.title`);
    $("#ended-text").textContent = detail || t(`ended.${why}.text`);
    $("#join-again").hidden = !["left", "replaced"].includes(why);
    $("#join-again").textContent = t(why === "replaced" ? "ended.join_here_again" : "ended.join_again");
    this.endedBy = why;
    $("#ended-heading").setAttribute("tabindex", "-1");
    $("#ended-heading").focus();
  }

  // --- the page -----------------------------------------------------------------

  bindControls() {
    $("#toggle-microphone").addEventListener("click", () => this.setMicrophone(!this.microphoneOn));
    $("#toggle-camera").addEventListener("click", () => this.setCamera(!this.cameraOn));
    $("#toggle-hand").addEventListener("click", () => this.toggleHand());
    $("#toggle-screen").addEventListener("click", () => this.toggleScreen());
    for (const button of root.querySelectorAll(".leave-button")) {
      button.addEventListener("click", () => this.leave());
    }
    // The join page needs the token in its address (join.js takes it out again at once).
    $("#join-again").addEventListener("click", () => {
      // Joined elsewhere: coming back here takes the class over from that other page.
      if (this.endedBy === "replaced") this.store.save({ takeOver: true });
      location.assign(`/join?token=${encodeURIComponent(this.token)}`);
    });
    $("#join-here").addEventListener("click", () => this.joinHere());
    $("#unmute-accept").addEventListener("click", () => this.answerUnmute(true));
    $("#unmute-decline").addEventListener("click", () => this.answerUnmute(false));
    $("#toggle-panel").addEventListener("click", () => {
      const open = $("#toggle-panel").getAttribute("aria-expanded") !== "true";
      this.setPanel(open);
      this.store.save({ panel: open });
    });
    $("#enable-sound").addEventListener("click", () => {
      this.stage.resumeAudio();
      $("#enable-sound").hidden = true;
    });
    $("#mute-all").addEventListener("click", () => this.send("mute", { target: null, muted: true }));
    $("#lock-room").addEventListener("click", () => this.send("lock", { value: !this.locked }));
    $("#allow-share").addEventListener("click", () =>
      this.send("allow_screen_share", { value: !this.screenShareAllowed }),
    );
    $("#unpin").addEventListener("click", () => this.send("pin", { target: null }));
    $("#session-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const title = /** @type {HTMLInputElement} */ ($("#session-title")).value.trim();
      const module = /** @type {HTMLSelectElement} */ ($("#session-module")).value;
      this.send("start_session", { title: title || null, module: module || null });
    });
    $("#end-session").addEventListener("click", async () => {
      if (await this.confirm(t("session.end_confirm"))) this.send("end_session");
    });
    document.addEventListener("keydown", (event) => this.onShortcut(event));
  }

  /** @param {KeyboardEvent} event */
  onShortcut(event) {
    if (this.phase !== "room" || event.ctrlKey || event.altKey || event.metaKey) return;
    const target = /** @type {HTMLElement} */ (event.target);
    if (target.closest("input, textarea, select, [contenteditable], dialog")) return;
    const actions = /** @type {Record<string, () => void>} */ ({
      m: () => this.can("publish_media") && this.setMicrophone(!this.microphoneOn),
      v: () => this.can("publish_media") && this.setCamera(!this.cameraOn),
      h: () => this.can("raise_hand") && this.toggleHand(),
    });
    const action = actions[event.key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    action();
  }

  /** @param {boolean} open */
  setPanel(open) {
    $("#panel").hidden = !open;
    $("#toggle-panel").setAttribute("aria-expanded", String(open));
    root.classList.toggle("panel-closed", !open);
  }

  /** @param {string|null} key */
  setConnectionState(key) {
    const element = $("#connection-state");
    element.textContent = key ? t(key) : "";
    element.hidden = !key;
    root.classList.toggle("offline", Boolean(key));
  }

  /** @param {string} text announced to screen readers (join/leave, hands, moderation) */
  announce(text) {
    const announcer = $("#announcer");
    announcer.textContent = "";
    // A fresh text node in a later frame is announced even when the text repeats.
    requestAnimationFrame(() => (announcer.textContent = text));
  }

  /** @param {string} text shown and announced at once */
  alert(text) {
    const item = document.createElement("p");
    item.textContent = text;
    $("#alerts").append(item);
    setTimeout(() => item.remove(), 8000);
  }

  /**
   * @param {string} text
   * @returns {Promise<boolean>}
   */
  confirm(text) {
    const dialog = /** @type {HTMLDialogElement} */ ($("#confirm"));
    $("#confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) =>
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }),
    );
  }

  render() {
    this.people.render(this.participants, this.pinned);
    this.people.renderLobby(this.lobby);
    this.people.renderBanned(this.banned || new Map());
    this.stage.layout({
      participants: this.participants,
      pinned: this.pinned,
      activeSpeaker: this.activeSpeaker,
      you: this.you,
    });
    const mine = this.participants.get(this.you);
    const publish = this.can("publish_media");
    const microphone = $("#toggle-microphone");
    microphone.hidden = !publish;
    microphone.setAttribute("aria-pressed", String(!this.microphoneOn));
    microphone.classList.toggle("locked", Boolean(mine?.audio_muted));
    microphone.title = mine?.audio_muted ? t("room.muted_by_trainer") : "";
    const camera = $("#toggle-camera");
    camera.hidden = !publish;
    camera.setAttribute("aria-pressed", String(!this.cameraOn));
    const hand = $("#toggle-hand");
    hand.hidden = !this.can("raise_hand");
    hand.setAttribute("aria-pressed", String(Boolean(mine?.hand_raised)));
    const screen = $("#toggle-screen");
    screen.hidden = !this.media || !(this.can("share_screen") || this.can("request_screen_share"));
    screen.setAttribute("aria-pressed", String(Boolean(this.screenStream)));
    screen.setAttribute("aria-disabled", String(!this.mayShareScreen() && !this.screenStream));
    $("#chat-form").hidden = !this.can("chat");
    this.renderModeration();
    this.renderSession();
  }

  renderModeration() {
    const moderator = this.can("moderate");
    $("#moderation").hidden = !moderator;
    if (!moderator) return;
    $("#lock-room").setAttribute("aria-pressed", String(this.locked));
    $("#allow-share").setAttribute("aria-pressed", String(this.screenShareAllowed));
    $("#unpin").hidden = !this.pinned;
    const live = this.session?.state === "live";
    $("#session-form").hidden = live;
    $("#end-session").hidden = !live;
  }

  renderSession() {
    const element = $("#session-state");
    const session = this.session;
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

/**
 * @param {string} titleKey
 * @param {string} text
 */
function refuse(titleKey, text) {
  for (const screen of root.querySelectorAll("section")) /** @type {HTMLElement} */ (screen).hidden = true;
  $("#ended").hidden = false;
  $("#ended-heading").textContent = t(titleKey);
  $("#ended-text").textContent = text;
  root.dataset.phase = "ended";
}

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
    refuse("ended.refused.title", body?.error?.message || t("ended.refused.text"));
    return;
  }
  $("#page-status").textContent = "";
  const classroom = new Classroom(token, await response.json());
  // For the console and for tests: the page's state and its MediaSession.
  Object.defineProperty(window, "classroom", { value: classroom });
  await classroom.start();
}

main();
