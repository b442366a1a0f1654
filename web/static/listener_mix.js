// What a listener hears: every voice the page receives goes through the Web Audio mixer
// (mixer.js), at the level the interpretation state sets: the chosen channel's
// interpreter at full level, the floor lowered under it, or at full level when the floor
// speaks the channel's language. An interpreter hears their relay source the same way.

import { dbToGain } from "/static/mixer.js";

/** A listener's choice of the floor alone. */
export const ORIGINAL = "original";
/** An interpreter's relay source when it is the floor, not another channel. */
export const FLOOR = "floor";
const FLOOR_SOURCES = new Set(["microphone", "screen"]);
const MIXED_SOURCES = new Set(["microphone", "screen", "interpretation", "booth"]);

/**
 * @typedef {import("/static/interpretation.js").Channel} Channel
 * @typedef {import("/static/interpretation.js").TrackDetail} TrackDetail
 * @typedef {import("/static/mixer.js").Mixer} Mixer
 * @typedef {{channels: Map<string, Channel>, booth: string|null, floorLanguage: string|null,
 *   listening: {channel: string, floor_db: number}, you: {id: string}}} Listening
 */

/**
 * Mix the audio tracks the media session receives, from the floor and the interpreters.
 * @param {any} media a MediaSession (media.js)
 * @param {Mixer} mixer
 */
export function mixTracks(media, mixer) {
  media.addEventListener("track", (/** @type {CustomEvent<TrackDetail>} */ event) => {
    const { participant, source, kind, track } = event.detail;
    if (kind === "audio" && MIXED_SOURCES.has(source)) {
      mixer.add({ participant, source, track });
    }
  });
  media.addEventListener("trackended", (/** @type {CustomEvent<TrackDetail>} */ event) => {
    mixer.remove(event.detail.participant, event.detail.source);
  });
}

/**
 * The page's own audio elements play the floor at full level: mute them and mix
 * their tracks instead (they keep playing, which Chromium needs for Web Audio).
 * @param {Mixer} mixer
 * @param {MutationRecord[]} records the elements added, or none: every element in the page
 */
export function muteStageAudio(mixer, records) {
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
    if (track) mixer.add({ participant, source, track });
  }
}

/**
 * What this participant hears besides the floor: a channel, or null for the floor alone.
 * @param {Listening} state
 */
export function hearing(state) {
  if (state.booth) {
    const booth = state.channels.get(state.booth)?.booth;
    const relay = booth?.find((m) => m.id === state.you.id)?.relay;
    return relay && relay !== FLOOR ? relay : null;
  }
  return state.listening.channel === ORIGINAL ? null : state.listening.channel;
}

/**
 * The gain of one source: the channel heard's interpreter at full level, the floor
 * lowered under it, or at full level when the floor speaks the channel's language.
 * @param {Listening} state
 * @param {string} participant
 * @param {string} source
 */
export function level(state, participant, source) {
  if (source === "booth") return 1;
  const heard = hearing(state);
  const channel = heard ? state.channels.get(heard) : null;
  const onAir = channel?.on_air ?? null;
  if (source === "interpretation") return onAir !== null && participant === onAir ? 1 : 0;
  // A sign language is seen, not heard: the floor stays at full level under it.
  if (onAir === null || state.floorLanguage === heard || channel?.signed) return 1;
  return dbToGain(state.listening.floor_db);
}
