// The interpreter's booth: the classroom page of an interpreter becomes their console,
// full screen (their join link opens it). Microphone and on-air light, cough button,
// outgoing channel A/B, incoming floor or relay with a suggestion, level meters and a
// limiter before the ears, the partner and the handover, signals to the trainer, the
// audience of the channel, the speaker, the shared screen and the room, and a clock.
// Talk-back, booth chat and the air buttons are the console's (interpreter_console.js),
// placed here. Keys: M microphone, C (held) cough, A and B the outgoing channel.

import { t } from "/static/i18n.js";
import { h, languageName } from "/static/interpretation_dom.js";
import { FLOOR } from "/static/listener_mix.js";

/** Seconds the handover countdown runs from the offer. */
export const HANDOVER_COUNTDOWN_S = 10;
/** Peak limits (dBFS) the interpreter may choose for what reaches their ears. */
export const LIMITS = [-6, -10, -14, -18];
const DEFAULT_LIMIT = -10;
const METER_FLOOR_DB = -60;

/**
 * @typedef {import("/static/interpretation.js").InterpretationPanel} Panel
 * @typedef {import("/static/interpretation.js").Channel} Channel
 * @typedef {{participant: string, source: string, track: MediaStreamTrack}} Video
 */

/**
 * The level of an analyser's last block, in dBFS (peak).
 * @param {AnalyserNode} analyser
 * @param {Float32Array<ArrayBuffer>} buffer
 */
function peakDb(analyser, buffer) {
  analyser.getFloatTimeDomainData(buffer);
  let peak = 0;
  for (const sample of buffer) peak = Math.max(peak, Math.abs(sample));
  return peak > 0 ? Math.max(METER_FLOOR_DB, 20 * Math.log10(peak)) : METER_FLOOR_DB;
}

/** @param {number} seconds */
function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const mm = String(Math.floor(s / 60)).padStart(2, "0");
  return `${mm}:${String(s % 60).padStart(2, "0")}`;
}

export class Booth {
  /** @param {Panel} panel */
  constructor(panel) {
    this.panel = panel;
    this.console = panel.interpreter;
    this.mixer = panel.mixer;
    this.connection = panel.connection;
    this.limit = DEFAULT_LIMIT;
    this.mixer.protect(this.limit);
    /** When the standing handover offer was seen (ms), for its countdown. */
    this.offerSeen = /** @type {number|null} */ (null);
    /** The B language last chosen (retour). */
    this.bLang = /** @type {string|null} */ (null);
    this.speaker = /** @type {string|null} */ (null);
    const context = this.mixer.context;
    this.floorAnalyser = context.createAnalyser();
    this.floorAnalyser.fftSize = 1024;
    this.mixer.output.connect(this.floorAnalyser);
    this.ownAnalyser = context.createAnalyser();
    this.ownAnalyser.fftSize = 1024;
    this.ownSource = /** @type {MediaStreamAudioSourceNode|null} */ (null);
    this.buffer = new Float32Array(1024);

    this.light = h("p", { className: "on-air-light", role: "status", "aria-live": "polite" });
    this.micButton = h("button", { type: "button", id: "booth-microphone", "aria-pressed": "true" }, [
      t("booth.microphone"),
    ]);
    this.coughButton = h("button", { type: "button", id: "booth-cough" }, [t("booth.cough")]);
    this.aButton = h("button", { type: "button", id: "booth-output-a", "aria-pressed": "true" });
    this.bButton = h("button", { type: "button", id: "booth-output-b", "aria-pressed": "false" });
    this.bSelect = h("select", { id: "booth-b-language" });
    this.incoming = h("p", { className: "booth-incoming", role: "status" });
    this.suggestion = h("p", { className: "booth-suggestion" });
    this.ownMeter = h("meter", { id: "booth-own-level", min: METER_FLOOR_DB, max: 0, value: METER_FLOOR_DB, high: -6 });
    this.floorMeter = h("meter", { id: "booth-floor-level", min: METER_FLOOR_DB, max: 0, value: METER_FLOOR_DB, high: -6 });
    this.limitSelect = h(
      "select",
      { id: "booth-limit" },
      LIMITS.map((db) =>
        h("option", { value: String(db), selected: db === this.limit }, [t("booth.limit_value", { db })]),
      ),
    );
    this.partners = h("ul", { className: "booth-partners", "aria-label": t("booth.partner") });
    this.timer = h("p", { className: "booth-timer" });
    this.countdown = h("p", { className: "booth-countdown", role: "timer" });
    this.requestButton = h("button", { type: "button", id: "booth-request-handover" }, [
      t("booth.handover_request"),
    ]);
    this.requestButton.addEventListener("click", () =>
      this.connection.send("booth_signal", { kind: "handover_request" }),
    );
    this.audience = h("p", { className: "booth-audience", role: "status" });
    this.signalStatus = h("p", { className: "booth-signal-status", role: "status" });
    this.clock = h("time", { className: "booth-clock", "aria-label": t("booth.clock") });
    this.speakerBox = h("div", { className: "booth-video booth-speaker", "aria-label": t("booth.speaker"), role: "region" });
    this.screenBox = h("div", { className: "booth-video booth-screen", "aria-label": t("booth.screen"), role: "region" });
    this.roomBox = h("div", { className: "booth-video booth-room", "aria-label": t("booth.room"), role: "region" });
    this.viewButton = h("button", { type: "button", id: "booth-view", "aria-pressed": "false" }, [
      t("booth.classroom_view"),
    ]);
    this.element = this.build();
    document.body.append(this.element);
    document.body.classList.add("booth-mode");

    this.onKeyDown = (/** @type {KeyboardEvent} */ event) => this.key(event, true);
    this.onKeyUp = (/** @type {KeyboardEvent} */ event) => this.key(event, false);
    document.addEventListener("keydown", this.onKeyDown);
    document.addEventListener("keyup", this.onKeyUp);
    this.console.onVoice = () => this.renderVoice();
    this.ticker = setInterval(() => this.tick(), 250);
    this.meterFrame = requestAnimationFrame(() => this.meters());
  }

