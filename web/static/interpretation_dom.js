// Building the interpretation panel's elements: tags with their properties, and language
// names marked with their own language and direction. Shared by interpretation.js (the
// panel) and interpreter_console.js (the booth controls).

import { t } from "/static/i18n.js";

const RTL = new Set(["ar", "fa", "ps"]);

/**
 * The name of a language code, from the locale catalogue.
 * @param {string} code
 */
export function languageName(code) {
  return t(`language.${code}`);
}

/**
 * An element with properties (attributes for aria-*, role and for) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [props]
 * @param {(Node|string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, children = []) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("aria-") || key === "role" || key === "for") {
      element.setAttribute(key, String(value));
    } else /** @type {any} */ (element)[key] = value;
  }
  element.append(...children);
  return element;
}

/**
 * A language name marked with its own language and direction (Arabic, Pashto, Farsi: RTL).
 * @param {string} code
 */
export function languageLabel(code) {
  return h("span", { lang: code === "cnr" ? "sr-ME" : code, dir: RTL.has(code) ? "rtl" : "ltr" }, [
    languageName(code),
  ]);
}
