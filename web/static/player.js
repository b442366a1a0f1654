// The player: one recording through hls.js, with its audio languages, speed, chapters,
// the MP4 download, and resuming where this learner stopped last time.
import Hls from "/vendor/hls.js/hls.min.mjs";
import { joinToken } from "/static/join.js";
import { titleOf } from "/static/catalogue.js";
import { errorText, loadLanguage, t } from "/static/i18n.js";
import { languageName } from "/static/languages.js";
import { offerSubtitleEditing } from "/static/player_subtitles.js";

const SAVE_EVERY_S = 10;
const RESUME_MARGIN_S = 5; // closer than this to either end: start from the beginning

const root = /** @type {HTMLElement} */ (document.getElementById("player"));
const video = /** @type {HTMLVideoElement} */ (document.getElementById("replay"));
const audioSelect = /** @type {HTMLSelectElement} */ (document.getElementById("audio-language"));
const speed = /** @type {HTMLSelectElement} */ (document.getElementById("speed"));
const message = /** @type {HTMLElement} */ (document.getElementById("player-message"));
const recordingId = root.dataset.recording || "";
const token = joinToken();
let lastSaved = -1;

/**
 * The learner's languages, most wanted first: their link's (the join token's `lang`,
 * read without checking it: the server does), then the page's.
 * @returns {string[]}
 */
function learnerLanguages() {
  const wanted = [];
  try {
    const payload = (token || "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const lang = JSON.parse(atob(payload)).lang;
    if (typeof lang === "string" && lang) wanted.push(lang);
  } catch {
    // no token, or not one we can read: the page's language decides
  }
  wanted.push(document.documentElement.lang || "");
  return wanted.filter(Boolean);
}

/**
 * The audio track in the learner's language (exactly, else by its language part:
 * "sr-Latn" finds "sr"), or -1 when the recording has none of theirs.
 * @param {string[]} trackLanguages each track's language, in order
 * @param {string[]} wanted
 */
function trackFor(trackLanguages, wanted) {
  const base = (/** @type {string} */ code) => code.split("-")[0].toLowerCase();
  for (const lang of wanted) {
    const exact = trackLanguages.findIndex((code) => code.toLowerCase() === lang.toLowerCase());
    if (exact >= 0) return exact;
    const near = trackLanguages.findIndex((code) => code && base(code) === base(lang));
    if (near >= 0) return near;
  }
  return -1;
}

/** @param {number} seconds */
function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** @param {string} path @param {RequestInit} [init] */
async function api(path, init = {}) {
  const headers = { Authorization: `Bearer ${token}`, ...(init.headers || {}) };
  const response = await fetch(path, { ...init, headers });
  if (response.status === 204) return null;
  const body = await response.json();
  if (!response.ok) throw new Error(errorText(body, response.status));
  return body;
}

function savePosition() {
  const position = Math.floor(video.currentTime);
  if (!token || !Number.isFinite(position) || position === lastSaved) return;
  lastSaved = position;
  fetch(`/api/recordings/${encodeURIComponent(recordingId)}/position`, {
    method: "PUT",
    keepalive: true,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ position_s: position }),
  }).catch(() => {});
}

/** @param {any} chapter */
function chapterTitle(chapter) {
  if (chapter.kind === "start") return chapter.title || t("chapter.start");
  if (chapter.kind === "chapter") return chapter.title; // written by the trainer who uploaded it
  const params = { ...chapter.params };
  if (params.channel) params.channel = languageName(params.channel);
  return t(`chapter.${chapter.kind}`, params);
}

/** @param {any} recording */
function showChapters(recording) {
  const list = /** @type {HTMLElement} */ (document.getElementById("chapter-list"));
  list.replaceChildren();
  for (const chapter of recording.chapters) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.start = String(chapter.start_s);
    button.dataset.kind = chapter.kind;
    const picture = recording.thumbnails.filter((/** @type {any} */ t) => t.t <= chapter.start_s).pop();
    if (picture) {
      const image = document.createElement("img");
      image.src = picture.url;
      image.alt = ""; // the title says it all
      image.loading = "lazy";
      button.append(image);
    }
    const time = document.createElement("span");
    time.className = "chapter-time";
    time.textContent = clock(chapter.start_s);
    button.append(time, " ", chapterTitle(chapter));
    button.addEventListener("click", () => {
      video.currentTime = chapter.start_s;
      video.play().catch(() => {});
    });
    item.append(button);
    list.append(item);
  }
  const track = document.createElement("track");
  track.kind = "chapters";
  track.src = recording.chapters_vtt;
  track.default = true;
  video.append(track);
}

