// UI strings in the page's language: loads /static/locales/<lang>.json (English as fallback).
// The page's language is the one the server rendered into <html lang>; templates use the
// same catalogues, so a key reads the same on the server and in the browser.

const FALLBACK = "en";

/** @type {Record<string, string>} */
let strings = {};
/** @type {Record<string, string>} */
let fallback = {};
let language = FALLBACK;

/**
 * @param {string} lang
 * @returns {Promise<Record<string, string>>}
 */
async function fetchCatalogue(lang) {
  const response = await fetch(`/static/locales/${encodeURIComponent(lang)}.json`);
  if (!response.ok) throw new Error(`no catalogue for ${lang} (HTTP ${response.status})`);
  return response.json();
}

/**
 * Load the catalogue of a language (default: the page's own) before calling t().
 * @param {string} [lang]
 */
export async function loadLanguage(lang = document.documentElement.lang || FALLBACK) {
  language = lang;
  fallback = await fetchCatalogue(FALLBACK);
  strings = lang === FALLBACK ? fallback : await fetchCatalogue(lang).catch(() => fallback);
}

/**
 * The translation of a key, with {placeholders} filled in; the key itself if none exists.
 * @param {string} key
 * @param {Record<string, string|number>} [values]
 * @returns {string}
 */
export function t(key, values = {}) {
  const text = strings[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    name in values ? String(values[name]) : whole,
  );
}

/** @returns {string} the language loaded */
export function currentLanguage() {
  return language;
}

/**
 * A clock time (hours and minutes) in the page's language.
 * @param {number} epochSeconds
 * @returns {string}
 */
export function formatTime(epochSeconds) {
  /** @type {Intl.DateTimeFormatOptions} */
  const options = { hour: "2-digit", minute: "2-digit" };
  let format = new Intl.DateTimeFormat(language, options);
  if (format.resolvedOptions().locale.split("-")[0] !== language.split("-")[0]) {
    // Some browser builds carry no data for the language (Macedonian and Albanian in
    // Debian's Chromium) and fall back to American English: keep the 24-hour clock
    // those countries use rather than "08:05 PM".
    format = new Intl.DateTimeFormat(language, { ...options, hourCycle: "h23" });
  }
  return format.format(new Date(epochSeconds * 1000));
}

/**
 * A date and time in the page's language ("6. 12. 2026. 14:05" in Serbian). A browser
 * build with no data for the language (Macedonian and Albanian in Debian's Chromium)
 * would fall back to American English: write day.month.year and the 24-hour clock
 * those countries use instead.
 * @param {number} epochSeconds
 * @returns {string}
 */
export function formatDate(epochSeconds) {
  const when = new Date(epochSeconds * 1000);
  const format = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });
  if (format.resolvedOptions().locale.split("-")[0] === language.split("-")[0]) return format.format(when);
  /** @type {Intl.DateTimeFormatOptions} */
  const numeric = { day: "numeric", month: "numeric", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  const parts = Object.fromEntries(new Intl.DateTimeFormat(language, numeric).formatToParts(when).map((p) => [p.type, p.value]));
  return `${parts.day}.${parts.month}.${parts.year} ${parts.hour}:${parts.minute}`;
}

/**
 * What an API error body says, in the page's language: a refused token by its reason
 * (refused.reason.*), other errors by their code (error.*), else the server's words.
 * @param {any} body the JSON reply ({error: {code, message, reason?}})
 * @param {number} [status] the HTTP status, said when the body says nothing
 * @returns {string}
 */
export function errorText(body, status) {
  const error = body?.error;
  const key = error?.reason ? `refused.reason.${error.reason}` : error?.code ? `error.${error.code}` : "";
  if (key && (strings[key] ?? fallback[key])) return t(key);
  return error?.message || `HTTP ${status ?? ""}`.trim();
}
