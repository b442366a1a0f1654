// A session's report: the presence timeline and result charts (SVG from the server), the
// attendance table, and downloads of the CSV and xAPI exports.

import { titleOf } from "/static/catalogue.js";
import { currentLanguage, errorText, formatDate, formatTime, loadLanguage, t } from "/static/i18n.js";
import { joinToken } from "/static/join.js";

await loadLanguage();
const root = /** @type {HTMLElement} */ (document.getElementById("report"));
const session = root.dataset.session || "";
const status = /** @type {HTMLElement} */ (document.getElementById("report-status"));
const token = joinToken();
const base = `/api/sessions/${encodeURIComponent(session)}`;

/** @param {string} path */
async function get(path) {
  const response = await fetch(`${base}/${path}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(errorText(body, response.status));
  }
  return response;
}

/** Put the server's SVG into a figure, parsed as SVG (never as HTML). @param {string} id @param {string} text */
function showSvg(id, text) {
  const parsed = new DOMParser().parseFromString(text, "image/svg+xml");
  const picture = document.importNode(parsed.documentElement, true);
  picture.setAttribute("aria-labelledby", `${id}-caption`);
  const caption = document.createElement("figcaption");
  caption.id = `${id}-caption`;
  caption.textContent = parsed.querySelector("desc")?.textContent || "";
  caption.className = "visually-hidden";
  /** @type {HTMLElement} */ (document.getElementById(id)).replaceChildren(picture, caption);
}

/** @param {number} seconds */
const minutes = (seconds) => t("report.minutes", { minutes: Math.round(seconds / 60) });

/**
 * The session's training module, by its title in the catalogue, and the presence it asks for.
 * @param {string|null} id
 * @param {number|null} share
 */
async function showModule(id, share) {
  const element = /** @type {HTMLElement} */ (document.getElementById("report-module"));
  element.hidden = false;
  if (!id) {
    element.textContent = t("report.no_module");
    return;
  }
  const response = await fetch("/api/modules", { headers: { Authorization: `Bearer ${token}` } }).catch(() => null);
  const catalogue = response?.ok ? await response.json() : { topics: [] };
  const module = catalogue.topics.flatMap((/** @type {any} */ topic) => topic.modules).find((/** @type {any} */ m) => m.id === id);
  const percent = Math.round((share ?? 0) * 100);
  element.textContent = t("report.module", { title: module ? titleOf(module) : id, percent });
}

/**
 * When the session ran, in the page's language (Intl.DateTimeFormat).
 * @param {{started_at: number|null, ended_at: number|null}} session
 */
function showWhen(session) {
  const element = /** @type {HTMLElement} */ (document.getElementById("report-when"));
  if (session.started_at === null) return;
  element.hidden = false;
  element.textContent =
    session.ended_at === null
      ? t("report.started", { start: formatDate(session.started_at) })
      : t("report.held", { start: formatDate(session.started_at), end: formatDate(session.ended_at) });
}

/**
 * The timeline in the page's language and time zone: its clock times (the server's
 * data-at, data-from, data-to) and its text alternative, from the attendance rows.
 * @param {any[]} rows
 */
function sayTimeline(rows) {
  const figure = /** @type {HTMLElement} */ (document.getElementById("report-timeline"));
  for (const tick of figure.querySelectorAll("text[data-at]")) {
    tick.textContent = formatTime(Number(tick.getAttribute("data-at")));
  }
  for (const span of figure.querySelectorAll("rect[data-from]")) {
    const title = span.querySelector("title");
    const name = (title?.textContent || "").split(": ")[0];
    const times = t("report.span", {
      name,
      from: formatTime(Number(span.getAttribute("data-from"))),
      to: formatTime(Number(span.getAttribute("data-to"))),
    });
    if (title) title.textContent = span.hasAttribute("data-reason") ? `${times} (${t("report.server_stopped")})` : times;
  }
  const caption = figure.querySelector("figcaption");
  if (caption) {
    caption.textContent = rows
      .map((row) => `${row.name} (${t(`role.${row.role}`)}): ${minutes(row.seconds_present)}`)
      .join("; ");
  }
}

async function load() {
  const attendance = await (await get("attendance")).json();
  const title = attendance.session.title;
  /** @type {HTMLElement} */ (document.getElementById("report-title")).textContent = t("report.title_of", { title });
  showModule(attendance.session.module_id, attendance.min_presence);
  showWhen(attendance.session);
  const body = /** @type {HTMLElement} */ (document.querySelector("#report-table tbody"));
  body.replaceChildren(
    ...attendance.rows.map((/** @type {any} */ row) => {
      const tr = document.createElement("tr");
      const completed = row.completed === null ? "" : t(row.completed ? "report.yes" : "report.no");
      // A departure the server never saw (it stopped) was recorded at its last sign of life: say so.
      const present = minutes(row.seconds_present) + (row.server_stops ? ` (${t("report.server_stopped")})` : "");
      for (const value of [row.name, t(`role.${row.role}`), row.joins, present, `${Math.round(row.share * 100)}%`, completed]) {
        const td = document.createElement("td");
        td.textContent = String(value);
        tr.append(td);
      }
      return tr;
    }),
  );
  // The pictures are drawn by the server in the page's language (and direction).
  const lang = `?lang=${encodeURIComponent(currentLanguage())}`;
  showSvg("report-timeline", await (await get(`timeline.svg${lang}`)).text());
  sayTimeline(attendance.rows);
  showSvg("report-charts", await (await get(`charts.svg${lang}`)).text());
}

for (const button of document.querySelectorAll("[data-download]")) {
  button.addEventListener("click", async () => {
    const path = /** @type {HTMLElement} */ (button).dataset.download || "";
    try {
      const blob = await (await get(path)).blob();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = path === "xapi" ? `xapi-${session}.json` : `${path.replace(".csv", "")}-${session}.csv`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (error) {
      status.textContent = String(/** @type {Error} */ (error).message);
    }
  });
}

if (!token) status.textContent = t("report.no_token");
else load().catch((error) => (status.textContent = String(error.message)));