  // --- building -----------------------------------------------------------------

  build() {
    const heading = h("h2", { id: "booth-heading" }, [t("booth.title")]);
    this.micButton.addEventListener("click", () => this.toggleMicrophone());
    // The cough button mutes while held, by mouse, touch or key (Space or Enter).
    const coughOn = (/** @type {Event} */ event) => {
      event.preventDefault();
      this.console.cough(true);
    };
    const coughOff = () => this.console.cough(false);
    this.coughButton.addEventListener("pointerdown", (event) => {
      this.coughButton.setPointerCapture?.(event.pointerId);
      coughOn(event);
    });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture", "blur"]) {
      this.coughButton.addEventListener(type, coughOff);
    }
    this.coughButton.addEventListener("keydown", (event) => {
      if (event.key === " " || event.key === "Enter") coughOn(event);
    });
    this.coughButton.addEventListener("keyup", (event) => {
      if (event.key === " " || event.key === "Enter") coughOff();
    });
    this.coughButton.addEventListener("click", (event) => event.preventDefault());
    this.aButton.addEventListener("click", () => this.setOutput("a"));
    this.bButton.addEventListener("click", () => this.setOutput("b"));
    this.bSelect.addEventListener("change", () => {
      this.bLang = this.bSelect.value;
      this.render();
    });
    this.limitSelect.addEventListener("change", () => {
      this.limit = Number(this.limitSelect.value);
      this.mixer.protect(this.limit);
    });
    this.viewButton.addEventListener("click", () => {
      const classroom = !this.element.classList.contains("booth-docked");
      this.element.classList.toggle("booth-docked", classroom);
      this.viewButton.setAttribute("aria-pressed", String(classroom));
      this.viewButton.textContent = classroom ? t("booth.booth_view") : t("booth.classroom_view");
    });
    const signal = (/** @type {string} */ kind) => {
      const button = h("button", { type: "button", id: `booth-signal-${kind}` }, [t(`booth.${kind}`)]);
      button.addEventListener("click", () => {
        this.connection.send("booth_signal", { kind });
        this.signalStatus.textContent = t("booth.signal_sent", { signal: t(`booth.${kind}`) });
      });
      return button;
    };
    const field = (/** @type {string} */ id, /** @type {string} */ label, /** @type {Node} */ control) =>
      h("p", { className: "booth-field" }, [h("label", { for: id }, [label]), " ", control]);

