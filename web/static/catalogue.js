// The catalogue's titles in the page's language: topics and modules carry translations
// (`titles`, by language code, from config/modules.toml); the English title otherwise.
import { currentLanguage } from "/static/i18n.js";

/**
 * The title of a topic or module ({title, titles}) in the page's language.
 * @param {{title?: string|null, titles?: Record<string, string>}|null|undefined} item
 * @returns {string}
 */
export function titleOf(item) {
  if (!item) return "";
  const titles = item.titles || {};
  const lang = currentLanguage();
  return titles[lang] ?? titles[lang.split("-")[0].toLowerCase()] ?? item.title ?? "";
}
