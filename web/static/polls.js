// Polls and quizzes in the classroom: trainers make, open, close and publish polls and see
// answers arrive; participants answer. A room device also shows the code that pairs phones.
// Plain DOM and ES modules; every string comes from the locale catalogues (i18n.js).

import { loadLanguage, t } from "/static/i18n.js";
import { barChart, el } from "/static/poll_charts.js";
import { QuizPanel } from "/static/quiz_panel.js";

/**
 * @typedef {{answered: number, counts: number[], texts: string[]}} Tally
 * @typedef {{id: string, question: string, kind: string, options: string[], anonymous: boolean,
 *   allow_change: boolean, scale: number, text_max: number, state: string, published: boolean,
 *   tally?: Tally, answered?: boolean, your_answer?: any}} Poll
 * @typedef {{sub?: string, id?: string, name: string, role: string, permissions?: string[]}} You
 */

/**
 * Mount the polls panel into an element.
 * @param {HTMLElement} element
 * @param {import("/static/protocol.js").ClassroomConnection} connection
 * @param {You} you the welcome's identity (with permissions when known)
 */
export async function mountPolls(element, connection, you) {
  if (!document.querySelector('link[href="/static/polls.css"]')) {
    document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: "/static/polls.css" }));
  }
  await loadLanguage();
  const panel = new PollsPanel(element, connection, you);
  if (you.role === "room") {
    const { PairingPanel } = await import("/static/pairing.js");
    new PairingPanel(panel.pairingRoot, connection);
  }
  panel.send("get_polls");
  return panel;
}

export class PollsPanel {
  /**
   * @param {HTMLElement} root
   * @param {import("/static/protocol.js").ClassroomConnection} connection
   * @param {You} you
   */
  constructor(root, connection, you) {
    this.root = root;
    this.connection = connection;
    this.manage = you.role === "trainer" || (you.permissions || []).includes("manage_polls");
    /** @type {Map<string, Poll>} */
    this.polls = new Map();
    /** @type {Map<string, HTMLElement>} */
    this.cards = new Map();
    root.classList.add("polls");
    root.replaceChildren();
    root.append(el("h2", { id: "polls-heading" }, t("polls.title")));
    this.alert = el("p", { role: "alert", class: "polls-alert" });
    this.pairingRoot = el("div", { class: "pairing" });
    root.append(this.alert, this.pairingRoot);
    if (this.manage) root.append(this.creationForm());
    this.list = el("div", { class: "poll-list", "aria-live": "polite" });
    this.empty = el("p", { class: "polls-empty" }, t("polls.none"));
    root.append(this.list, this.empty);
    this.quizzes = new QuizPanel(root, connection, this.manage, (type, fields) => this.send(type, fields));
    if (this.manage) {
      this.reports = el("ul", { class: "session-reports" });
      const section = el("section", { class: "reports", "aria-labelledby": "reports-heading" }, [
        el("h2", { id: "reports-heading" }, t("polls.reports")),
        this.reports,
      ]);
      root.append(section);
      this.listSessions(you);
      connection.addEventListener("session_changed", () => this.listSessions(you));
    }
    connection.addEventListener("question_opened", (/** @type {any} */ event) => this.attention(event.detail.quiz));
    const on = (/** @type {string} */ type, /** @type {(m: any) => void} */ handler) =>
      connection.addEventListener(type, (/** @type {any} */ event) => handler(event.detail));
    on("polls_snapshot", (m) => {
      this.polls.clear();
      for (const card of this.cards.values()) card.remove();
      this.cards.clear();
      for (const poll of m.polls) this.upsert(poll);
      this.quizzes.reset(m.quizzes);
      const waiting = m.polls.find((/** @type {Poll} */ p) => p.state === "open" && !p.answered);
      if (waiting) this.attention(waiting.id);
    });
    on("poll_created", (m) => this.upsert(m.poll));
    on("poll_opened", (m) => {
      this.upsert({ ...this.polls.get(m.poll.id), ...m.poll });
      this.attention(m.poll.id);
    });
    on("poll_closed", (m) => this.upsert({ ...this.polls.get(m.poll.id), ...m.poll }));
    on("poll_tallied", (m) => this.patch(m.poll, { tally: m.tally }));
    on("poll_results_published", (m) => this.patch(m.poll, { tally: m.tally, published: true }));
    on("poll_answer_recorded", (m) => {
      this.patch(m.poll, { answered: true, your_answer: m.answer });
      this.status(m.poll, t(m.changed ? "polls.answer_changed" : "polls.answer_recorded"));
    });
  }

