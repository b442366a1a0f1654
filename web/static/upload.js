// The upload page: a trainer sends a module's video, a sound per further language and
// subtitles (WebVTT or SRT) into the library. Each file goes with tus-js-client (loaded
// beside this module as window.tus): in pieces, resumed after a broken link or a reload
// of the page; then POST /api/library/imports, and the library prepares it (progress shown).
import { joinToken } from "/static/join.js";
import { errorText, loadLanguage, t } from "/static/i18n.js";
import { languageName } from "/static/languages.js";

const CHUNK_BYTES = 8 * 1024 * 1024; // a request a poor link carries in a few seconds
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000, 20000, 30000];
const REFRESH_MS = 2000;

/** @type {any} */
const tus = /** @type {any} */ (window).tus;
const root = /** @type {HTMLElement} */ (document.getElementById("upload"));
const form = /** @type {HTMLFormElement} */ (document.getElementById("upload-form"));
const list = /** @type {HTMLElement} */ (document.getElementById("upload-progress"));
const message = /** @type {HTMLElement} */ (document.getElementById("upload-message"));
const rowTemplate = /** @type {HTMLTemplateElement} */ (document.getElementById("language-row"));
const maxBytes = Number(root.dataset.maxBytes || 0);
let rows = 0;

/** @param {ParentNode} where */
function nameLanguages(where) {
  for (const option of where.querySelectorAll("option[data-language]")) {
    option.textContent = languageName(/** @type {HTMLElement} */ (option).dataset.language || "");
  }
}

/** @param {HTMLElement} fieldset @param {string} kind @param {string} accept */
function addRow(fieldset, kind, accept) {
  const row = /** @type {HTMLElement} */ (
    /** @type {DocumentFragment} */ (rowTemplate.content.cloneNode(true)).firstElementChild
  );
  rows += 1;
  row.dataset.kind = kind;
  const [languageLabel, fileLabel] = row.querySelectorAll("label");
  const select = /** @type {HTMLSelectElement} */ (row.querySelector("select"));
  const input = /** @type {HTMLInputElement} */ (row.querySelector("input[type=file]"));
  select.id = `${kind}-language-${rows}`;
  input.id = `${kind}-file-${rows}`;
  languageLabel.htmlFor = select.id;
  fileLabel.htmlFor = input.id;
  input.accept = accept;
  nameLanguages(row);
  const remove = /** @type {HTMLButtonElement} */ (row.querySelector(".remove-row"));
  remove.addEventListener("click", () => row.remove());
  fieldset.insertBefore(row, fieldset.querySelector("button:last-of-type"));
  select.focus();
}

/** @param {number} bytes */
function size(bytes) {
  const units = ["B", "kB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

/**
 * One file up, resumably; resolves with its upload id.
 * @param {File} file @param {string} label what the file is, for the progress list
 * @param {string} token
 * @returns {Promise<string>}
 */
function send(file, label, token) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = `${label}: ${file.name}`;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", label);
  const text = document.createElement("span");
  text.className = "progress-text";
  item.append(name, bar, text);
  list.append(item);
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, {
      endpoint: "/api/uploads",
      headers: { Authorization: `Bearer ${token}` },
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS_MS,
      removeFingerprintOnSuccess: true,
      /** @param {number} sent @param {number} total */
      onProgress(sent, total) {
        const percent = total ? Math.floor((sent / total) * 100) : 100;
        bar.value = percent;
        text.textContent = t("upload.progress", { percent, sent: size(sent), total: size(total) });
      },
      /** @param {any} error */
      onError(error) {
        text.textContent = t("upload.file_failed");
        reject(error);
      },
      onSuccess() {
        bar.value = 100;
        text.textContent = t("upload.file_done", { total: size(file.size) });
        resolve(String(upload.url).split("/").pop() || "");
      },
    });
    // A file sent in part before (the page was closed, the link broke): go on from there.
    upload.findPreviousUploads().then((/** @type {any[]} */ previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  });
}

/** @param {any} body @param {number} status */
function refusal(body, status) {
  const reason = body?.error?.reason;
  const key = `upload.reason.${reason}`;
  if (reason && t(key) !== key) return t(key, { file: body.error.file || "" });
  return errorText(body, status);
}

