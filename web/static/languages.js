// Language names in the page's language, for audio channels and search filters: through
// Intl.DisplayNames, or, where the browser carries no data for the page's language
// (Macedonian and Albanian in Debian's Chromium answer in English), from the page's
// catalogue (language.<code>).
import { currentLanguage, t } from "/static/i18n.js";

/**
 * The name of a language code in the page's language ("sq" -> "albanski"), or the code.
 * @param {string} code
 * @returns {string}
 */
export function languageName(code) {
  if (!code || code === "und") return code;
  const page = currentLanguage();
  try {
    const names = new Intl.DisplayNames([page], { type: "language" });
    const named = names.of(code);
    // A code the browser has no name for comes back as it is (sign languages: "ysl").
    if (names.resolvedOptions().locale.split("-")[0] === page.split("-")[0] && named && named !== code) {
      return named;
    }
  } catch {
    // an unknown code: the catalogue may still name it
  }
  const key = `language.${code}`;
  const named = t(key);
  return named !== key ? named : code;
}