  /**
   * Tell the page that something wants an answer now (a poll or a question opened), so a
   * page that keeps this panel folded away (a big screen) can show it.
   * @param {string} id
   */
  attention(id) {
    if (this.manage) return;
    this.root.dispatchEvent(new CustomEvent("pollsattention", { bubbles: true, detail: { id } }));
  }

  /**
   * Links to the report of each session of this room (trainers).
   * @param {You} you
   */
  async listSessions(you) {
    const room = /** @type {any} */ (you).room;
    const token = /** @type {any} */ (this.connection).token;
    if (!room || !token || !this.reports) return;
    const response = await fetch(`/api/rooms/${encodeURIComponent(room)}/sessions`, {
      headers: { Authorization: `Bearer ${token}` },
    }).catch(() => null);
    if (!response?.ok) return;
    const { sessions } = await response.json();
    this.reports.replaceChildren(
      ...sessions.reverse().map((/** @type {any} */ session) => {
        const when = session.started_at ? new Date(session.started_at * 1000).toLocaleString() : "";
        const href = `/sessions/${encodeURIComponent(session.id)}/report?token=${encodeURIComponent(token)}`;
        const link = el("a", { href, target: "_blank", rel: "noopener" }, t("polls.report_of", { title: session.title, when }));
        return el("li", {}, link);
      }),
    );
  }

  /**
   * Send a message; the server's error answering it (protocol.js matches it by ref) shows
   * in the panel's alert, which each new message clears.
   * @param {string} type
   * @param {object} [fields]
   */
  send(type, fields = {}) {
    this.alert.textContent = "";
    this.connection.command(type, fields).catch((error) => {
      // Storage out of reach says so in the reader's language; other refusals in the server's.
      const code = /** @type {{code?: string}} */ (error).code;
      this.alert.textContent = code === "store_unavailable" ? t("error.store_unavailable") : error.message;
    });
  }

  /** @param {string} id @param {Partial<Poll>} change */
  patch(id, change) {
    const poll = this.polls.get(id);
    if (poll) this.upsert({ ...poll, ...change });
  }

  /** @param {Poll} poll */
  upsert(poll) {
    const before = this.polls.get(poll.id);
    this.polls.set(poll.id, poll);
    let card = this.cards.get(poll.id);
    if (!card) {
      card = el("article", { class: "poll", "data-poll": poll.id, "aria-labelledby": `q-${poll.id}` });
      this.cards.set(poll.id, card);
      this.list.prepend(card);
    }
    // Rebuild the answer form only when the poll's state changes, not at every tally,
    // so that a participant's half-made choice and the keyboard focus stay where they are.
    if (!before || before.state !== poll.state || !card.firstChild) this.draw(card, poll);
    this.drawResults(card, poll);
    this.empty.hidden = this.polls.size > 0;
  }

