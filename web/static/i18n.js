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
