// Interpretation in the classroom page: the channel picker and floor level for listeners,
// which channels are live and who is on air for everyone, the floor language for the
// trainer, and the console of interpreters (air, handover, relay, booth talk and chat).
// The server says who is on air; the browser mixes (mixer.js). See docs/protocol.md.

import { formatTime, t } from "/static/i18n.js";
import { Mixer, dbToGain } from "/static/mixer.js";

/**
 * @typedef {{id: string, name: string, connected: boolean, relay: string}} BoothMember
 * @typedef {{lang: string, rtl: boolean, live: boolean, on_air: string|null,
 *   on_air_name: string|null, on_air_since: number|null, booth: BoothMember[],
 *   handover: {giver: string, taker: string|null}|null}} Channel
 * @typedef {{id: string, name: string, role: string, lang: string|null}} You
 * @typedef {{participant: string, source: string, kind: string, track: MediaStreamTrack,
 *   stream: MediaStream}} TrackDetail
 */

const ORIGINAL = "original";
const FLOOR = "floor";
const FLOOR_SOURCES = new Set(["microphone", "screen"]);
const MIXED_SOURCES = new Set(["microphone", "screen", "interpretation", "booth"]);
const RTL = new Set(["ar", "fa", "ps"]);

/** @param {string} code */
function languageName(code) {
  return t(`language.${code}`);
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [props]
 * @param {(Node|string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, props = {}, children = []) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("aria-") || key === "role" || key === "for") {
      element.setAttribute(key, String(value));
    } else /** @type {any} */ (element)[key] = value;
  }
  element.append(...children);
  return element;
}

/** A language name marked with its own language and direction (Arabic, Pashto, Farsi: RTL). */
function languageLabel(code) {
  return h("span", { lang: code === "cnr" ? "sr-ME" : code, dir: RTL.has(code) ? "rtl" : "ltr" }, [
    languageName(code),
  ]);
}

export class InterpretationPanel {
  /**
   * @param {HTMLElement} root
   * @param {import("/static/protocol.js").ClassroomConnection} connection
   * @param {any} media a MediaSession (media.js), or null until media starts
   * @param {You} you
   */
  constructor(root, connection, media, you) {
    this.root = root;
    this.connection = connection;
    this.you = you;
    this.mixer = new Mixer();
    /** @type {Map<string, Channel>} */
    this.channels = new Map();
    /** @type {{code: string, rtl: boolean}[]} */
    this.languages = [];
    this.floorLanguage = /** @type {string|null} */ (null);
    this.listening = { channel: ORIGINAL, floor_db: -14 };
    this.booth = /** @type {string|null} */ (null);
    this.boothTalk = false;
    this.taking = false;
    /** @type {{interpretation: MediaStreamTrack, booth: MediaStreamTrack}|null} */
    this.voice = null;
    this.media = null;
    this.build();
    /** @type {[string, (event: any) => void][]} */
    this.handlers = [
      ["interpretation_state", (e) => this.onState(e.detail)],
      ["channel_changed", (e) => this.onChannel(e.detail.channel)],
      ["channel_closed", (e) => this.onClosed(e.detail.channel)],
      ["on_air_changed", (e) => this.onAir(e.detail)],
      ["handover_offered", (e) => this.onOffered(e.detail)],
      ["handover_cancelled", () => this.render()],
      ["floor_language_changed", (e) => this.onFloorLanguage(e.detail.lang)],
      ["listening_changed", (e) => this.onListening(e.detail)],
      ["booth_message_posted", (e) => this.onBoothMessage(e.detail)],
    ];
    for (const [type, handler] of this.handlers) connection.addEventListener(type, handler);
    this.observer = new MutationObserver((records) => this.muteStageAudio(records));
    this.observer.observe(document.body, { childList: true, subtree: true });
    this.muteStageAudio([]);
    if (media) this.setMedia(media);
    connection.send("get_interpretation"); // the state sent at join may have come before us
  }

  // --- media ------------------------------------------------------------------