  /** @param {HTMLElement} card @param {Poll} poll */
  draw(card, poll) {
    const heading = el("h3", { id: `q-${poll.id}` }, poll.question);
    const meta = el(
      "p",
      { class: "poll-meta" },
      [t(`polls.kind.${poll.kind}`), t(`polls.state.${poll.state}`), poll.anonymous ? t("polls.anonymous") : ""]
        .filter(Boolean)
        .join(" · "),
    );
    /** @type {HTMLElement[]} */
    const parts = [heading, meta];
    if (this.manage) parts.push(this.controls(poll));
    else if (poll.state === "open") parts.push(this.answerForm(poll));
    parts.push(el("p", { class: "poll-status", role: "status" }), el("div", { class: "poll-results" }));
    card.replaceChildren(...parts);
  }

  /** @param {string} id @param {string} text */
  status(id, text) {
    const node = this.cards.get(id)?.querySelector(".poll-status");
    if (node) node.textContent = text;
  }

  /** @param {Poll} poll */
  controls(poll) {
    const bar = el("div", { class: "poll-controls", role: "group", "aria-label": t("polls.controls") });
    const button = (/** @type {string} */ label, /** @type {string} */ type) => {
      const b = el("button", { type: "button" }, t(label));
      b.addEventListener("click", () => this.send(type, { poll: poll.id }));
      bar.append(b);
    };
    if (poll.state === "draft") button("polls.open", "open_poll");
    if (poll.state === "open") button("polls.close", "close_poll");
    if (poll.state === "closed" && !poll.published) button("polls.publish", "publish_poll");
    return bar;
  }

