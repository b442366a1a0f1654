// Video tiles and the layout: one tile large on the stage (a screen share, else the pinned
// participant, else the active speaker), the others in the gallery; audio plays apart.

import { t } from "/static/i18n.js";

/**
 * @typedef {{id: string, name: string, role: string, connected: boolean,
 *   hand_raised: boolean, audio_muted: boolean, self_muted?: boolean, screen_sharing: boolean}} Participant
 * @typedef {{participants: Map<string, Participant>, pinned: string|null,
 *   activeSpeaker: string|null, you: string}} LayoutState
 */

/**
 * @param {string} name
 * @returns {string} up to two initials
 */
function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((word) => [...word][0].toUpperCase()).join("") || "?";
}

/**
 * Whether a participant has a video tile: a companion phone publishes nothing (it is in
 * the people list, never an empty tile on the stage).
 * @param {Participant} participant
 */
function hasTile(participant) {
  return participant.role !== "companion";
}

/** Icons drawn here (no icon font, no emoji font needed on a kiosk), 24x24 units. */
const ICONS = {
  hand: "M7 11V5.5a1.5 1.5 0 0 1 3 0V10h.5V3.5a1.5 1.5 0 0 1 3 0V10h.5V4.5a1.5 1.5 0 0 1 3 0V11h.5V7.5a1.5 1.5 0 0 1 3 0V15a7 7 0 0 1-7 7h-1a7 7 0 0 1-6-3.4l-2.6-4.5a1.5 1.5 0 0 1 2.5-1.6L7 14z",
  muted: "M9 5a3 3 0 0 1 6 0v6a3 3 0 0 1-6 0zM5 11h2a5 5 0 0 0 10 0h2a7 7 0 0 1-6 6.9V21h-2v-3.1A7 7 0 0 1 5 11zM3 3.5 4.5 2 21 18.5 19.5 20z",
  away: "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-1 5h2v6h-2zm0 8h2v2h-2z",
};

/**
 * @param {keyof typeof ICONS} kind
 * @param {string} label what the icon says, for screen readers and as a tooltip
 * @returns {HTMLElement}
 */
function icon(kind, label) {
  const badge = document.createElement("span");
  badge.className = `badge badge-${kind}`;
  badge.title = label;
  badge.setAttribute("role", "img");
  badge.setAttribute("aria-label", label);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[kind]);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  badge.append(svg);
  return badge;
}

class Tile {
  /**
   * @param {string} participant
   * @param {string} source "camera" or "screen"
   * @param {boolean} self
   */
  constructor(participant, source, self) {
    this.participant = participant;
    this.source = source;
    this.element = document.createElement("figure");
    this.element.className = `tile tile-${source}${self ? " tile-self" : ""}`;
    this.element.dataset.participant = participant;
    this.element.dataset.source = source;
    this.video = document.createElement("video");
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true; // sound plays through the audio elements, which never move
    this.avatar = document.createElement("div");
    this.avatar.className = "avatar";
    this.avatar.setAttribute("aria-hidden", "true");
    this.caption = document.createElement("figcaption");
    this.name = document.createElement("span");
    this.name.className = "tile-name";
    this.badges = document.createElement("span");
    this.badges.className = "badges";
    this.caption.append(this.name, this.badges);
    this.element.append(this.video, this.avatar, this.caption);
    /** @type {MediaStream|null} */
    this.stream = null;
    this.video.addEventListener("resize", () => this.refresh());
  }

  /** @param {MediaStream|null} stream */
  show(stream) {
    this.stream = stream;
    this.video.srcObject = stream;
    this.refresh();
    this.play();
  }

  play() {
    if (this.video.srcObject) this.video.play().catch(() => {});
  }

  refresh() {
    const live = this.stream?.getVideoTracks().some((track) => track.readyState === "live");
    this.element.classList.toggle("has-video", Boolean(live) && !this.element.classList.contains("camera-off"));
  }