  /**
   * Start mixing (and, for an interpreter, publishing) once the media session exists.
   * @param {any} media
   */
  setMedia(media) {
    if (this.media === media || !media) return;
    this.media = media;
    media.addEventListener("track", (/** @type {CustomEvent<TrackDetail>} */ event) => {
      const { participant, source, kind, track } = event.detail;
      if (kind === "audio" && MIXED_SOURCES.has(source)) {
        this.mixer.add({ participant, source, track });
      }
    });
    media.addEventListener("trackended", (/** @type {CustomEvent<TrackDetail>} */ event) => {
      this.mixer.remove(event.detail.participant, event.detail.source);
    });
    if (this.booth) this.publishVoice();
  }

  /**
   * The page's own audio elements play the floor at full level: mute them and mix
   * their tracks here instead (they keep playing, which Chromium needs for Web Audio).
   * @param {MutationRecord[]} records
   */
  muteStageAudio(records) {
    const found = records.length
      ? records.flatMap((r) => [...r.addedNodes]).flatMap((node) =>
          node instanceof HTMLAudioElement
            ? [node]
            : node instanceof Element
              ? [...node.querySelectorAll("audio")]
              : [],
        )
      : [...document.querySelectorAll("audio")];
    for (const element of found) {
      const { participant, source } = element.dataset;
      if (!participant || !source || !FLOOR_SOURCES.has(source)) continue;
      element.muted = true;
      const stream = element.srcObject;
      const track = stream instanceof MediaStream ? stream.getAudioTracks()[0] : null;
      if (track) this.mixer.add({ participant, source, track });
    }
  }

