// The library page: recordings grouped by topic and training module, with search.
// Data from GET /api/recordings with the join token of this tab (see join.js).
import { joinToken } from "/static/join.js";
import { loadLanguage, t, currentLanguage } from "/static/i18n.js";
import { languageName } from "/static/languages.js";

const REFRESH_MS = 3000; // while something is being prepared, its progress is refreshed

const form = /** @type {HTMLFormElement} */ (document.getElementById("library-search"));
const message = /** @type {HTMLElement} */ (document.getElementById("library-message"));
const results = /** @type {HTMLElement} */ (document.getElementById("library-results"));
let timer = 0;

/** @param {number} epochSeconds */
function date(epochSeconds) {
  return new Intl.DateTimeFormat(currentLanguage(), { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(epochSeconds * 1000));
}

/** @param {any} recording */
function statusText(recording) {
  if (recording.status === "processing") {
    return t("library.status.processing", { percent: Math.floor(recording.progress) });
  }
  if (recording.status === "failed") return t("library.status.failed", { error: recording.error || "" });
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
  const parts = [t("library.by", { name: recording.trainer }), date(recording.started_at)];
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
  return item;
}

/** Group by topic, then module; recordings without a module come last. @param {any[]} recordings */
function render(recordings) {
  results.replaceChildren();
  /** @type {Map<string, {title: string, modules: Map<string, {title: string, items: any[]}>}>} */
  const topics = new Map();
  for (const recording of recordings) {
    const topicKey = recording.topic || "";
    if (!topics.has(topicKey)) {
      topics.set(topicKey, { title: recording.topic_title || t("library.other"), modules: new Map() });
    }
    const modules = topics.get(topicKey).modules;
    const moduleKey = recording.module || "";
    if (!modules.has(moduleKey)) modules.set(moduleKey, { title: recording.module_title || "", items: [] });
    modules.get(moduleKey).items.push(recording);
  }
  for (const [topicKey, topic] of topics) {
    const section = document.createElement("section");
    section.dataset.topic = topicKey;
    const heading = document.createElement("h2");
    heading.textContent = topic.title;
    section.append(heading);
    for (const [moduleKey, module] of topic.modules) {
      if (module.title) {
        const title = document.createElement("h3");
        title.textContent = module.title;
        title.dataset.module = moduleKey;
        section.append(title);
      }
      const list = document.createElement("ul");
      list.className = "recordings";
      for (const recording of module.items) list.append(card(recording));
      section.append(list);
    }
    results.append(section);
  }
}

async function load() {
  clearTimeout(timer);
  const token = joinToken();
  if (!token) {
    message.textContent = t("library.no_token");
    return;
  }
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (String(value).trim()) query.set(key, String(value).trim());
  try {
    const response = await fetch(`/api/recordings?${query}`, { headers: { Authorization: `Bearer ${token}` } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
    render(body.recordings);
    message.textContent = body.recordings.length ? "" : t("library.empty");
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