  /**
   * @param {Participant} participant
   * @param {boolean} featured
   */
  describe(participant, featured) {
    const label = this.source === "screen" ? t("stage.screen_of", { name: participant.name }) : participant.name;
    this.name.textContent = label;
    this.avatar.textContent = initials(participant.name);
    this.element.setAttribute("aria-label", label);
    this.element.classList.toggle("featured", featured);
    this.element.classList.toggle("away", !participant.connected);
    /** @type {[keyof typeof ICONS, string][]} */
    const badges = [];
    if (participant.hand_raised) badges.push(["hand", t("people.hand_raised")]);
    if (participant.audio_muted) badges.push(["muted", t("people.muted")]);
    else if (participant.self_muted) badges.push(["muted", t("people.microphone_off")]);
    if (!participant.connected) badges.push(["away", t("people.reconnecting")]);
    this.badges.replaceChildren(...badges.map(([kind, text]) => icon(kind, text)));
  }
}

export class Stage {
  /**
   * @param {HTMLElement} stage the large area
   * @param {HTMLElement} gallery the strip of other tiles
   * @param {HTMLElement} sinks a hidden container for <audio> elements
   */
  constructor(stage, gallery, sinks) {
    this.stageElement = stage;
    this.gallery = gallery;
    this.sinks = sinks;
    /** @type {Map<string, Tile>} key "participant:source" */
    this.tiles = new Map();
    /** @type {Map<string, HTMLAudioElement>} */
    this.audio = new Map();
    /** @type {string|null} the speaker last shown, kept while nobody else speaks */
    this.lastSpeaker = null;
    /** @type {string|null} */
    this.featuredKey = null;
    /** Called when the browser refuses to play sound before the user has interacted. */
    this.onAudioBlocked = () => {};
    /**
     * Someone shown in a window of their own (the sign-language interpreter this viewer
     * chose, pinned by the interpretation panel): no tile of theirs while it shows them.
     * @type {string|null}
     */
    this.apart = null;
  }

  /**
   * @param {string} participant
   * @param {string} source
   * @param {boolean} [self]
   * @returns {Tile}
   */
  tile(participant, source, self = false) {
    const key = `${participant}:${source}`;
    let tile = this.tiles.get(key);
    if (!tile) {
      tile = new Tile(participant, source, self);
      this.tiles.set(key, tile);
      this.gallery.append(tile.element);
    }
    return tile;
  }

  /**
   * Our own camera, shown mirrored and never heard.
   * @param {string} you
   * @param {MediaStream} stream
   */
  showLocal(you, stream) {
    this.tile(you, "camera", true).show(stream);
  }

  /**
   * @param {string} you
   * @param {boolean} on
   */
  setLocalCamera(you, on) {
    const tile = this.tile(you, "camera", true);
    tile.element.classList.toggle("camera-off", !on);
    tile.refresh();
  }

  /**
   * A remote track arrived (media.js "track" event).
   * @param {{participant: string, source: string, kind: string, track: MediaStreamTrack, stream: MediaStream}} detail
   */
  attach(detail) {
    const { participant, source, kind, track } = detail;
    if (source === "signing") return; // a signer's video: the interpretation panel's window
    if (kind === "video") {
      const tile = this.tile(participant, source === "screen" ? "screen" : "camera");
      tile.show(new MediaStream([track]));
      track.addEventListener("ended", () => tile.refresh());
      track.addEventListener("unmute", () => tile.refresh());
      return;
    }
    if (source !== "microphone" && source !== "screen") return; // other audio is a feature's own
    // A new element for a new track, so that whoever watches the page's audio elements
    // (the interpretation mixer) sees each track arrive.
    const key = `${participant}:${source}`;
    this.audio.get(key)?.remove();
    const element = document.createElement("audio");
    element.autoplay = true;
    element.dataset.participant = participant;
    element.dataset.source = source;
    element.srcObject = new MediaStream([track]);
    this.audio.set(key, element);
    this.sinks.append(element);
    element.play().catch(() => this.onAudioBlocked());
  }

  /** Play every sound again, after the user has interacted with the page. */
  resumeAudio() {
    for (const element of this.audio.values()) element.play().catch(() => {});
  }

  /**
   * A remote track ended (media.js "trackended" event).
   * @param {{participant: string, source: string}} detail
   */
  detach({ participant, source }) {
    if (source === "signing") return; // never a tile's (see attach)
    const key = `${participant}:${source}`;
    const element = this.audio.get(key);
    if (element) {
      element.srcObject = null;
      element.remove();
      this.audio.delete(key);
    }
    const tileKey = `${participant}:${source === "screen" ? "screen" : "camera"}`;
    const tile = this.tiles.get(tileKey);
    if (!tile || source === "microphone") return;
    if (tileKey.endsWith(":screen")) {
      tile.element.remove();
      this.tiles.delete(tileKey);
    } else {
      tile.show(null);
    }
  }

