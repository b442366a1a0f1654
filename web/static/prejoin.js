// The pre-join screen: camera and microphone choice, a preview and a microphone level meter.

import { t } from "/static/i18n.js";

/**
 * @typedef {{cameraId?: string|null, microphoneId?: string|null, camera?: boolean, microphone?: boolean,
 *   headset?: boolean}} DeviceChoice
 */

/**
 * How the microphone is processed. By default as the browser does (echo cancellation,
 * noise suppression, gain control), which a microphone beside loudspeakers needs (a
 * conference room, a laptop) but which cuts the highs: in Chromium either echo
 * cancellation or noise suppression low-passes the voice at about 14 kHz (15 kHz at -19
 * to -61 dB, measured in tests/browser/test_booth_bandwidth.py), short of the 15 kHz
 * interpreters need (ISO 24019). Someone who wears a headset hears nothing back through
 * their microphone: echo cancellation and noise suppression go, gain control stays (it
 * keeps 15 kHz), and the interpreters get the whole band.
 * @param {boolean|undefined} headset
 * @returns {MediaTrackConstraints}
 */
export function microphoneProcessing(headset) {
  return headset ? { echoCancellation: false, noiseSuppression: false, autoGainControl: true } : {};
}

/**
 * Open the camera and microphone; when both together fail, try each alone, so that a
 * machine with no camera (or a refused one) still joins with what it has.
 * @param {DeviceChoice} choice
 * @returns {Promise<{stream: MediaStream, error: string|null}>}
 */
export async function openDevices(choice = {}) {
  const wantVideo = choice.camera !== false;
  const wantAudio = choice.microphone !== false;
  const video = wantVideo
    ? { deviceId: choice.cameraId ? { exact: choice.cameraId } : undefined, width: 640, height: 480 }
    : false;
  const audio = wantAudio
    ? {
        deviceId: choice.microphoneId ? { exact: choice.microphoneId } : undefined,
        ...microphoneProcessing(choice.headset),
      }
    : false;
  if (!video && !audio) return { stream: new MediaStream(), error: null };
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream: new MediaStream(), error: t("prejoin.no_media_support") };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video, audio }), error: null };
  } catch (first) {
    const stream = new MediaStream();
    for (const constraints of [{ audio }, { video }]) {
      if (!Object.values(constraints)[0]) continue;
      try {
        const partial = await navigator.mediaDevices.getUserMedia(constraints);
        for (const track of partial.getTracks()) stream.addTrack(track);
      } catch {
        // reported below through the first error
      }
    }
    const name = /** @type {Error} */ (first).name;
    const key = name === "NotAllowedError" ? "prejoin.denied" : "prejoin.device_failed";
    return { stream, error: t(key) };
  }
}

/**
 * Show a microphone's level in a <meter> until stop() is called.
 */
export class LevelMeter {
  /**
   * @param {HTMLMeterElement} meter
   */
  constructor(meter) {
    this.meter = meter;
    /** @type {AudioContext|null} */
    this.context = null;
    this.frame = 0;
  }

  /** @param {MediaStream} stream */
  attach(stream) {
    this.stop();
    const track = stream.getAudioTracks()[0];
    if (!track || typeof AudioContext === "undefined") return;
    const context = new AudioContext();
    this.context = context;
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      // RMS scaled so that ordinary speech fills most of the bar.
      this.meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      this.frame = requestAnimationFrame(tick);
    };
    tick();
    // Browsers start audio suspended until the user has interacted with the page.
    document.addEventListener(
      "pointerdown",
      () => {
        if (context.state === "suspended") context.resume().catch(() => {});
      },
      { once: true },
    );
  }

  stop() {
    cancelAnimationFrame(this.frame);
    this.context?.close();
    this.context = null;
    this.meter.value = 0;
  }
}

/**
 * The pre-join screen's controls, wired to one local stream.
 */
