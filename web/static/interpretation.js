// Interpretation in the classroom page: the channel picker and floor level for listeners,
// which channels are live and who is on air for everyone, the floor language for the
// trainer, and the console of interpreters (air, handover, relay, booth talk and chat).
// The server says who is on air; the browser mixes (listener_mix.js, mixer.js); the
// interpreter's console is interpreter_console.js. See docs/protocol.md.

import { Booth } from "/static/booth.js";
import { t } from "/static/i18n.js";
import { InterpreterConsole } from "/static/interpreter_console.js";
import { h, languageLabel, languageName } from "/static/interpretation_dom.js";
import { ORIGINAL, level, mixTracks, muteStageAudio } from "/static/listener_mix.js";
import { Mixer } from "/static/mixer.js";

/**
 * @typedef {{id: string, name: string, connected: boolean, relay: string, output?: string,
 *   microphone?: boolean}} BoothMember
 * @typedef {{lang: string, rtl: boolean, live: boolean, on_air: string|null,
 *   on_air_name: string|null, on_air_since: number|null, booth: BoothMember[],
 *   handover: {giver: string, taker: string|null}|null, listeners?: number,
 *   signed?: boolean}} Channel
 * @typedef {{id: string, name: string, role: string, lang: string|null}} You
 * @typedef {{participant: string, source: string, kind: string, track: MediaStreamTrack,
 *   stream: MediaStream}} TrackDetail
 */

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
    this.media = null;
    /** The video tracks received (the booth shows the speaker, the screen, the room). */
    this.videos = /** @type {Map<string, {participant: string, source: string,
     *   track: MediaStreamTrack}>} */ (new Map());
    /** An interpreter's booth, full screen (booth.js), once they are in one. */
    this.boothView = /** @type {Booth|null} */ (null);
    /** Signals from the booths, for the trainer: shown at once, over everything. */
    this.signals = h("ul", { className: "booth-signal-alerts", role: "alert" });
    /** The sign-language interpreter of the channel chosen, pinned beside the speaker. */
    this.signVideo = h("video", { autoplay: true, playsInline: true, muted: true });
    this.signCaption = h("figcaption", {});
    this.signWindow = h("figure", { className: "sign-language", hidden: true }, [
      this.signVideo,
      this.signCaption,
    ]);
    /** @type {string|null} who the sign-language window shows (see showApart) */
    this.apart = null;
    // The panel's elements (build() wires and places them).
    this.status = h("p", { className: "sr-only", role: "status", "aria-live": "polite" });
    this.onAirList = h("ul", { className: "on-air", "aria-label": t("interpretation.channels") });
    this.picker = h("fieldset", { className: "channel-picker" }, [
      h("legend", {}, [t("interpretation.listen")]),
    ]);
    this.floorSlider = h("input", {
      type: "range",
      id: "interpretation-floor-level",
      min: "-60",
      max: "0",
      step: "1",
    });
    this.floorValue = h("output", { htmlFor: "interpretation-floor-level" });
    this.floorInfo = h("p", { className: "floor-language" });
    this.trainerTools = h("div", { className: "trainer-tools" });
    this.interpreter = new InterpreterConsole(this, this.connection, this.mixer);
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
      ["booth_message_posted", (e) => this.interpreter.onBoothMessage(e.detail)],
      ["audience_changed", (e) => this.onAudience(e.detail)],
      ["interpreter_signal", (e) => this.onSignal(e.detail)],
    ];
    for (const [type, handler] of this.handlers) connection.addEventListener(type, handler);
    this.observer = new MutationObserver((records) => muteStageAudio(this.mixer, records));
    this.observer.observe(document.body, { childList: true, subtree: true });
    muteStageAudio(this.mixer, []);
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
    mixTracks(media, this.mixer);
    media.addEventListener("track", (/** @type {CustomEvent<TrackDetail>} */ event) => {
      const { participant, source, kind, track } = event.detail;
      if (kind !== "video") return;
      this.videos.set(`${participant}:${source}`, { participant, source, track });
      this.boothView?.renderVideos();
      this.renderSigning();
    });
    media.addEventListener("trackended", (/** @type {CustomEvent<TrackDetail>} */ event) => {
      const { participant, source, kind } = event.detail;
      if (kind === "video" && this.videos.delete(`${participant}:${source}`)) {
        this.boothView?.renderVideos();
        this.renderSigning();
      }
    });
    media.addEventListener("activespeaker", (/** @type {CustomEvent<{id: string|null}>} */ e) =>
      this.boothView?.setSpeaker(e.detail.id),
    );
    if (this.booth) this.interpreter.publishVoice();
  }

  /** Set every source's gain from the state (listener_mix.js). */
  mix() {
    this.mixer.apply((participant, source) => level(this, participant, source));
  }

  // --- messages ---------------------------------------------------------------

  /** @param {any} state */
  onState(state) {
    this.channels = new Map(state.channels.map((/** @type {Channel} */ c) => [c.lang, c]));
    this.languages = state.languages;
    this.floorLanguage = state.floor_language;
    this.listening = state.listening;
    this.booth = state.booth;
    if (this.booth && this.media) this.interpreter.publishVoice();
    if (this.booth && !this.boothView) {
      this.boothView = new Booth(this);
      this.boothView.renderVideos();
    }
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

  /** @param {{channel: string, listeners: number}} change */
  onAudience(change) {
    const channel = this.channels.get(change.channel);
    if (channel) channel.listeners = change.listeners;
    this.boothView?.render();
  }

  /**
   * A booth's signal ("slow down", "use the microphone"): the trainer sees it at once,
   * above the page, until dismissed; the booth sees it in its chat.
   * @param {{channel: string, sender: string, name: string, kind: string, at: number}} signal
   */
  onSignal(signal) {
    const text = t(`signal.${signal.kind}`, {
      name: signal.name,
      language: languageName(signal.channel),
    });
    if (this.booth) {
      this.interpreter.onBoothMessage({ ...signal, text: `[${t(`booth.${signal.kind}`)}]` });
      return;
    }
    const dismiss = h("button", { type: "button", className: "dismiss" }, [t("signal.dismiss")]);
    const item = h("li", { dataset: { kind: signal.kind, channel: signal.channel } }, [
      text,
      " ",
      dismiss,
    ]);
    dismiss.addEventListener("click", () => item.remove());
    if (!this.signals.isConnected) document.body.append(this.signals);
    this.signals.append(item);
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

    this.picker.addEventListener("change", (event) => {
      const input = /** @type {HTMLInputElement} */ (event.target);
      if (input.name === "interpretation-channel") {
        this.mixer.resume();
        this.connection.send("select_channel", { channel: input.value });
      }
    });

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

    this.root.append(
      heading,
      this.status,
      this.onAirList,
      this.picker,
      floorLevel,
      this.floorInfo,
      this.trainerTools,
      this.interpreter.element,
    );
    this.root.setAttribute("aria-labelledby", "interpretation-heading");
  }

  render() {
    this.renderOnAir();
    this.renderPicker();
    this.renderFloor();
    this.renderTrainerTools();
    this.interpreter.render();
    this.interpreter.updateVoice();
    this.boothView?.render();
    this.renderSigning();
    this.mix();
  }

  /** A listener of a sign-language channel sees its interpreter on air beside the speaker. */
  renderSigning() {
    const chosen = this.booth ? undefined : this.channels.get(this.listening.channel);
    const signer = chosen?.signed && chosen.on_air ? chosen.on_air : null;
    const video = signer ? this.videos.get(`${signer}:signing`) : undefined;
    if (!chosen || !video || video.track.readyState === "ended") {
      this.signWindow.hidden = true;
      this.signVideo.srcObject = null;
      this.showApart(null);
      return;
    }
    if (!this.signWindow.isConnected) {
      (document.querySelector("#room .media-area") ?? document.body).append(this.signWindow);
    }
    const stream = this.signVideo.srcObject;
    if (!(stream instanceof MediaStream) || stream.getVideoTracks()[0] !== video.track) {
      this.signVideo.srcObject = new MediaStream([video.track]);
      this.signVideo.play?.().catch(() => {});
    }
    this.signWindow.dataset.participant = signer ?? "";
    this.signWindow.setAttribute("aria-label", languageName(chosen.lang));
    this.signCaption.textContent = t("interpretation.signing", {
      language: languageName(chosen.lang),
      name: chosen.on_air_name ?? "",
    });
    this.signWindow.hidden = false;
    this.showApart(signer);
  }

  /**
   * Tell the room's page who the sign-language window shows (null: nobody), so that its
   * stage gives them no tile of their own beside it (the "signlanguagewindow" event).
   * @param {string|null} participant
   */
  showApart(participant) {
    if (this.apart === participant) return;
    this.apart = participant;
    document.dispatchEvent(new CustomEvent("signlanguagewindow", { detail: { participant } }));
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
    /** @type {{value: string, live: boolean, label: (Node|string)[]}[]} */
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

  /** Stop listening, mixing and publishing. */
  close() {
    for (const [type, handler] of this.handlers) this.connection.removeEventListener(type, handler);
    this.observer.disconnect();
    this.boothView?.close();
    this.signals.remove();
    this.signWindow.remove();
    this.showApart(null);
    this.interpreter.close();
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
  for (const href of ["/static/interpretation.css", "/static/booth.css"]) {
    if (!document.querySelector(`link[href="${href}"]`)) {
      document.head.append(h("link", { rel: "stylesheet", href }));
    }
  }
  const panel = new InterpretationPanel(element, connection, media, you);
  /** @type {any} */ (element).interpretation = panel;
  return panel;
}
