// The chat: a log announced to screen readers as messages arrive, and the message form.

import { formatTime, t } from "/static/i18n.js";

/**
 * @typedef {{id: string, sender: string, name: string, text: string, at: number}} ChatMessage
 */

const KEEP = 200; // messages kept for a reload of the page

export class Chat {
  /**
   * @param {HTMLElement} root the chat section
   * @param {{you: string, send: (text: string) => void, saved: ChatMessage[],
   *   onChange: (messages: ChatMessage[]) => void}} options
   */
  constructor(root, options) {
    this.log = /** @type {HTMLOListElement} */ (root.querySelector("#chat-log"));
    this.form = /** @type {HTMLFormElement} */ (root.querySelector("#chat-form"));
    this.input = /** @type {HTMLTextAreaElement} */ (root.querySelector("#chat-input"));
    this.options = options;
    /** @type {ChatMessage[]} */
    this.messages = [];
    /** @type {Set<string>} */
    this.seen = new Set();
    for (const message of options.saved) this.add(message);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    // Enter sends, Shift+Enter starts a new line (as in most chat tools).
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
  }

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    this.options.send(text);
    this.input.value = "";
  }

  /** @param {ChatMessage} message */
  add(message) {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    this.messages.push(message);
    if (this.messages.length > KEEP) {
      const old = /** @type {ChatMessage} */ (this.messages.shift());
      this.seen.delete(old.id);
      this.log.firstElementChild?.remove();
    }
    const nearBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    const item = document.createElement("li");
    item.className = message.sender === this.options.you ? "chat-message mine" : "chat-message";
    const header = document.createElement("div");
    header.className = "chat-header";
    const who = document.createElement("span");
    who.className = "chat-name";
    who.textContent = message.sender === this.options.you ? t("chat.you") : message.name;
    const time = document.createElement("time");
    time.dateTime = new Date(message.at * 1000).toISOString();
    time.textContent = formatTime(message.at);
    header.append(who, time);
    const text = document.createElement("p");
    text.className = "chat-text";
    text.dir = "auto"; // an Arabic line in an English page (and the reverse) reads right
    text.textContent = message.text;
    item.append(header, text);
    this.log.append(item);
    if (nearBottom) this.log.scrollTop = this.log.scrollHeight;
    this.options.onChange(this.messages);
  }
}