export class PreJoin {
  /**
   * @param {HTMLElement} root the pre-join section
   * @param {DeviceChoice} saved the choice made last time in this tab
   */
  constructor(root, saved) {
    this.root = root;
    this.preview = /** @type {HTMLVideoElement} */ (root.querySelector("#preview"));
    this.cameraSelect = /** @type {HTMLSelectElement} */ (root.querySelector("#camera-select"));
    this.microphoneSelect = /** @type {HTMLSelectElement} */ (
      root.querySelector("#microphone-select")
    );
    this.cameraToggle = /** @type {HTMLInputElement} */ (root.querySelector("#prejoin-camera"));
    this.microphoneToggle = /** @type {HTMLInputElement} */ (
      root.querySelector("#prejoin-microphone")
    );
    this.headsetToggle = /** @type {HTMLInputElement} */ (root.querySelector("#prejoin-headset"));
    this.error = /** @type {HTMLElement} */ (root.querySelector("#prejoin-error"));
    this.meter = new LevelMeter(/** @type {HTMLMeterElement} */ (root.querySelector("#level")));
    this.choice = {
      cameraId: null,
      microphoneId: null,
      camera: true,
      microphone: true,
      headset: false,
      ...saved,
    };
    /** @type {MediaStream} */
    this.stream = new MediaStream();
    /** @type {Promise<void>} the device opening under way, if any */
    this.opening = Promise.resolve();
    this.cameraToggle.checked = this.choice.camera;
    this.microphoneToggle.checked = this.choice.microphone;
    this.headsetToggle.checked = this.choice.headset;
    this.cameraSelect.addEventListener("change", () => this.reopen({ cameraId: this.cameraSelect.value }));
    this.microphoneSelect.addEventListener("change", () =>
      this.reopen({ microphoneId: this.microphoneSelect.value }),
    );
    // Turning a device off keeps it open (and the choice visible): only the track is disabled.
    this.cameraToggle.addEventListener("change", () => this.applyToggles());
    this.microphoneToggle.addEventListener("change", () => this.applyToggles());
    // The microphone's processing is chosen when it is opened: opened again.
    this.headsetToggle.addEventListener("change", () => this.reopen({ headset: this.headsetToggle.checked }));
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.listDevices());
  }

  /** Open the devices and fill the lists (labels are readable once access is granted). */
  async start() {
    await this.reopen({});
  }

  /**
   * Open the devices again with a changed choice; one opening at a time, in order.
   * @param {DeviceChoice} change
   * @returns {Promise<void>}
   */
  reopen(change) {
    Object.assign(this.choice, change);
    this.opening = this.opening.then(() => this.openNow());
    return this.opening;
  }

  async openNow() {
    for (const track of this.stream.getTracks()) track.stop();
    const { stream, error } = await openDevices({ ...this.choice, camera: true, microphone: true });
    this.stream = stream;
    this.error.hidden = !error;
    this.error.textContent = error || "";
    this.preview.srcObject = stream;
    this.preview.play().catch(() => {});
    this.meter.attach(stream);
    await this.listDevices();
    this.applyToggles();
  }

  applyToggles() {
    this.choice.camera = this.cameraToggle.checked;
    this.choice.microphone = this.microphoneToggle.checked;
    for (const track of this.stream.getVideoTracks()) track.enabled = this.choice.camera;
    for (const track of this.stream.getAudioTracks()) track.enabled = this.choice.microphone;
    this.preview.classList.toggle("off", !this.choice.camera);
  }

  async listDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const inUse = (/** @type {string} */ kind) =>
      this.stream.getTracks().find((track) => track.kind === kind)?.getSettings().deviceId;
    fill(this.cameraSelect, devices, "videoinput", inUse("video"), "prejoin.camera_n");
    fill(this.microphoneSelect, devices, "audioinput", inUse("audio"), "prejoin.microphone_n");
  }

  /**
   * Hand the stream over to the room (once the devices are open: Join may be pressed
   * sooner) and stop the preview's own uses of it.
   * @returns {Promise<{stream: MediaStream, choice: DeviceChoice}>}
   */
  async finish() {
    await this.opening;
    this.meter.stop();
    this.preview.srcObject = null;
    return { stream: this.stream, choice: { ...this.choice } };
  }
}

/**
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices
 * @param {MediaDeviceKind} kind
 * @param {string|undefined} selected
 * @param {string} unnamedKey
 */
function fill(select, devices, kind, selected, unnamedKey) {
  const ofKind = devices.filter((device) => device.kind === kind && device.deviceId);
  select.replaceChildren(
    ...ofKind.map((device, index) => {
      const option = new Option(device.label || t(unnamedKey, { n: index + 1 }), device.deviceId);
      option.selected = device.deviceId === selected;
      return option;
    }),
  );
  select.disabled = ofKind.length === 0;
  if (ofKind.length === 0) select.replaceChildren(new Option(t("prejoin.no_device"), ""));
}