  /**
   * Forget everything of a participant who has left.
   * @param {string} participant
   */
  drop(participant) {
    for (const [key, tile] of this.tiles) {
      if (tile.participant === participant) {
        tile.element.remove();
        this.tiles.delete(key);
      }
    }
    for (const [key, element] of this.audio) {
      if (element.dataset.participant === participant) {
        element.srcObject = null;
        element.remove();
        this.audio.delete(key);
      }
    }
  }

  /**
   * Which tile is large: a screen share, else the pinned participant, else the active
   * speaker (kept until someone else speaks), else a trainer, else anyone but us.
   * @param {LayoutState} state
   * @returns {string|null}
   */
  choose(state) {
    const present = (/** @type {string|null} */ id) => id !== null && state.participants.has(id);
    // Someone shown apart has no camera tile: never the one large (their screen still is).
    const shown = (/** @type {string|null} */ id) => present(id) && id !== this.apart;
    for (const participant of state.participants.values()) {
      if (participant.screen_sharing && this.tiles.has(`${participant.id}:screen`)) {
        return `${participant.id}:screen`;
      }
    }
    for (const [key, tile] of this.tiles) {
      if (tile.source === "screen" && present(tile.participant)) return key;
    }
    if (shown(state.pinned)) return `${state.pinned}:camera`;
    if (shown(state.activeSpeaker) && state.activeSpeaker !== state.you) {
      this.lastSpeaker = state.activeSpeaker;
    }
    if (shown(this.lastSpeaker)) return `${this.lastSpeaker}:camera`;
    const others = [...state.participants.values()].filter(
      (p) => p.id !== state.you && p.id !== this.apart && hasTile(p),
    );
    const host = others.find((p) => p.role === "trainer") || others[0];
    if (host) return `${host.id}:camera`;
    return present(state.you) ? `${state.you}:camera` : null;
  }

  /**
   * Bring the tiles in line with the room: names and badges, who is large, gallery order.
   * @param {LayoutState} state
   */
  layout(state) {
    for (const participant of state.participants.values()) {
      if (hasTile(participant)) this.tile(participant.id, "camera", participant.id === state.you);
    }
    for (const [key, tile] of this.tiles) {
      const participant = state.participants.get(tile.participant);
      if (!participant || !hasTile(participant)) {
        tile.element.remove();
        this.tiles.delete(key);
      }
    }
    const featured = this.choose(state);
    this.featuredKey = featured;
    for (const [key, tile] of this.tiles) {
      const participant = state.participants.get(tile.participant);
      if (participant) tile.describe(participant, key === featured);
      tile.element.classList.toggle("speaking", tile.participant === state.activeSpeaker);
    }
    const featuredTile = featured ? this.tiles.get(featured) : undefined;
    if (featuredTile && featuredTile.element.parentElement !== this.stageElement) {
      this.stageElement.replaceChildren(featuredTile.element);
      featuredTile.play();
    } else if (!featuredTile) {
      this.stageElement.replaceChildren();
    }
    // Gallery order: the room's order, our own tile last; move only what is out of place
    // (moving a playing <video> is harmless, but needless moves make screen readers chatty).
    for (const [key, tile] of this.tiles) {
      if (this.isApart(tile) && key !== featured) tile.element.remove();
    }
    const order = [...this.tiles.entries()]
      .filter(([key, tile]) => key !== featured && !this.isApart(tile))
      .sort(([, a], [, b]) => Number(a.participant === state.you) - Number(b.participant === state.you))
      .map(([, tile]) => tile.element);
    order.forEach((element, index) => {
      if (this.gallery.children[index] !== element) {
        this.gallery.insertBefore(element, this.gallery.children[index] || null);
        element.querySelector("video")?.play().catch(() => {});
      }
    });
    this.gallery.classList.toggle("empty", order.length === 0);
    // How crowded the gallery is: a big screen puts more tiles side by side (classroom.css).
    this.gallery.dataset.size = order.length > 8 ? "crowd" : order.length > 3 ? "many" : "few";
  }

  /**
   * Whether a tile is left out because its participant is shown apart (their camera's
   * tile; a screen they share stays).
   * @param {Tile} tile
   */
  isApart(tile) {
    return tile.participant === this.apart && tile.source === "camera";
  }
}