/** @param {string} id @param {string} token */
async function follow(id, token) {
  const response = await fetch(`/api/recordings/${encodeURIComponent(id)}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = await response.json();
  if (!response.ok) throw new Error(errorText(body, response.status));
  if (body.status === "ready") {
    message.textContent = "";
    const link = document.createElement("a");
    link.href = `/library/${encodeURIComponent(id)}`;
    link.id = "upload-ready";
    link.textContent = t("upload.ready", { title: body.title });
    message.append(link);
    return;
  }
  if (body.status === "failed") {
    message.textContent = t("library.status.failed", { error: body.error || "" });
    return;
  }
  message.textContent = t("library.status.processing", { percent: Math.floor(body.progress || 0) });
  window.setTimeout(() => follow(id, token).catch(shown), REFRESH_MS);
}

/** @param {unknown} error */
function shown(error) {
  message.textContent = t("upload.failed", { message: error instanceof Error ? error.message : String(error) });
}

/** @param {HTMLElement} row */
function rowFile(row) {
  const input = /** @type {HTMLInputElement} */ (row.querySelector("input[type=file]"));
  const select = /** @type {HTMLSelectElement} */ (row.querySelector("select"));
  return { file: input.files?.[0], language: select.value };
}

async function submit() {
  const token = joinToken();
  if (!token) {
    message.textContent = t("library.no_token");
    return;
  }
  const title = /** @type {HTMLInputElement} */ (form.elements.namedItem("title"));
  const video = /** @type {HTMLInputElement} */ (form.elements.namedItem("video")).files?.[0];
  if (!title.value.trim()) {
    message.textContent = t("upload.need_title");
    title.focus();
    return;
  }
  if (!video) {
    message.textContent = t("upload.need_video");
    /** @type {HTMLElement} */ (form.elements.namedItem("video")).focus();
    return;
  }
  const sounds = [...form.querySelectorAll("[data-kind=audio]")].map((r) => rowFile(/** @type {HTMLElement} */ (r)));
  const captions = [...form.querySelectorAll("[data-kind=subtitles]")].map((r) => rowFile(/** @type {HTMLElement} */ (r)));
  const all = [video, ...sounds.map((s) => s.file), ...captions.map((s) => s.file)];
  if (all.some((file) => !file)) {
    message.textContent = t("upload.need_files");
    return;
  }
  const large = all.find((file) => file && maxBytes && file.size > maxBytes);
  if (large) {
    message.textContent = t("upload.reason.too_large", { file: large.name });
    return;
  }
  const button = /** @type {HTMLButtonElement} */ (document.getElementById("upload-send"));
  button.disabled = true;
  list.replaceChildren();
  message.textContent = t("upload.sending");
  try {
    const language = /** @type {HTMLSelectElement} */ (form.elements.namedItem("language")).value;
    const videoId = await send(video, t("upload.video"), token);
    const audio = [];
    for (const sound of sounds) {
      const upload = await send(/** @type {File} */ (sound.file), languageName(sound.language), token);
      audio.push({ language: sound.language, upload });
    }
    const subtitles = [];
    for (const caption of captions) {
      const label = t("upload.subtitles_of", { language: languageName(caption.language) });
      subtitles.push({ language: caption.language, upload: await send(/** @type {File} */ (caption.file), label, token) });
    }
    const module = /** @type {HTMLSelectElement} */ (form.elements.namedItem("module")).value || null;
    const chapters = /** @type {HTMLTextAreaElement} */ (form.elements.namedItem("chapters")).value;
    const response = await fetch("/api/library/imports", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ title: title.value.trim(), module, language, video: videoId, audio, subtitles, chapters }),
    });
    const body = await response.json();
    if (!response.ok) {
      message.textContent = refusal(body, response.status);
      button.disabled = false;
      return;
    }
    await follow(body.id, token);
  } catch (error) {
    button.disabled = false;
    shown(error);
  }
}

await loadLanguage();
nameLanguages(form);
const sounds = /** @type {HTMLElement} */ (document.getElementById("upload-sounds"));
const captions = /** @type {HTMLElement} */ (document.getElementById("upload-subtitles"));
document.getElementById("add-sound")?.addEventListener("click", () => addRow(sounds, "audio", "audio/*,.mp3,.m4a,.aac,.opus,.ogg,.wav,.flac"));
document.getElementById("add-subtitles")?.addEventListener("click", () => addRow(captions, "subtitles", ".vtt,.srt,text/vtt"));
form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
if (!tus || !tus.isSupported) message.textContent = t("upload.unsupported");