  /** @param {Poll} poll */
  answerForm(poll) {
    const form = el("form", { class: "poll-answer" });
    const fieldset = el("fieldset", {});
    fieldset.append(el("legend", { class: "visually-hidden" }, poll.question));
    const name = `answer-${poll.id}`;
    /** @type {() => any} */
    let read;
    if (poll.kind === "text") {
      const id = `${name}-text`;
      const area = el("textarea", { id, name, maxlength: String(poll.text_max), rows: "2", required: "" });
      if (typeof poll.your_answer === "string") area.value = poll.your_answer;
      fieldset.append(el("label", { for: id }, t("polls.your_text", { max: poll.text_max })), area);
      read = () => area.value;
    } else {
      const multiple = poll.kind === "multiple";
      const labels = poll.kind === "rating" ? Array.from({ length: poll.scale }, (_, i) => String(i + 1)) : poll.options;
      const values = labels.map((_, i) => (poll.kind === "rating" ? i + 1 : i));
      const mine = new Set([poll.your_answer].flat());
      labels.forEach((label, i) => {
        const id = `${name}-${i}`;
        const input = el("input", { type: multiple ? "checkbox" : "radio", id, name, value: String(values[i]) });
        if (mine.has(values[i])) /** @type {HTMLInputElement} */ (input).checked = true;
        fieldset.append(el("div", { class: "choice" }, [input, el("label", { for: id }, label)]));
      });
      read = () => {
        const chosen = [...fieldset.querySelectorAll("input:checked")].map((i) =>
          Number(/** @type {HTMLInputElement} */ (i).value),
        );
        return multiple ? chosen : chosen[0];
      };
    }
    const locked = poll.answered && !poll.allow_change;
    const submit = el("button", { type: "submit" }, t(poll.answered ? "polls.change" : "polls.send"));
    if (locked) {
      fieldset.setAttribute("disabled", "");
      submit.setAttribute("disabled", "");
    }
    form.append(fieldset, submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const answer = read();
      if (answer === undefined || (Array.isArray(answer) && !answer.length) || answer === "") {
        this.alert.textContent = t("polls.choose_first");
        return;
      }
      this.send("answer_poll", { poll: poll.id, answer });
      if (!poll.allow_change) {
        fieldset.setAttribute("disabled", "");
        submit.setAttribute("disabled", "");
      }
    });
    if (locked) queueMicrotask(() => this.status(poll.id, t("polls.answer_recorded")));
    return form;
  }

  /** @param {HTMLElement} card @param {Poll} poll */
  drawResults(card, poll) {
    const box = /** @type {HTMLElement} */ (card.querySelector(".poll-results"));
    if (!poll.tally) {
      box.replaceChildren();
      return;
    }
    const answered = el("p", { class: "poll-answered" }, t("polls.answered", { count: poll.tally.answered }));
    if (poll.kind === "text") {
      const list = el("ul", { class: "poll-texts" }, poll.tally.texts.map((text) => el("li", {}, text)));
      box.replaceChildren(answered, list);
      return;
    }
    const labels =
      poll.kind === "rating" ? Array.from({ length: poll.scale }, (_, i) => String(i + 1)) : poll.options;
    box.replaceChildren(answered, barChart(poll.question, labels, poll.tally.counts));
  }

  /** A form to make a poll on the spot (or keep it as a draft). */
  creationForm() {
    const form = el("form", { class: "poll-create", "aria-labelledby": "poll-create-heading" });
    const field = (/** @type {string} */ id, /** @type {string} */ label, /** @type {HTMLElement} */ input) => {
      input.id = id;
      return el("div", { class: "field" }, [el("label", { for: id }, t(label)), input]);
    };
    const question = el("input", { name: "question", required: "", maxlength: "500" });
    const kind = el(
      "select",
      { name: "kind" },
      ["single", "multiple", "rating", "text"].map((k) => el("option", { value: k }, t(`polls.kind.${k}`))),
    );
    const options = el("textarea", { name: "options", rows: "4" });
    const scale = el("input", { name: "scale", type: "number", min: "2", max: "10", value: "5" });
    const textMax = el("input", { name: "text_max", type: "number", min: "1", max: "1000", value: "280" });
    const check = (/** @type {string} */ name, /** @type {string} */ label) => {
      const id = `poll-new-${name}`;
      const box = el("input", { type: "checkbox", id, name });
      return el("div", { class: "choice" }, [box, el("label", { for: id }, t(label))]);
    };
    const openNow = el("button", { type: "submit", value: "open" }, t("polls.create_open"));
    const draft = el("button", { type: "submit", value: "draft" }, t("polls.create_draft"));
    form.append(
      el("h3", { id: "poll-create-heading" }, t("polls.new")),
      field("poll-new-question", "polls.question", question),
      field("poll-new-kind", "polls.kind", kind),
      field("poll-new-options", "polls.options", options),
      field("poll-new-scale", "polls.scale", scale),
      field("poll-new-text-max", "polls.text_max", textMax),
      check("anonymous", "polls.anonymous"),
      check("allow_change", "polls.allow_change"),
      el("div", { class: "buttons" }, [openNow, draft]),
    );
    const showFor = () => {
      const k = /** @type {HTMLSelectElement} */ (kind).value;
      // Each of the three sits in its own field (a div, see field() above).
      /** @type {HTMLElement} */ (options.parentElement).hidden = !(k === "single" || k === "multiple");
      /** @type {HTMLElement} */ (scale.parentElement).hidden = k !== "rating";
      /** @type {HTMLElement} */ (textMax.parentElement).hidden = k !== "text";
    };
    kind.addEventListener("change", showFor);
    showFor();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(/** @type {HTMLFormElement} */ (form));
      const k = String(data.get("kind"));
      /** @type {Record<string, any>} */
      const fields = {
        question: String(data.get("question")),
        kind: k,
        anonymous: data.get("anonymous") === "on",
        allow_change: data.get("allow_change") === "on",
        open: /** @type {SubmitEvent} */ (event).submitter?.getAttribute("value") !== "draft",
      };
      if (k === "single" || k === "multiple") {
        fields.options = String(data.get("options"))
          .split("\n")
          .map((line) => line.trim())
          .filter(Boolean);
      }
      if (k === "rating") fields.scale = Number(data.get("scale"));
      if (k === "text") fields.text_max = Number(data.get("text_max"));
      this.send("create_poll", fields);
      /** @type {HTMLFormElement} */ (form).reset();
      showFor();
      question.focus();
    });
    return form;
  }
}
