// The library page: recordings grouped by topic and training module, with search.
// Data from GET /api/recordings with the join token of this tab (see join.js).
import { joinToken } from "/static/join.js";
import { titleOf } from "/static/catalogue.js";
import { errorText, formatDate, loadLanguage, t } from "/static/i18n.js";
import { languageName } from "/static/languages.js";

const REFRESH_MS = 3000; // while something is being prepared, its progress is refreshed

const form = /** @type {HTMLFormElement} */ (document.getElementById("library-search"));
const message = /** @type {HTMLElement} */ (document.getElementById("library-message"));
const results = /** @type {HTMLElement} */ (document.getElementById("library-results"));
let timer = 0;

/** @param {any} recording */
function statusText(recording) {
  if (recording.status === "processing") {
    return t("library.status.processing", { percent: Math.floor(recording.progress) });
  }
  if (recording.status === "failed") {
    // Only the trainers of its room get the reason (and may retry); everyone else a plain sentence.
    return recording.error ? t("library.status.failed", { error: recording.error }) : t("library.status.failed_plain");
  }
  return t(`library.status.${recording.status}`);
}

/** @param {any} recording */
function card(recording) {
  const item = document.createElement("li");
  item.className = "recording";
  item.dataset.id = recording.id;
  item.dataset.status = recording.status;
  if (recording.poster) {
    const image = document.createElement("img");
    image.src = recording.poster;
    image.alt = "";
    image.loading = "lazy";
    item.append(image);
  }
  const heading = document.createElement("h4");
  if (recording.status === "ready") {
    const link = document.createElement("a");
    // The player speaks the library's language (its link carries no token to read it from).
    link.href = `/library/${encodeURIComponent(recording.id)}?lang=${encodeURIComponent(document.documentElement.lang)}`;
    link.textContent = recording.title;
    link.setAttribute("aria-label", t("library.watch", { title: recording.title }));
    heading.append(link);
  } else {
    heading.textContent = recording.title;
  }
  item.append(heading);
  const meta = document.createElement("p");
  meta.className = "meta";
  const parts = [t("library.by", { name: recording.trainer }), formatDate(recording.started_at)];
  if (recording.duration_s) parts.push(t("library.duration", { minutes: Math.max(1, Math.round(recording.duration_s / 60)) }));
  if (recording.languages.length) {
    parts.push(t("library.languages", { list: recording.languages.map(languageName).join(", ") }));
  }
  meta.textContent = parts.join(" · ");
  item.append(meta);
  const state = document.createElement("p");
  state.className = "recording-status";
  state.textContent = statusText(recording);
  if (recording.status === "processing") {
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = recording.progress;
    bar.setAttribute("aria-label", statusText(recording));
    state.append(" ", bar);
  }
  item.append(state);
  if (recording.can_retry) {
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = t("library.retry");
    retry.setAttribute("aria-label", t("library.retry_title", { title: recording.title }));
    retry.addEventListener("click", () => retryProcessing(recording, retry));
    item.append(retry);
  }
  return item;
}

/**
 * The catalogue's topics and modules, each with its recordings; recordings without a module
 * come last. Unfiltered, every module shows (with "none yet"); searching, only those that match.
 * @param {any[]} recordings
 * @param {{topics: any[]}} catalogue from GET /api/modules
 * @param {boolean} filtered
 */
function render(recordings, catalogue, filtered) {
  results.replaceChildren();
  /** @type {Map<string, any[]>} */
  const byModule = new Map();
  for (const recording of recordings) {
    const key = recording.module || "";
    const items = byModule.get(key);
    if (items) items.push(recording);
    else byModule.set(key, [recording]);
  }
  const groups = catalogue.topics.map((topic) => ({
    id: topic.id,
    title: titleOf(topic),
    modules: topic.modules.map((/** @type {any} */ module) => ({
      id: module.id,
      title: titleOf(module),
      items: byModule.get(module.id) || [],
    })),
  }));
  const known = new Set(groups.flatMap((group) => group.modules.map((/** @type {{id: string}} */ m) => m.id)));
  const others = recordings.filter((recording) => !known.has(recording.module || ""));
  if (others.length) {
    groups.push({ id: "", title: t("library.other"), modules: [{ id: "", title: "", items: others }] });
  }
  for (const group of groups) {
    const modules = filtered ? group.modules.filter((/** @type {{items: any[]}} */ m) => m.items.length) : group.modules;
    if (!modules.length) continue;
    const section = document.createElement("section");
    section.dataset.topic = group.id;
    const heading = document.createElement("h2");
    heading.textContent = group.title;
    section.append(heading);
    for (const module of modules) {
      if (module.title) {
        const title = document.createElement("h3");
        title.textContent = module.title;
        title.dataset.module = module.id;
        section.append(title);
      }
      if (!module.items.length) {
        const none = document.createElement("p");
        none.className = "meta";
        none.textContent = t("library.none_yet");
        section.append(none);
        continue;
      }
      const list = document.createElement("ul");
      list.className = "recordings";
      for (const recording of module.items) list.append(card(recording));
      section.append(list);
    }
    results.append(section);
  }
}

/**
 * Process a failed recording again (POST /api/recordings/{id}/retry), then show its progress.
 * @param {any} recording
 * @param {HTMLButtonElement} button
 */
async function retryProcessing(recording, button) {
  button.disabled = true;
  try {
    const response = await fetch(`/api/recordings/${encodeURIComponent(recording.id)}/retry`, {
      method: "POST",
      headers: { Authorization: `Bearer ${joinToken()}` },
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(errorText(body, response.status));
    }
    await load();
  } catch (error) {
    button.disabled = false;
    message.textContent = t("library.retry_failed", { message: error instanceof Error ? error.message : String(error) });
  }
}

/** @type {{topics: any[]}|null} */
let catalogue = null;

async function load() {
  clearTimeout(timer);
  const token = joinToken();
  if (!token) {
    message.textContent = t("library.no_token");
    return;
  }
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (String(value).trim()) query.set(key, String(value).trim());
  const headers = { Authorization: `Bearer ${token}` };
  try {
    if (!catalogue) {
      const me = await fetch("/api/me", { headers });
      const permissions = me.ok ? (await me.json()).permissions || [] : [];
      // Trainers add videos recorded elsewhere (the upload page).
      /** @type {HTMLElement} */ (document.getElementById("library-upload")).hidden = !permissions.includes("manage_library");
      const modules = await fetch("/api/modules", { headers });
      catalogue = modules.ok ? await modules.json() : { topics: [] };
    }
    const response = await fetch(`/api/recordings?${query}`, { headers });
    const body = await response.json();
    if (!response.ok) throw new Error(errorText(body, response.status));
    render(body.recordings, /** @type {{topics: any[]}} */ (catalogue), query.toString() !== "");
    message.textContent = body.recordings.length || !query.toString() ? "" : t("library.empty");
    if (body.recordings.some((/** @type {any} */ r) => r.status === "processing" || r.status === "recording")) {
      timer = window.setTimeout(load, REFRESH_MS);
    }
  } catch (error) {
    message.textContent = t("library.error", { message: error instanceof Error ? error.message : String(error) });
  }
}

await loadLanguage();
for (const option of document.querySelectorAll("#search-language option[data-language]")) {
  option.textContent = languageName(/** @type {HTMLElement} */ (option).dataset.language || "");
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
load();
