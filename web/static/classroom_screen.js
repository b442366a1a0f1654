// A conference room's big screen, which nobody touches: the code and QR code that pair
// the room's phones (asked for by itself, renewed before it expires) with how many have
// joined, the room's own microphone, recording and sound channel in large type, and a
// poll or quiz question taking the whole screen while it is open, then its results.

import { currentLanguage, t } from "/static/i18n.js";
import { languageName } from "/static/languages.js";
import { $, root } from "/static/classroom_page.js";

/** @typedef {import("/static/classroom_room.js").Classroom} Classroom */
/**
 * @typedef {{code: string, expires_at: number, url: string, qr_svg: string}} Issued
 * @typedef {{kind: "poll"|"quiz", id: string, question: string, options: string[],
 *   deadline: number|null, counts: number[]|null, answered: number|null, correct: number[],
 *   texts: string[]}} Question
 */

// pairing.js's panel renews 30 s before expiry; asking a little earlier means its timer
// is moved by our new code instead of drawing a second one.
const RENEW_BEFORE_S = 45;
// Published results stay on the screen this long, then the video comes back.
const RESULTS_S = 45;

/**
 * An element with a class and children.
 * @param {string} tag
 * @param {string} className
 * @param {(string|Node)[]} [children]
 * @returns {HTMLElement}
 */
function node(tag, className, children = []) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  element.append(...children);
  return element;
}

/**
 * The server's QR code, parsed as SVG (never as HTML).
 * @param {Issued} issued
 * @returns {Element}
 */
function qrPicture(issued) {
  const parsed = new DOMParser().parseFromString(
    issued.qr_svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" '),
    "image/svg+xml",
  );
  const picture = document.importNode(parsed.documentElement, true);
  // Drawn at a fixed size by the server: give it a viewBox so that it grows with the box.
  const width = picture.getAttribute("width");
  const height = picture.getAttribute("height");
  if (!picture.hasAttribute("viewBox") && width && height) {
    picture.setAttribute("viewBox", `0 0 ${parseFloat(width)} ${parseFloat(height)}`);
    picture.removeAttribute("width");
    picture.removeAttribute("height");
  }
  picture.setAttribute("role", "img");
  picture.setAttribute("aria-label", t("pairing.qr", { url: issued.url }));
  return picture;
}

/** @param {string} code "ABC123" shown as "ABC 123" */
const spaced = (code) => `${code.slice(0, 3)} ${code.slice(3)}`;

export class RoomScreen {
  /** @param {Classroom} room */
  constructor(room) {
    this.room = room;
    /** @type {Issued|null} */
    this.issued = null;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.renewal = undefined;
    /** @type {Set<string>} phones paired with this device's codes (this kiosk's, not the room's) */
    this.paired = new Set();
    this.recording = false;
    this.channel = "original";
    /** @type {Question|null} */
    this.question = null;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.resultsTimer = undefined;
    /** @type {ReturnType<typeof setInterval>|undefined} */
    this.ticker = undefined;
    /** @type {Map<string, any>} polls as last heard, by id */
    this.polls = new Map();

    this.corner = $("#room-pairing");
    this.cornerQr = node("div", "room-qr");
    this.cornerCode = node("p", "room-code");
    this.cornerUrl = node("p", "room-url");
    this.phones = node("p", "room-phones");
    this.phones.setAttribute("role", "status");
    this.corner.append(
      node("h2", "room-pairing-title", [t("screen.pair_title")]),
      this.cornerQr,
      this.cornerCode,
      this.cornerUrl,
      this.phones,
    );

    this.status = $("#room-status");
    this.microphone = node("span", "room-pill room-microphone");
    this.recordingPill = node("span", "room-pill room-recording", [t("recording.on")]);
    this.channelPill = node("span", "room-pill room-channel");
    this.status.append(this.microphone, this.recordingPill, this.channelPill);

    this.takeover = $("#takeover");
    this.heading = node("h2", "takeover-question");
    this.heading.id = "takeover-question";
    this.meta = node("p", "takeover-meta");
    this.countdown = node("p", "takeover-countdown");
    this.countdown.setAttribute("role", "timer");
    this.body = node("div", "takeover-body");
    this.answerQr = node("div", "takeover-qr");
    this.answerHow = node("p", "takeover-how");
    this.answerCode = node("p", "takeover-code");
    this.answer = node("div", "takeover-answer", [this.answerQr, this.answerCode, this.answerHow]);
    this.takeover.setAttribute("aria-labelledby", this.heading.id);
    this.takeover.append(
      node("div", "takeover-main", [this.meta, this.heading, this.countdown, this.body]),
      this.answer,
    );
    new MutationObserver(() => this.setRecording($("#recording").dataset.recording === "true")).observe(
      $("#recording"),
      { attributes: true, attributeFilter: ["data-recording"] },
    );
  }

