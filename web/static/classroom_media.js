// The classroom's media and feature panels, started once you are in the room: the
// MediaSession of media.js (its tracks on the stage, the active speaker) and the polls,
// recording and interpretation panels of the features that are deployed.

import { MediaSession } from "/static/media.js";
import { showMediaState } from "/static/media_health.js";
import { ViewSizes } from "/static/view_sizes.js";
import { $, importIfPresent } from "/static/classroom_page.js";

/** @typedef {import("/static/classroom_room.js").Classroom} Classroom */

/** @param {Classroom} room */
export async function startMedia(room) {
  if (room.media || !room.connection || !room.can("subscribe_media")) return;
  // ICE servers come from the server (media_config); none of our own to add.
  const media = new MediaSession(room.connection, { iceServers: [] });
  // Created after our welcome (a lobby's welcome comes before we may receive media),
  // so tell the session who we are; it learns it again from every later welcome.
  media.you ||= room.you;
  room.media = media;
  new ViewSizes(media); // tells the server how big each video is shown; stops with the media
  showMediaState(media, $("#media-state"));
  media.addEventListener("track", (/** @type {any} */ event) => {
    room.stage.attach(event.detail);
    room.render();
  });
  media.addEventListener("trackended", (/** @type {any} */ event) => {
    room.stage.detach(event.detail);
    room.render();
  });
  media.addEventListener("activespeaker", (/** @type {any} */ event) => {
    room.activeSpeaker = event.detail.id;
    room.render();
  });
  room.interpretation?.setMedia?.(media);
  if (room.can("publish_media") && room.localStream.getTracks().length) {
    await media.publish(room.localStream);
  }
  room.controls.applyLocalTracks();
  room.render();
}

/**
 * Mount the polls and interpretation panels of the features that are deployed.
 * @param {Classroom} room
 */
export async function mountFeatures(room) {
  if (room.featuresMounted) return;
  room.featuresMounted = true;
  if (room.can("moderate")) room.moderation.loadModules();
  const you = { ...room.me, id: room.you };
  const polls = await importIfPresent("/static/polls.js");
  if (polls?.mountPolls) {
    $("#polls").hidden = false;
    polls.mountPolls($("#polls"), room.connection, you);
  }
  const cameras = room.can("moderate") ? await importIfPresent("/static/cameras.js") : null;
  cameras?.mountCameras?.($("#cameras"), room.connection, you);
  const recording = await importIfPresent("/static/recording.js");
  recording?.mountRecording?.($("#recording"), room.connection, you);
  const interpretation = await importIfPresent("/static/interpretation.js");
  if (interpretation?.mountInterpretation) {
    $("#interpretation").hidden = false;
    room.interpretation = interpretation.mountInterpretation(
      $("#interpretation"),
      room.connection,
      room.media,
      you,
    );
  }
}
