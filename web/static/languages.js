// Language names in the page's language (Intl), for audio channels and search filters.
import { currentLanguage } from "/static/i18n.js";

/**
 * The name of a language code in the page's language ("sq" -> "albanski"), or the code.
 * @param {string} code
 * @returns {string}
 */
export function languageName(code) {
  if (!code || code === "und") return code;
  try {
    const names = new Intl.DisplayNames([currentLanguage()], { type: "language" });
    return names.of(code) || code;
  } catch {
    return code;
  }
}