  /** Once in the room: listen to the connection, and ask for a code for the phones. */
  start() {
    const connection = this.room.connection;
    if (!connection) return;
    root.classList.add("room-screen");
    const on = (/** @type {string} */ type, /** @type {(m: any) => void} */ handler) =>
      connection.addEventListener(type, (/** @type {any} */ event) => handler(event.detail));
    on("pairing_code_issued", (m) => this.onCode(m));
    on("companion_paired", (m) => {
      this.paired.add(m.companion);
      this.render();
    });
    on("interpretation_state", (m) => this.setChannel(m.listening?.channel));
    on("listening_changed", (m) => this.setChannel(m.channel));
    on("polls_snapshot", (m) => this.onSnapshot(m));
    on("poll_opened", (m) => this.onPoll(m.poll));
    on("poll_closed", (m) => this.onPollClosed(m.poll));
    on("poll_results_published", (m) => this.onPublished(m.poll, m.tally));
    on("question_opened", (m) => this.onQuestion(m));
    on("question_tallied", (m) => this.onQuestionTally(m.quiz, m.tally));
    on("question_closed", (m) => this.onQuestionClosed(m));
    on("quiz_ended", (m) => this.question?.id === m.quiz && this.close());
    if (this.room.can("pair_companion")) this.requestCode();
    this.render();
  }

  requestCode() {
    this.room.sendQuietly("pair_companion");
  }

  /** @param {Issued} issued */
  onCode(issued) {
    this.issued = issued;
    this.cornerQr.replaceChildren(qrPicture(issued));
    this.cornerCode.textContent = spaced(issued.code);
    this.cornerCode.setAttribute("aria-label", t("pairing.code_is", { code: issued.code.split("").join(" ") }));
    this.cornerUrl.textContent = t("screen.pair_how", { url: issued.url.split("?")[0] });
    this.drawAnswerWay();
    clearTimeout(this.renewal);
    const wait = Math.max(5, issued.expires_at - Date.now() / 1000 - RENEW_BEFORE_S);
    this.renewal = setTimeout(() => this.requestCode(), wait * 1000);
    this.render();
  }

  /** @param {string|undefined} channel */
  setChannel(channel) {
    this.channel = channel || "original";
    this.render();
  }

  /** @param {boolean} on */
  setRecording(on) {
    this.recording = on;
    this.render();
  }

  // --- polls and quiz questions ---------------------------------------------------

  /** @param {any} snapshot */
  onSnapshot(snapshot) {
    for (const poll of snapshot.polls) this.polls.set(poll.id, poll);
    const open = snapshot.polls.find((/** @type {any} */ p) => p.state === "open");
    // A room device that (re)joins while a question is open shows it at once.
    const asking = (snapshot.quizzes || []).find((/** @type {any} */ q) => q.question_open && q.question);
    if (asking) this.onQuestion({ quiz: asking.id, question: asking.question, deadline: asking.deadline });
    else if (open) this.onPoll(open);
  }

  /** @param {any} poll */
  onPoll(poll) {
    this.polls.set(poll.id, poll);
    this.show({
      kind: "poll",
      id: poll.id,
      question: poll.question,
      options: this.labels(poll),
      deadline: null,
      counts: null,
      answered: null,
      correct: [],
      texts: [],
    });
  }

  /** @param {any} poll */
  labels(poll) {
    if (poll.kind === "rating") return Array.from({ length: poll.scale }, (_, i) => String(i + 1));
    if (poll.kind === "text") return [];
    return poll.options;
  }

  /** @param {any} poll */
  onPollClosed(poll) {
    this.polls.set(poll.id, { ...this.polls.get(poll.id), ...poll });
    if (this.question?.id === poll.id) this.close();
  }

  /**
   * @param {string} id
   * @param {{answered: number, counts: number[], texts: string[]}} tally
   */
  onPublished(id, tally) {
    const poll = this.polls.get(id);
    if (!poll) return;
    this.show({
      kind: "poll",
      id,
      question: poll.question,
      options: this.labels(poll),
      deadline: null,
      counts: tally.counts,
      answered: tally.answered,
      correct: [],
      texts: tally.texts || [],
    });
    this.resultsTimer = setTimeout(() => this.close(), RESULTS_S * 1000);
  }

  /** @param {any} m question_opened */
  onQuestion(m) {
    this.show({
      kind: "quiz",
      id: m.quiz,
      question: m.question.text,
      options: m.question.options,
      deadline: m.deadline,
      counts: null,
      answered: null,
      correct: [],
      texts: [],
    });
  }

  /**
   * @param {string} quiz
   * @param {{answered: number, counts: number[]}} tally
   */
  onQuestionTally(quiz, tally) {
    if (this.question?.id !== quiz || this.question.counts) return;
    this.meta.textContent = t("screen.answered", { count: tally.answered });
  }

  /** @param {any} m question_closed */
  onQuestionClosed(m) {
    const question = this.question;
    if (!question || question.id !== m.quiz) return;
    this.show({ ...question, deadline: null, counts: m.tally.counts, answered: m.tally.answered, correct: m.correct });
    this.resultsTimer = setTimeout(() => this.close(), RESULTS_S * 1000);
  }