  /** An interpreter's voice: one track into the channel, one to the booth partner. */
  async publishVoice() {
    if (this.voice || !this.media?.publishExtra) return;
    // Interpreters wear headsets: echo cancellation stays, but no noise suppression or
    // automatic gain, which pump and clip a voice that never pauses for long.
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false },
    });
    const [microphone] = stream.getAudioTracks();
    this.voice = { interpretation: microphone, booth: microphone.clone() };
    this.updateVoice();
    await this.media.publishExtra(this.voice.interpretation, "interpretation");
    await this.media.publishExtra(this.voice.booth, "booth");
  }

  /**
   * Speak into the channel while on air, and already while a handover is offered to us:
   * the server then forwards our voice to the listeners, who keep it at zero gain until
   * the switch, so it is flowing when they turn it up (no gap). Never while talking to
   * the booth partner.
   */
  updateVoice() {
    if (!this.voice) return;
    const channel = this.booth ? this.channels.get(this.booth) : null;
    const me = this.you.id;
    const onAir = channel?.on_air === me;
    const offer = channel?.handover;
    const offered = !!offer && offer.giver !== me && (offer.taker === null || offer.taker === me);
    if (onAir || !offer) this.taking = false;
    this.voice.interpretation.enabled = (onAir || offered || this.taking) && !this.boothTalk;
    this.voice.booth.enabled = this.boothTalk;
  }

  /** What this participant hears besides the floor: a channel, or null for the floor alone. */
  hearing() {
    if (this.booth) {
      const relay = this.channels.get(this.booth)?.booth.find((m) => m.id === this.you.id)?.relay;
      return relay && relay !== FLOOR ? relay : null;
    }
    return this.listening.channel === ORIGINAL ? null : this.listening.channel;
  }

  /**
   * The gain of one source: the chosen channel's interpreter at full level, the floor
   * lowered under it, or at full level when the floor speaks the channel's language.
   * @param {string} participant
   * @param {string} source
   */
  level(participant, source) {
    if (source === "booth") return 1;
    const hearing = this.hearing();
    const channel = hearing ? this.channels.get(hearing) : null;
    const onAir = channel?.on_air ?? null;
    if (source === "interpretation") return onAir !== null && participant === onAir ? 1 : 0;
    if (onAir === null || this.floorLanguage === hearing) return 1;
    return dbToGain(this.listening.floor_db);
  }

  mix() {
    this.mixer.apply((participant, source) => this.level(participant, source));
  }

  // --- messages ---------------------------------------------------------------

  /** @param {any} state */
  onState(state) {
    this.channels = new Map(state.channels.map((/** @type {Channel} */ c) => [c.lang, c]));
    this.languages = state.languages;
    this.floorLanguage = state.floor_language;
    this.listening = state.listening;
    this.booth = state.booth;
    if (this.booth && this.media) this.publishVoice();
    this.render();
  }

  /** @param {Channel} channel */
  onChannel(channel) {
    this.channels.set(channel.lang, channel);
    this.render();
  }

  /** @param {string} lang */
  onClosed(lang) {
    this.channels.delete(lang);
    this.render();
  }

  /** @param {{channel: string, id: string|null, name: string|null}} change */
  onAir(change) {
    const channel = this.channels.get(change.channel);
    if (channel) {
      // Switch the gains now, in this task: the next voice is already flowing.
      Object.assign(channel, { on_air: change.id, on_air_name: change.name, live: !!change.id });
      channel.handover = null;
    }
    const language = languageName(change.channel);
    this.announce(
      change.id
        ? t("interpretation.on_air_now", { language, name: change.name ?? "" })
        : t("interpretation.off_air_now", { language }),
    );
    this.render();
  }

  /** @param {{channel: string, by: string, taker: string|null}} offer */
  onOffered(offer) {
    const channel = this.channels.get(offer.channel);
    if (channel && offer.by !== this.you.id) {
      const name = channel.booth.find((m) => m.id === offer.by)?.name ?? "";
      this.announce(t("interpretation.handover_offered", { name }));
    }
    this.render();
  }

  /** @param {string|null} lang */
  onFloorLanguage(lang) {
    this.floorLanguage = lang;
    this.render();
  }

  /** @param {{channel: string, floor_db: number}} listening */
  onListening(listening) {
    this.listening = listening;
    this.render();
  }

  /** @param {{sender: string, name: string, text: string, at: number}} message */
  onBoothMessage(message) {
    const item = h("li", {}, [
      h("span", { className: "meta" }, [`${formatTime(message.at)} ${message.name}: `]),
      h("span", { dir: "auto" }, [message.text]),
    ]);
    this.boothLog.append(item);
    this.boothLog.scrollTop = this.boothLog.scrollHeight;
  }

  /** @param {string} text */
  announce(text) {
    this.status.textContent = text;
  }

  // --- the panel --------------------------------------------------------------

  build() {
    this.root.classList.add("interpretation");
    this.root.replaceChildren();
    const heading = h("h2", { id: "interpretation-heading" }, [t("interpretation.title")]);
    this.status = h("p", { className: "sr-only", role: "status", "aria-live": "polite" });
    this.onAirList = h("ul", { className: "on-air", "aria-label": t("interpretation.channels") });

    this.picker = h("fieldset", { className: "channel-picker" }, [
      h("legend", {}, [t("interpretation.listen")]),
    ]);
    this.picker.addEventListener("change", (event) => {
      const input = /** @type {HTMLInputElement} */ (event.target);
      if (input.name === "interpretation-channel") {
        this.mixer.resume();
        this.connection.send("select_channel", { channel: input.value });
      }
    });

    this.floorSlider = h("input", {
      type: "range",
      id: "interpretation-floor-level",
      min: "-60",
      max: "0",
      step: "1",
    });
    this.floorValue = h("output", { htmlFor: "interpretation-floor-level" });
    this.floorSlider.addEventListener("input", () => {
      this.floorValue.textContent = t("interpretation.floor_level_value", {
        db: this.floorSlider.value,
      });
    });
    this.floorSlider.addEventListener("change", () => {
      this.connection.send("set_floor_level", { floor_db: Number(this.floorSlider.value) });
    });
    const floorLevel = h("p", { className: "floor-level" }, [
      h("label", { for: "interpretation-floor-level" }, [t("interpretation.floor_level")]),
      " ",
      this.floorSlider,
      " ",
      this.floorValue,
    ]);

    this.floorInfo = h("p", { className: "floor-language" });
    this.trainerTools = h("div", { className: "trainer-tools" });
    this.console = this.buildConsole();
    this.root.append(
      heading,
      this.status,
      this.onAirList,
      this.picker,
      floorLevel,
      this.floorInfo,
      this.trainerTools,
      this.console,
    );
    this.root.setAttribute("aria-labelledby", "interpretation-heading");
  }

  buildConsole() {
    const box = h("section", {
      className: "interpreter-console",
      hidden: true,
      "aria-labelledby": "interpreter-console-heading",
    });
    this.consoleHeading = h("h3", { id: "interpreter-console-heading" }, [
      t("interpretation.console"),
    ]);
    this.consoleStatus = h("p", { className: "console-status" });
    this.airButtons = h("div", { className: "air-buttons" });
    this.relaySelect = h("select", { id: "interpretation-relay" });
    this.relaySelect.addEventListener("change", () => {
      this.connection.send("set_relay", { source: this.relaySelect.value });
    });
    this.talkButton = h("button", { type: "button", "aria-pressed": "false" }, [
      t("interpretation.booth_talk"),
    ]);
    this.talkButton.addEventListener("click", () => {
      this.boothTalk = !this.boothTalk;
      this.talkButton.setAttribute("aria-pressed", String(this.boothTalk));
      this.updateVoice();
    });
    this.boothLog = h("ol", {
      className: "booth-log",
      "aria-live": "polite",
      "aria-label": t("interpretation.booth"),
    });
    const input = h("input", {
      id: "interpretation-booth-text",
      type: "text",
      maxLength: 1000,
      autocomplete: "off",
      dir: "auto",
    });
    const form = h("form", { className: "booth-form" }, [
      h("label", { for: "interpretation-booth-text" }, [t("interpretation.booth_message")]),
      " ",
      input,
      " ",
      h("button", { type: "submit" }, [t("interpretation.send")]),
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      this.connection.send("booth_message", { text });
      input.value = "";
    });
    box.append(
      this.consoleHeading,
      this.consoleStatus,
      this.airButtons,
      h("p", {}, [
        h("label", { for: "interpretation-relay" }, [t("interpretation.relay")]),
        " ",
        this.relaySelect,
      ]),
      h("p", {}, [this.talkButton]),
      this.boothLog,
      form,
    );
    return box;
  }

  render() {
    this.renderOnAir();
    this.renderPicker();
    this.renderFloor();
    this.renderTrainerTools();
    this.renderConsole();
    this.updateVoice();
    this.mix();
  }

  renderOnAir() {
    const items = [...this.channels.values()].map((channel) =>
      h("li", { className: channel.live ? "live" : "silent", dataset: { channel: channel.lang } }, [
        languageLabel(channel.lang),
        ": ",
        channel.live
          ? t("interpretation.on_air_name", { name: channel.on_air_name ?? "" })
          : t("interpretation.nobody_on_air"),
      ]),
    );
    this.onAirList.replaceChildren(...items);
  }

  renderPicker() {
    this.picker.hidden = this.booth !== null;
    const focused = document.activeElement;
    const refocus = focused instanceof HTMLInputElement && this.picker.contains(focused);
    const options = [{ value: ORIGINAL, live: true, label: [t("interpretation.original")] }];
    for (const channel of this.channels.values()) {
      options.push({ value: channel.lang, live: channel.live, label: [languageLabel(channel.lang)] });
    }
    const rows = options.map(({ value, live, label }) => {
      const id = `interpretation-channel-${value}`;
      const checked = this.listening.channel === value;
      const input = h("input", {
        type: "radio",
        name: "interpretation-channel",
        id,
        value,
        checked,
        // Only live channels can be picked; a chosen one that goes silent stays shown.
        disabled: !live && !checked,
      });
      const suffix = live || value === ORIGINAL ? [] : [" ", t("interpretation.not_live")];
      return h("div", { className: "channel-option" }, [
        input,
        h("label", { for: id }, [...label, ...suffix]),
      ]);
    });
    const legend = /** @type {HTMLElement} */ (this.picker.querySelector("legend"));
    this.picker.replaceChildren(legend, ...rows);
    if (refocus) {
      const again = this.picker.querySelector(`input[value="${focused.value}"]`);
      if (again instanceof HTMLInputElement) again.focus();
    }
  }

  renderFloor() {
    if (document.activeElement !== this.floorSlider) {
      this.floorSlider.value = String(this.listening.floor_db);
    }
    this.floorValue.textContent = t("interpretation.floor_level_value", {
      db: this.floorSlider.value,
    });
    this.floorInfo.textContent = this.floorLanguage
      ? t("interpretation.floor_language_is", { language: languageName(this.floorLanguage) })
      : "";
  }

  renderTrainerTools() {
    const trainer = this.you.role === "trainer";
    this.trainerTools.hidden = !trainer;
    if (!trainer) return;
    const focusedId = document.activeElement?.id;
    const floorSelect = h("select", { id: "interpretation-floor-language" }, [
      h("option", { value: "" }, [t("interpretation.floor_language_none")]),
      ...this.languages.map(({ code }) =>
        h("option", { value: code, selected: code === this.floorLanguage }, [languageName(code)]),
      ),
    ]);
    floorSelect.addEventListener("change", () => {
      this.connection.send("set_floor_language", { lang: floorSelect.value || null });
    });
    const closed = this.languages.filter(({ code }) => !this.channels.has(code));
    const openSelect = h(
      "select",
      { id: "interpretation-open-language" },
      closed.map(({ code }) => h("option", { value: code }, [languageName(code)])),
    );
    const openButton = h("button", { type: "button", id: "interpretation-open" }, [
      t("interpretation.open_channel"),
    ]);
    openButton.disabled = closed.length === 0;
    openButton.addEventListener("click", () => {
      if (openSelect.value) this.connection.send("open_channel", { lang: openSelect.value });
    });
    const closeButtons = [...this.channels.values()]
      .filter((channel) => channel.booth.length === 0)
      .map((channel) => {
        const button = h("button", { type: "button", id: `interpretation-close-${channel.lang}` }, [
          t("interpretation.close_channel", { language: languageName(channel.lang) }),
        ]);
        button.addEventListener("click", () =>
          this.connection.send("close_channel", { lang: channel.lang }),
        );
        return button;
      });
    this.trainerTools.replaceChildren(
      h("p", {}, [
        h("label", { for: "interpretation-floor-language" }, [t("interpretation.floor_language")]),
        " ",
        floorSelect,
      ]),
      h("p", {}, [
        h("label", { for: "interpretation-open-language" }, [t("interpretation.new_channel")]),
        " ",
        openSelect,
        " ",
        openButton,
        ...closeButtons.flatMap((button) => [" ", button]),
      ]),
    );
    if (focusedId) document.getElementById(focusedId)?.focus();
  }

  renderConsole() {
    const channel = this.booth ? this.channels.get(this.booth) : undefined;
    this.console.hidden = !channel;
    if (!channel) return;
    const me = this.you.id;
    const partners = channel.booth.filter((m) => m.id !== me);
    const onAir = channel.on_air === me;
    const offer = channel.handover;
    const offeredToMe = !!offer && offer.giver !== me && (offer.taker === null || offer.taker === me);
    const language = languageName(channel.lang);
    const lines = [t("interpretation.your_channel", { language })];
    if (onAir) lines.push(t("interpretation.you_on_air"));
    else if (channel.on_air_name) lines.push(t("interpretation.on_air_name", { name: channel.on_air_name }));
    else lines.push(t("interpretation.nobody_on_air"));
    for (const partner of partners) {
      const away = partner.connected ? "" : ` ${t("interpretation.disconnected")}`;
      lines.push(t("interpretation.partner", { name: partner.name }) + away);
    }
    if (offeredToMe) {
      const giver = channel.booth.find((m) => m.id === offer.giver)?.name ?? "";
      lines.push(t("interpretation.handover_offered", { name: giver }));
    } else if (offer && offer.giver === me) {
      lines.push(t("interpretation.handover_waiting"));
    }
    this.consoleStatus.replaceChildren(...lines.flatMap((line, i) => (i ? [h("br"), line] : [line])));
    this.consoleStatus.classList.toggle("on-air-self", onAir);

    const focusedId = document.activeElement?.id;
    /** @type {HTMLElement[]} */
    const buttons = [];
    /**
     * @param {string} id
     * @param {string} label
     * @param {() => void} action
     */
    const button = (id, label, action) => {
      const element = h("button", { type: "button", id }, [label]);
      element.addEventListener("click", () => {
        this.mixer.resume();
        action();
      });
      buttons.push(element);
    };
    if (onAir && offer === null) {
      const connected = partners.filter((m) => m.connected);
      const target = h("select", { id: "interpretation-handover-to" }, [
        h("option", { value: "" }, [t("interpretation.anyone")]),
        ...connected.map((m) => h("option", { value: m.id }, [m.name])),
      ]);
      buttons.push(
        h("label", { for: "interpretation-handover-to" }, [t("interpretation.offer_to")]),
        target,
      );
      button("interpretation-offer", t("interpretation.offer_handover"), () =>
        this.connection.send("offer_handover", { to: target.value || null }),
      );
      if (connected.length === 0) buttons[buttons.length - 1].setAttribute("disabled", "");
    }
    if (onAir && offer) {
      button("interpretation-cancel", t("interpretation.cancel_handover"), () =>
        this.connection.send("cancel_handover"),
      );
    }
    if (!onAir && (channel.on_air === null || offeredToMe)) {
      const label = offeredToMe ? t("interpretation.take_handover") : t("interpretation.take_air");
      button("interpretation-take", label, () => {
        this.taking = true; // our voice flows before the switch, so there is no gap
        this.updateVoice();
        this.connection.send("take_air", { channel: channel.lang });
      });
    }
    if (onAir) {
      button("interpretation-leave", t("interpretation.leave_air"), () =>
        this.connection.send("leave_air"),
      );
    }
    this.airButtons.replaceChildren(...buttons.flatMap((b) => [b, " "]));

    const relay = channel.booth.find((m) => m.id === me)?.relay ?? FLOOR;
    const sources = [FLOOR, ...[...this.channels.keys()].filter((lang) => lang !== channel.lang)];
    this.relaySelect.replaceChildren(
      ...sources.map((value) =>
        h("option", { value, selected: value === relay }, [
          value === FLOOR ? t("interpretation.relay_floor") : languageName(value),
        ]),
      ),
    );
    if (focusedId) document.getElementById(focusedId)?.focus();
  }

  /** Stop listening, mixing and publishing. */
  close() {
    for (const [type, handler] of this.handlers) this.connection.removeEventListener(type, handler);
    this.observer.disconnect();
    this.media?.unpublish?.("interpretation");
    this.media?.unpublish?.("booth");
    for (const track of Object.values(this.voice ?? {})) track.stop();
    this.mixer.close();
  }
}

/**
 * Mount the interpretation panel in `element` (the page's `<section id="interpretation">`).
 * @param {HTMLElement} element
 * @param {import("/static/protocol.js").ClassroomConnection} connection
 * @param {any} media the MediaSession, or null: pass it later with `panel.setMedia(media)`
 * @param {You} you
 * @returns {InterpretationPanel}
 */
export function mountInterpretation(element, connection, media, you) {
  if (!document.querySelector('link[href="/static/interpretation.css"]')) {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/interpretation.css" }));
  }
  const panel = new InterpretationPanel(element, connection, media, you);
  /** @type {any} */ (element).interpretation = panel;
  return panel;
}
