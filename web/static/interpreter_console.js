// The interpreter's console in the interpretation panel: who is on air in their booth,
// taking and leaving the air, handing over, the relay source, talking to the booth
// partner and the booth chat; and the interpreter's voice, published as two tracks.

import { formatTime, t } from "/static/i18n.js";
import { h, languageName } from "/static/interpretation_dom.js";
import { FLOOR } from "/static/listener_mix.js";

/**
 * @typedef {import("/static/interpretation.js").Channel} Channel
 * @typedef {{channels: Map<string, Channel>, booth: string|null, you: {id: string},
 *   media: any}} Booth
 */

/**
 * The channel's voice through a gain (the gate), in an audio context of the microphone's
 * own rate: the cough silences it from the next audio block (under 3 ms), which
 * disabling the track does only after the capture's buffering. Null where the browser
 * cannot (a context that does not run, or refuses the microphone's rate): the track is
 * then sent as it is, and the cough disables it.
 * @param {MediaStreamTrack} microphone
 * @returns {Promise<{gate: GainNode, track: MediaStreamTrack}|null>}
 */
async function gateOf(microphone) {
  /** @type {AudioContext|null} */
  let context = null;
  try {
    const rate = microphone.getSettings().sampleRate;
    context = new AudioContext(rate ? { sampleRate: rate } : {});
    const started = context.resume();
    const timeout = new Promise((resolve) => setTimeout(resolve, 1000));
    await Promise.race([started, timeout]);
    if (context.state !== "running") throw new Error("the audio context does not run");
    const source = context.createMediaStreamSource(new MediaStream([microphone]));
    const gate = context.createGain();
    const out = context.createMediaStreamDestination();
    source.connect(gate).connect(out);
    return { gate, track: out.stream.getAudioTracks()[0] };
  } catch {
    context?.close().catch(() => {});
    return null;
  }
}

export class InterpreterConsole {
  /**
   * @param {Booth} state the panel's, read at each use: channels, your booth, you, media
   * @param {import("/static/protocol.js").ClassroomConnection} connection
   * @param {import("/static/mixer.js").Mixer} mixer resumed by the console's buttons
   */
  constructor(state, connection, mixer) {
    this.state = state;
    this.connection = connection;
    this.mixer = mixer;
    this.boothTalk = false;
    this.taking = false;
    this.microphone = true; // the booth's microphone switch
    this.coughing = false; // the cough button held: silent while held
    /** Called whenever what the voice sends changes (the booth's on-air light). */
    this.onVoice = () => {};
    /** @type {{interpretation: MediaStreamTrack, booth: MediaStreamTrack,
     *   microphone: MediaStreamTrack}|null} */
    this.voice = null;
    /** The channel voice's gate (Web Audio): the microphone switch and the cough act on it
     * within one audio block, before the encoder. */
    this.gate = /** @type {GainNode|null} */ (null);
    /** A sign-language interpreter's camera, into their channel (instead of a voice). */
    this.signing = /** @type {MediaStreamTrack|null} */ (null);
    this.publishing = false;
    // The console's elements (build() wires and places them).
    this.consoleHeading = h("h3", { id: "interpreter-console-heading" }, [
      t("interpretation.console"),
    ]);
    this.consoleStatus = h("p", { className: "console-status" });
    this.airButtons = h("div", { className: "air-buttons" });
    this.relaySelect = h("select", { id: "interpretation-relay" });
    this.talkButton = h("button", { type: "button", "aria-pressed": "false" }, [
      t("interpretation.booth_talk"),
    ]);
    this.boothLog = h("ol", {
      className: "booth-log",
      "aria-live": "polite",
      "aria-label": t("interpretation.booth"),
    });
    this.element = this.build();
  }

  /** The channel of your booth, if you are an interpreter. */
  channel() {
    return this.state.booth ? this.state.channels.get(this.state.booth) : undefined;
  }

  /** The channel your voice goes to: your booth's (A), or another for retour (B). */
  output() {
    const channel = this.channel();
    const lang = channel?.booth.find((m) => m.id === this.state.you.id)?.output ?? channel?.lang;
    return lang ? this.state.channels.get(lang) : undefined;
  }

  /** @param {boolean} on the microphone switch (the booth partner sees it) */
  setMicrophone(on) {
    this.microphone = on;
    this.updateVoice();
    this.connection.send("set_microphone", { on });
  }

  /** @param {boolean} on the cough button held (nobody is told) */
  cough(on) {
    if (this.coughing === on) return;
    this.coughing = on;
    this.updateVoice();
  }

  // --- the voice ----------------------------------------------------------------

  /** An interpreter's voice: one track into the channel, one to the booth partner. */
  async publishVoice() {
    if (this.voice || this.signing || this.publishing || !this.state.media?.publishExtra) return;
    this.publishing = true;
    try {
      if (this.channel()?.signed) await this.publishSigning();
      else await this.publishSpeech();
    } finally {
      this.publishing = false;
    }
  }