  /** @param {Question} question the question (or its results) takes the screen */
  show(question) {
    clearTimeout(this.resultsTimer);
    clearInterval(this.ticker);
    this.question = question;
    const results = question.counts !== null;
    this.takeover.dataset.kind = question.kind;
    this.takeover.dataset.showing = results ? "results" : "question";
    // The trainer's words keep their own direction inside the page's (an English question
    // on an Arabic screen): isolated, while the block follows the page.
    this.heading.replaceChildren(node("bdi", "", [question.question]));
    this.meta.textContent = results
      ? t("screen.results", { count: question.answered ?? 0 })
      : t(question.kind === "quiz" ? "screen.quiz" : "screen.poll");
    this.body.replaceChildren(results ? this.chart(question) : this.optionList(question));
    this.answer.hidden = results;
    this.countdown.hidden = question.deadline === null;
    if (question.deadline !== null) {
      this.tick();
      this.ticker = setInterval(() => this.tick(), 1000);
    }
    this.takeover.hidden = false;
    root.classList.add("taken-over");
  }

  tick() {
    const deadline = this.question?.deadline;
    if (!deadline) return;
    const seconds = Math.max(0, Math.ceil(deadline - Date.now() / 1000));
    this.countdown.textContent = t("quiz.seconds_left", { seconds });
  }

  /** The question gives the screen back to the video. */
  close() {
    clearTimeout(this.resultsTimer);
    clearInterval(this.ticker);
    this.question = null;
    this.takeover.hidden = true;
    root.classList.remove("taken-over");
  }

  /** @param {Question} question */
  optionList(question) {
    if (!question.options.length) return node("p", "takeover-free", [t("screen.free_text")]);
    const list = node("ol", "takeover-options");
    for (const option of question.options) {
      list.append(node("li", "", [node("bdi", "", [option])]));
    }
    return list;
  }

  /**
   * Results as large bars, drawn in HTML so that they grow with the screen and mirror in
   * right-to-left languages; the correct options of a quiz question in green.
   * @param {Question} question
   */
  chart(question) {
    if (!question.options.length) {
      const texts = node("ul", "takeover-texts");
      for (const text of question.texts) texts.append(node("li", "", [text]));
      return texts;
    }
    const counts = question.counts || [];
    const most = Math.max(1, ...counts);
    const total = counts.reduce((sum, count) => sum + count, 0);
    const chart = node("div", "takeover-chart");
    chart.setAttribute("role", "img");
    const format = new Intl.NumberFormat(currentLanguage(), { style: "percent" });
    const summary = question.options.map((option, i) => `${option}: ${counts[i] ?? 0}`).join("; ");
    chart.setAttribute("aria-label", `${question.question}: ${summary}`);
    question.options.forEach((option, i) => {
      const count = counts[i] ?? 0;
      const right = question.correct.includes(i);
      const bar = node("span", right ? "takeover-bar correct" : "takeover-bar");
      bar.style.inlineSize = `${(100 * count) / most}%`;
      const share = total ? format.format(count / total) : format.format(0);
      const label = node("span", "takeover-label", [node("bdi", "", [option]), right ? " ✓" : ""]);
      chart.append(
        node("div", right ? "takeover-row correct" : "takeover-row", [
          label,
          node("span", "takeover-track", [bar]),
          node("span", "takeover-count", [`${count} (${share})`]),
        ]),
      );
    });
    return chart;
  }

  drawAnswerWay() {
    const issued = this.issued;
    if (!issued) return;
    this.answerQr.replaceChildren(qrPicture(issued));
    this.answerCode.textContent = spaced(issued.code);
    this.answerHow.textContent = t("screen.answer_how", { url: issued.url.split("?")[0] });
  }

  // --- what the room sees of itself --------------------------------------------------

  render() {
    const room = this.room;
    const mine = room.participants.get(room.you);
    const live = room.session?.state === "live";
    root.classList.toggle("session-waiting", !live);
    const on = room.microphoneOn && !mine?.audio_muted;
    this.microphone.dataset.on = String(on);
    this.microphone.textContent = t(
      mine?.audio_muted ? "screen.muted_by_trainer" : on ? "room.microphone_is_on" : "room.microphone_is_off",
    );
    this.recordingPill.hidden = !this.recording;
    this.channelPill.textContent =
      this.channel === "original"
        ? t("screen.channel_original")
        : t("screen.channel", { language: languageName(this.channel) });
    this.corner.hidden = !this.issued;
    // This device's phones (paired with its codes), not every phone in the room: another
    // room device's phones are counted on its own screen; the trainer's list shows them all.
    const phones = [...room.participants.values()].filter(
      (p) => p.role === "companion" && /** @type {{device?: string}} */ (p).device === room.you,
    );
    for (const phone of phones) this.paired.add(phone.id);
    const connected = phones.filter((p) => p.connected).length;
    this.phones.textContent = this.paired.size
      ? t("screen.phones", { paired: this.paired.size, connected })
      : t("screen.no_phones");
  }
}