    const controls = h("div", { className: "booth-controls" }, [
      this.light,
      h("div", { className: "booth-mic" }, [this.micButton, " ", this.coughButton]),
      h("p", { className: "booth-keys" }, [t("booth.keys")]),
      h("fieldset", { className: "booth-output" }, [
        h("legend", {}, [t("booth.outgoing")]),
        this.aButton,
        " ",
        this.bButton,
        " ",
        h("label", { for: "booth-b-language" }, [t("booth.b_language")]),
        " ",
        this.bSelect,
      ]),
      this.audience,
      h("fieldset", { className: "booth-in" }, [
        h("legend", {}, [t("booth.incoming")]),
        this.incoming,
        this.suggestion,
      ]),
      h("div", { className: "booth-meters" }, [
        field("booth-own-level", t("booth.own_level"), this.ownMeter),
        field("booth-floor-level", t("booth.floor_level"), this.floorMeter),
        field("booth-limit", t("booth.limit"), this.limitSelect),
      ]),
      h("section", { className: "booth-partner", "aria-label": t("booth.partner") }, [
        this.partners,
        this.timer,
        this.countdown,
        this.requestButton,
      ]),
      h("div", { className: "booth-signals", role: "group", "aria-label": t("booth.signals") }, [
        signal("slow_down"),
        " ",
        signal("use_microphone"),
        this.signalStatus,
      ]),
      this.console.element,
    ]);
    const videos = h("div", { className: "booth-videos" }, [
      this.speakerBox,
      this.screenBox,
      this.roomBox,
    ]);
    const bar = h("header", { className: "booth-bar" }, [heading, this.clock, this.viewButton]);
    return h("section", { className: "booth", id: "booth", "aria-labelledby": "booth-heading" }, [
      bar,
      h("div", { className: "booth-body" }, [videos, controls]),
    ]);
  }

  // --- actions --------------------------------------------------------------------

  toggleMicrophone() {
    this.mixer.resume();
    this.console.setMicrophone(!this.console.microphone);
  }

  /** @param {"a"|"b"} which */
  setOutput(which) {
    this.mixer.resume();
    const channel = this.console.channel();
    if (!channel) return;
    const lang = which === "a" ? channel.lang : this.bLang;
    if (lang && lang !== this.console.output()?.lang) {
      this.connection.send("set_output", { channel: lang });
    }
  }

  /**
   * The booth's keys, anywhere but in a text field: M, C held, A, B.
   * @param {KeyboardEvent} event
   * @param {boolean} down
   */
  key(event, down) {
    const target = /** @type {HTMLElement|null} */ (event.target);
    if (target?.closest?.("input, textarea, select, [contenteditable]")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (key === "c") {
      event.preventDefault();
      this.console.cough(down);
      return;
    }
    if (!down || event.repeat) return;
    if (key === "m") this.toggleMicrophone();
    else if (key === "a") this.setOutput("a");
    else if (key === "b") this.setOutput("b");
  }

  // --- what the booth shows ----------------------------------------------------------

  /** The voice changed (microphone, cough, air): the light and the meter's source. */
  renderVoice() {
    const voice = this.console.voice;
    if (voice && !this.ownSource) {
      try {
        const stream = new MediaStream([voice.interpretation]);
        this.ownSource = this.mixer.context.createMediaStreamSource(stream);
        this.ownSource.connect(this.ownAnalyser);
      } catch {
        // A browser refusing a track of another rate here: the meter stays still.
      }
    }
    const me = this.panel.you.id;
    const onAir = this.console.output()?.on_air === me;
    const sending = !!voice?.interpretation.enabled && onAir;
    this.micButton.setAttribute("aria-pressed", String(this.console.microphone));
    this.micButton.textContent = this.console.microphone ? t("booth.microphone_on") : t("booth.microphone_off");
    this.coughButton.setAttribute("aria-pressed", String(this.console.coughing));
    const state = sending ? "on" : this.console.coughing ? "cough" : !this.console.microphone ? "muted" : "off";
    this.light.dataset.state = state;
    this.light.textContent = {
      on: t("booth.on_air"),
      cough: t("booth.coughing"),
      muted: t("booth.mic_off"),
      off: t("booth.off_air"),
    }[state];
  }

  render() {
    const channel = this.console.channel();
    if (!channel) return;
    const me = this.panel.you.id;
    const output = this.console.output() ?? channel;
    const others = [...this.panel.channels.keys()].filter((lang) => lang !== channel.lang);
    if (output.lang !== channel.lang) this.bLang = output.lang;
    if (!this.bLang || !others.includes(this.bLang)) {
      const floor = this.panel.floorLanguage;
      this.bLang = floor && others.includes(floor) ? floor : (others[0] ?? null);
    }
    this.bSelect.replaceChildren(
      ...others.map((lang) => h("option", { value: lang, selected: lang === this.bLang }, [languageName(lang)])),
    );
    this.aButton.textContent = t("booth.channel_a", { language: languageName(channel.lang) });
    this.bButton.textContent = this.bLang
      ? t("booth.channel_b", { language: languageName(this.bLang) })
      : t("booth.channel_b", { language: "-" });
    this.bButton.disabled = !this.bLang;
    this.aButton.setAttribute("aria-pressed", String(output.lang === channel.lang));
    this.bButton.setAttribute("aria-pressed", String(output.lang !== channel.lang));
    this.audience.textContent = t("booth.audience", {
      language: languageName(output.lang),
      count: output.listeners ?? 0,
    });
    this.audience.dataset.count = String(output.listeners ?? 0);
    this.renderIncoming(channel, output);
    this.renderPartners(channel);
    // Off air while a partner speaks: ask them to offer the handover.
    this.requestButton.hidden = !channel.on_air || channel.on_air === me || !!channel.handover;
    if (!channel.handover) this.offerSeen = null;
    else this.offerSeen ??= Date.now();
    this.renderVoice();
    this.tick();
  }

  /**
   * @param {Channel} channel your booth's
   * @param {Channel} output where your voice goes
   */
  renderIncoming(channel, output) {
    const me = this.panel.you.id;
    const relay = channel.booth.find((m) => m.id === me)?.relay ?? FLOOR;
    const pivot = relay === FLOOR ? null : this.panel.channels.get(relay);
    if (!pivot) {
      this.incoming.textContent = t("booth.hearing_floor");
    } else if (pivot.on_air_name) {
      this.incoming.textContent = t("booth.hearing_relay", {
        language: languageName(pivot.lang),
        name: pivot.on_air_name,
      });
    } else {
      this.incoming.textContent = t("booth.hearing_relay_silent", { language: languageName(pivot.lang) });
    }
    this.incoming.dataset.source = relay;
    // The floor speaks none of the booth's languages: suggest a live channel to relay from.
    const floor = this.panel.floorLanguage;
    const own = new Set([channel.lang, output.lang, this.bLang]);
    const candidates = [...this.panel.channels.values()].filter(
      (c) => c.live && c.lang !== channel.lang && c.lang !== output.lang && c.on_air !== me,
    );
    const suggest = relay === FLOOR && floor && !own.has(floor) ? candidates[0] : undefined;
    if (!suggest || !floor) {
      this.suggestion.replaceChildren();
      return;
    }
    const use = h("button", { type: "button", id: "booth-use-relay" }, [
      t("booth.use_relay", { language: languageName(suggest.lang) }),
    ]);
    use.addEventListener("click", () => this.connection.send("set_relay", { source: suggest.lang }));
    this.suggestion.replaceChildren(
      t("booth.relay_suggestion", { floor: languageName(floor), language: languageName(suggest.lang) }),
      " ",
      use,
    );
  }

  /** @param {Channel} channel */
  renderPartners(channel) {
    const me = this.panel.you.id;
    const partners = channel.booth.filter((m) => m.id !== me);
    if (partners.length === 0) {
      this.partners.replaceChildren(h("li", {}, [t("booth.no_partner")]));
      return;
    }
    this.partners.replaceChildren(
      ...partners.map((m) =>
        h("li", { dataset: { partner: m.id, connected: String(m.connected), microphone: String(m.microphone !== false) } }, [
          h("span", { className: m.connected ? "presence present" : "presence away" }, [
            m.connected ? t("booth.present") : t("booth.away"),
          ]),
          ` ${m.name}: `,
          m.microphone === false ? t("booth.partner_mic_off") : t("booth.partner_mic_on"),
          channel.on_air === m.id ? `, ${t("booth.partner_on_air")}` : "",
        ]),
      ),
    );
  }

  /** Each quarter second: the clock, the on-air timer, the handover countdown. */
  tick() {
    const now = new Date();
    this.clock.dateTime = now.toISOString();
    this.clock.textContent = now.toLocaleTimeString(document.documentElement.lang || undefined, {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    const channel = this.console.channel();
    if (!channel) return;
    const output = this.console.output() ?? channel;
    const timed = [channel, ...(output === channel ? [] : [output])].filter((c) => c.on_air);
    this.timer.textContent = timed
      .map((c) =>
        t("booth.on_air_for", {
          name: c.on_air_name ?? "",
          time: duration(now.getTime() / 1000 - (c.on_air_since ?? now.getTime() / 1000)),
        }),
      )
      .join(" · ");
    if (channel.handover && this.offerSeen !== null) {
      const left = HANDOVER_COUNTDOWN_S - (now.getTime() - this.offerSeen) / 1000;
      this.countdown.textContent = t("booth.handover_in", { seconds: Math.max(0, Math.ceil(left)) });
      this.countdown.classList.toggle("due", left <= 0);
    } else {
      this.countdown.textContent = "";
    }
  }

  meters() {
    this.ownMeter.value = peakDb(this.ownAnalyser, this.buffer);
    this.floorMeter.value = peakDb(this.floorAnalyser, this.buffer);
    this.meterFrame = requestAnimationFrame(() => this.meters());
  }

  // --- video: the speaker large, the shared screen, the room ------------------------

  /** @param {string|null} id who speaks now (the server's active speaker) */
  setSpeaker(id) {
    if (id && id !== this.panel.you.id) this.speaker = id;
    this.renderVideos();
  }

  renderVideos() {
    /** @type {Video[]} */
    const videos = [...this.panel.videos.values()].filter((v) => v.track.readyState !== "ended");
    const cameras = videos.filter((v) => v.source === "camera");
    const speaker = cameras.find((v) => v.participant === this.speaker) ?? cameras[0];
    const screen = videos.find((v) => v.source === "screen");
    this.place(this.speakerBox, speaker ? [speaker] : []);
    this.place(this.screenBox, screen ? [screen] : []);
    this.place(this.roomBox, cameras.filter((v) => v !== speaker).slice(0, 6));
  }

  /**
   * @param {HTMLElement} box
   * @param {Video[]} videos
   */
  place(box, videos) {
    const keep = new Map(
      [...box.querySelectorAll("video")].map((element) => [element.dataset.key ?? "", element]),
    );
    const elements = videos.map((video) => {
      const key = `${video.participant}:${video.source}:${video.track.id}`;
      const known = keep.get(key);
      if (known) return known;
      const element = h("video", { autoplay: true, playsInline: true, muted: true, dataset: { key, participant: video.participant } });
      element.srcObject = new MediaStream([video.track]);
      element.play?.().catch(() => {});
      return element;
    });
    box.replaceChildren(...(elements.length ? elements : [h("p", { className: "no-video" }, [t("booth.no_video")])]));
  }

  close() {
    clearInterval(this.ticker);
    cancelAnimationFrame(this.meterFrame);
    document.removeEventListener("keydown", this.onKeyDown);
    document.removeEventListener("keyup", this.onKeyUp);
    document.body.classList.remove("booth-mode");
    this.element.remove();
  }
}