  /** A sign-language interpreter's channel is their camera, published as "signing". */
  async publishSigning() {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: 640, height: 480 },
    });
    const [camera] = stream.getVideoTracks();
    this.signing = camera;
    this.updateVoice();
    await this.state.media.publishExtra(camera, "signing");
  }

  /** A spoken channel's voice, and the talk-back to the booth partner. */
  async publishSpeech() {
    // Interpreters wear headsets: echo cancellation stays, but no noise suppression or
    // automatic gain, which pump and clip a voice that never pauses for long.
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false },
    });
    const [microphone] = stream.getAudioTracks();
    const gated = await gateOf(microphone);
    this.gate = gated?.gate ?? null;
    const channelVoice = gated?.track ?? microphone;
    this.voice = { interpretation: channelVoice, booth: microphone.clone(), microphone };
    this.updateVoice();
    await this.state.media.publishExtra(this.voice.interpretation, "interpretation");
    await this.state.media.publishExtra(this.voice.booth, "booth");
  }

  /**
   * Speak into the channel while on air, and already while a handover is offered to us:
   * the server then forwards our voice to the listeners, who keep it at zero gain until
   * the switch, so it is flowing when they turn it up (no gap). Never while talking to
   * the booth partner.
   */
  updateVoice() {
    if (!this.voice && !this.signing) return;
    const channel = this.channel();
    const me = this.state.you.id;
    const onAir = channel?.on_air === me || this.output()?.on_air === me;
    const offer = channel?.handover;
    const offered = !!offer && offer.giver !== me && (offer.taker === null || offer.taker === me);
    if (onAir || !offer) this.taking = false;
    const open = this.microphone && !this.coughing;
    if (this.signing) this.signing.enabled = onAir || offered || this.taking;
    if (!this.voice) return this.onVoice();
    if (this.gate) {
      const now = this.gate.context.currentTime;
      this.gate.gain.cancelScheduledValues(now);
      this.gate.gain.setValueAtTime(open ? 1 : 0, now);
    }
    this.voice.interpretation.enabled = (onAir || offered || this.taking) && !this.boothTalk && open;
    this.voice.booth.enabled = this.boothTalk && open;
    this.onVoice();
  }

  /** Stop publishing the voice. */
  close() {
    this.state.media?.unpublish?.("interpretation");
    this.state.media?.unpublish?.("booth");
    if (this.signing) {
      this.state.media?.unpublish?.("signing");
      this.signing.stop();
    }
    for (const track of Object.values(this.voice ?? {})) track.stop();
    /** @type {AudioContext|undefined} */ (this.gate?.context)?.close().catch(() => {});
  }

  // --- the booth chat -------------------------------------------------------------

  /** @param {{sender: string, name: string, text: string, at: number}} message */
  onBoothMessage(message) {
    const item = h("li", {}, [
      h("span", { className: "meta" }, [`${formatTime(message.at)} ${message.name}: `]),
      h("span", { dir: "auto" }, [message.text]),
    ]);
    this.boothLog.append(item);
    this.boothLog.scrollTop = this.boothLog.scrollHeight;
  }

  // --- the console ----------------------------------------------------------------

  build() {
    const box = h("section", {
      className: "interpreter-console",
      hidden: true,
      "aria-labelledby": "interpreter-console-heading",
    });
    this.relaySelect.addEventListener("change", () => {
      this.connection.send("set_relay", { source: this.relaySelect.value });
    });
    this.talkButton.addEventListener("click", () => {
      this.boothTalk = !this.boothTalk;
      this.talkButton.setAttribute("aria-pressed", String(this.boothTalk));
      this.updateVoice();
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

  /** Show the console to an interpreter in a booth, with the buttons that fit the moment. */
  render() {
    const channel = this.channel();
    this.element.hidden = !channel;
    if (!channel) return;
    const me = this.state.you.id;
    const partners = channel.booth.filter((m) => m.id !== me);
    const output = this.output() ?? channel;
    const onAir = output.on_air === me;
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
    if (channel.on_air === me && offer === null) {
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
    if (!onAir && (output.on_air === null || offeredToMe)) {
      const label = offeredToMe ? t("interpretation.take_handover") : t("interpretation.take_air");
      button("interpretation-take", label, () => {
        this.taking = true; // our voice flows before the switch, so there is no gap
        this.updateVoice();
        this.connection.send("take_air", { channel: offeredToMe ? channel.lang : output.lang });
      });
    }
    if (onAir) {
      button("interpretation-leave", t("interpretation.leave_air"), () =>
        this.connection.send("leave_air"),
      );
    }
    this.airButtons.replaceChildren(...buttons.flatMap((b) => [b, " "]));

    const relay = channel.booth.find((m) => m.id === me)?.relay ?? FLOOR;
    const others = [...this.state.channels.keys()].filter((lang) => lang !== channel.lang);
    const sources = [FLOOR, ...others];
    this.relaySelect.replaceChildren(
      ...sources.map((value) =>
        h("option", { value, selected: value === relay }, [
          value === FLOOR ? t("interpretation.relay_floor") : languageName(value),
        ]),
      ),
    );
    if (focusedId) document.getElementById(focusedId)?.focus();
  }
}