/**
 * The HLS level (variant) whose playlist is ``path`` (relative to the master), or -1: the
 * levels come sorted by hls.js, so they are found by their playlist.
 * @param {Hls} hls @param {string} path
 */
function levelOf(hls, path) {
  return hls.levels.findIndex((level) => new URL(level.uri, location.href).pathname.endsWith(`/${path}`));
}

const FLOOR_PICTURE = "video/index.m3u8"; // the replay's own video (recordings/hls.py)

/**
 * Show the floor's picture ("floor") or a sign language's ("sign:<index>"), which is the
 * same video with the signer as a picture in picture: another HLS variant, switched to at
 * once (hls.js flushes what it buffered of the other).
 * @param {any} recording @param {Hls} hls @param {string} choice
 */
function showPicture(recording, hls, choice) {
  const path = choice.startsWith("sign:") ? recording.signed[Number(choice.slice(5))].hls : FLOOR_PICTURE;
  root.dataset.picture = choice; // first: switching a level runs hls.js's events at once
  const level = levelOf(hls, path);
  if (level >= 0 && hls.currentLevel !== level) hls.currentLevel = level;
}

/** @param {any} recording @param {Hls} hls */
function showLanguages(recording, hls) {
  audioSelect.replaceChildren();
  hls.audioTracks.forEach((track, index) => {
    const rendition = recording.audio[index] || {};
    const option = document.createElement("option");
    option.value = String(index);
    option.lang = track.lang || "";
    const name = languageName(track.lang || rendition.language || "");
    option.textContent = rendition.channel
      ? t("player.interpretation", { language: name })
      : t("player.original", { language: name });
    audioSelect.append(option);
  });
  // Sign languages in the same menu: seen, with the original sound.
  recording.signed.forEach((/** @type {any} */ sign, /** @type {number} */ index) => {
    const option = document.createElement("option");
    option.value = `sign:${index}`;
    option.lang = sign.language;
    option.textContent = languageName(sign.language);
    audioSelect.append(option);
  });
  const picture = root.dataset.picture || "floor";
  audioSelect.value = picture.startsWith("sign:") ? picture : String(Math.max(hls.audioTrack, 0));
}

/** @param {any} recording */
function offerResume(recording) {
  const at = recording.resume_s;
  if (!(at > RESUME_MARGIN_S && at < (recording.duration_s || 0) - RESUME_MARGIN_S)) return;
  video.currentTime = at;
  const box = /** @type {HTMLElement} */ (document.getElementById("resume"));
  /** @type {HTMLElement} */ (document.getElementById("resume-text")).textContent =
    t("player.resumed", { time: clock(at) });
  box.hidden = false;
  /** @type {HTMLElement} */ (document.getElementById("start-over")).addEventListener("click", () => {
    video.currentTime = 0;
    box.hidden = true;
  });
}

