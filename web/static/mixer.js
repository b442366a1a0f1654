// Mixing the floor and interpretation in the listener's browser with Web Audio GainNodes:
// the server forwards every voice untouched and never mixes; each source here gets its
// own gain, set from the channel state (interpreter at full level, floor lowered).

/**
 * @typedef {{participant: string, source: string, track: MediaStreamTrack}} AudioSource
 * @typedef {(participant: string, source: string) => number} Levels
 */

/**
 * A level in decibels as a linear gain (-14 dB is about 0.2).
 * @param {number} db
 */
export function dbToGain(db) {
  return Math.pow(10, db / 20);
}

export class Mixer {
  constructor() {
    this.context = new AudioContext();
    /** Everything heard passes here: tests and meters can tap it. */
    this.output = this.context.createGain();
    /** What reaches the ears: the output, or the output through the limiter (`protect`). */
    this.ears = this.output;
    this.output.connect(this.context.destination);
    /** @type {DynamicsCompressorNode|null} */
    this.limiter = null;
    /** @type {Map<string, {participant: string, source: string, track: MediaStreamTrack,
     *   element: HTMLAudioElement, node: MediaStreamAudioSourceNode, gain: GainNode}>} */
    this.inputs = new Map();
    /** @type {Levels} */
    this.levels = () => 1;
    const resume = () => this.resume();
    document.addEventListener("pointerdown", resume, { capture: true });
    document.addEventListener("keydown", resume, { capture: true });
  }

  /** Browsers start audio only after the user has interacted with the page. */
  resume() {
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
  }

  /**
   * Protect the listener's hearing: no peak above `limitDb` dBFS reaches the ears
   * (acoustic shock protection). A DynamicsCompressor with a hard knee and a high ratio
   * is the limiter (it looks a few milliseconds ahead); the automatic make-up gain the
   * Web Audio compressor adds is taken back, so sound under the limit passes unchanged.
   * @param {number} limitDb
   */
  protect(limitDb) {
    const ratio = 20;
    if (!this.limiter) {
      this.limiter = this.context.createDynamicsCompressor();
      this.limiter.knee.value = 0;
      this.limiter.ratio.value = ratio;
      this.limiter.attack.value = 0;
      this.limiter.release.value = 0.1;
      this.ears = this.context.createGain();
      this.output.disconnect(this.context.destination);
      this.output.connect(this.limiter).connect(this.ears).connect(this.context.destination);
    }
    this.limiter.threshold.value = limitDb;
    // The compressor's make-up gain: 0.6 times the gain lost at full scale (Web Audio).
    const lostDb = -(limitDb - limitDb / ratio);
    /** @type {GainNode} */ (this.ears).gain.value = dbToGain(-0.6 * lostDb);
  }

  /** @param {AudioSource} input */
  add({ participant, source, track }) {
    const key = `${participant}:${source}`;
    const known = this.inputs.get(key);
    if (known?.track === track) return;
    if (known) this.remove(participant, source);
    const stream = new MediaStream([track]);
    // Chromium pulls a remote WebRTC track into Web Audio only while a media element
    // plays it; the element stays muted, the sound goes through the gain below.
    const element = new Audio();
    element.muted = true;
    element.srcObject = stream;
    element.play().catch(() => {});
    const node = this.context.createMediaStreamSource(stream);
    const gain = this.context.createGain();
    gain.gain.value = this.levels(participant, source);
    node.connect(gain).connect(this.output);
    this.inputs.set(key, { participant, source, track, element, node, gain });
    track.addEventListener("ended", () => {
      if (this.inputs.get(key)?.track === track) this.remove(participant, source);
    });
  }

  /**
   * @param {string} participant
   * @param {string} source
   */
  remove(participant, source) {
    const key = `${participant}:${source}`;
    const input = this.inputs.get(key);
    if (!input) return;
    input.node.disconnect();
    input.gain.disconnect();
    input.element.srcObject = null;
    this.inputs.delete(key);
  }

  /**
   * Set every gain from a levels function, all in the same audio frame: a handover
   * switches one voice off and the other on at once (no gap, no overlap).
   * @param {Levels} [levels]
   */
  apply(levels = this.levels) {
    this.levels = levels;
    const now = this.context.currentTime;
    for (const input of this.inputs.values()) {
      input.gain.gain.cancelScheduledValues(now);
      input.gain.gain.setValueAtTime(levels(input.participant, input.source), now);
    }
  }

  /**
   * The current gain of one input (for indicators and tests), or null.
   * @param {string} participant
   * @param {string} source
   */
  gainOf(participant, source) {
    const input = this.inputs.get(`${participant}:${source}`);
    return input ? input.gain.gain.value : null;
  }

  close() {
    for (const input of [...this.inputs.values()]) this.remove(input.participant, input.source);
    this.context.close().catch(() => {});
  }
}