async function start() {
  await loadLanguage();
  if (!token) {
    message.textContent = t("library.no_token");
    return;
  }
  /** @type {any} */
  let recording;
  try {
    recording = await api(`/api/recordings/${encodeURIComponent(recordingId)}`);
  } catch (error) {
    message.textContent = t("player.error", { message: error instanceof Error ? error.message : String(error) });
    return;
  }
  /** @type {HTMLElement} */ (document.getElementById("player-title")).textContent = recording.title;
  document.title = recording.title;
  const module = recording.module_title ? titleOf({ title: recording.module_title, titles: recording.module_titles }) : "";
  const meta = [module, t("library.by", { name: recording.trainer })].filter(Boolean);
  /** @type {HTMLElement} */ (document.getElementById("player-meta")).textContent = meta.join(" · ");
  if (recording.status !== "ready") {
    message.textContent = recording.status === "failed"
      ? (recording.error ? t("player.failed", { error: recording.error }) : t("player.failed_plain"))
      : t("player.not_ready", { percent: Math.floor(recording.progress) });
    return;
  }
  /** @type {HTMLElement} */ (document.getElementById("player-body")).hidden = false;
  const download = /** @type {HTMLAnchorElement} */ (document.getElementById("download"));
  download.href = `${recording.download}?download=1`;
  if (recording.poster) video.poster = recording.poster;
  showChapters(recording);
  offerSubtitleEditing(recording, /** @type {string} */ (token));
  speed.addEventListener("change", () => {
    video.playbackRate = Number(speed.value);
  });
  video.addEventListener("ratechange", () => {
    speed.value = String(video.playbackRate);
  });
  if (!Hls.isSupported()) {
    message.textContent = t("player.error", { message: "Media Source Extensions" });
    return;
  }
  // enableWorker: off, as the page's Content-Security-Policy allows no blob: workers.
  const hls = new Hls({ enableWorker: false });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    // The floor's picture until the learner picks a sign language (never chosen by bandwidth).
    if (recording.signed.length) showPicture(recording, hls, root.dataset.picture || "floor");
    offerResume(recording);
  });
  if (recording.signed.length) {
    /** @type {HTMLElement} */ (document.querySelector('label[for="audio-language"]')).textContent =
      t("player.language");
  }
  // The audio languages are known once hls.js has read the master playlist's renditions:
  // start in the learner's language when the recording has it (once: later the choice is theirs).
  let chosen = false;
  hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, () => {
    if (!chosen) {
      chosen = true;
      const languages = hls.audioTracks.map((track, i) => track.lang || recording.audio[i]?.language || "");
      // Sign languages count as the learner's too: the first of theirs found wins.
      const signs = recording.signed.map((/** @type {any} */ sign) => sign.language);
      const index = trackFor([...languages, ...signs], learnerLanguages());
      if (index >= languages.length) showPicture(recording, hls, `sign:${index - languages.length}`);
      else if (index >= 0 && index !== hls.audioTrack) hls.audioTrack = index;
    }
    showLanguages(recording, hls);
    root.dataset.ready = "true";
  });
  hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, (_, data) => {
    if (!(root.dataset.picture || "").startsWith("sign:")) audioSelect.value = String(data.id);
    root.dataset.audio = String(data.id);
  });
  audioSelect.addEventListener("change", () => {
    const choice = audioSelect.value;
    if (choice.startsWith("sign:")) {
      showPicture(recording, hls, choice);
      const original = recording.audio.findIndex((/** @type {any} */ a) => a.channel === null);
      if (original >= 0 && hls.audioTrack !== original) hls.audioTrack = original;
      return;
    }
    if (recording.signed.length) showPicture(recording, hls, "floor");
    hls.audioTrack = Number(choice);
  });
  // Subtitles: off, or a language's (the learner's own, when the sound is not in it).
  const subtitleSelect = /** @type {HTMLSelectElement} */ (document.getElementById("subtitles"));
  /** @type {number|null} the page's own first choice, kept until the learner makes one */
  let subtitlesFirst = null;
  let subtitlesByLearner = false;
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => {
    const tracks = hls.subtitleTracks;
    /** @type {HTMLElement} */ (document.getElementById("subtitles-field")).hidden = !tracks.length;
    const off = new Option(t("player.subtitles_off"), "-1");
    subtitleSelect.replaceChildren(off, ...tracks.map((track, i) => new Option(languageName(track.lang || ""), String(i))));
    if (subtitlesFirst === null && tracks.length) {
      // The learner hears their language when the recording has it (see the audio choice).
      const heard = recording.audio.map((/** @type {any} */ a) => a.language);
      const wanted = learnerLanguages();
      const index = trackFor(heard, wanted) >= 0 ? -1 : trackFor(tracks.map((track) => track.lang || ""), wanted);
      subtitlesFirst = index;
      hls.subtitleTrack = index;
      hls.subtitleDisplay = index >= 0;
    }
    subtitleSelect.value = String(hls.subtitleTrack);
  });
  hls.on(Hls.Events.SUBTITLE_TRACK_SWITCH, (_, data) => {
    // The browser may turn a text track on by itself (its own preferences): until the
    // learner chooses, the page's choice stands.
    if (!subtitlesByLearner && subtitlesFirst !== null && data.id !== subtitlesFirst) {
      hls.subtitleTrack = subtitlesFirst;
      hls.subtitleDisplay = subtitlesFirst >= 0;
      return;
    }
    subtitleSelect.value = String(data.id);
    root.dataset.subtitles = String(data.id);
  });
  subtitleSelect.addEventListener("change", () => {
    subtitlesByLearner = true;
    const index = Number(subtitleSelect.value);
    hls.subtitleTrack = index;
    hls.subtitleDisplay = index >= 0;
    root.dataset.subtitles = String(index);
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) message.textContent = t("player.error", { message: data.details });
  });
  hls.loadSource(recording.hls);
  hls.attachMedia(video);
  video.addEventListener("timeupdate", () => {
    if (Math.abs(video.currentTime - lastSaved) >= SAVE_EVERY_S) savePosition();
  });
  video.addEventListener("pause", savePosition);
  window.addEventListener("pagehide", savePosition);
}

start();
