// Quizzes in the polls panel: trainers prepare, start, move on and end; participants answer
// each timed question once and see the correct options, their score and the leaderboard.

import { t } from "/static/i18n.js";
import { barChart, el } from "/static/poll_charts.js";

/**
 * @typedef {{text: string, options: string[], multiple: boolean, time_limit_s: number, points: number}} Question
 * @typedef {{id: string, title: string, state: string, current: number, question_open: boolean,
 *   deadline: number|null, question?: Question, questions: number, your_choices?: number[]|null,
 *   tally?: {answered: number, correct: number, counts: number[]}, correct?: number[],
 *   result?: any, leaderboard?: any[]|null, results?: any[]}} Quiz
 */

export class QuizPanel {
  /**
   * @param {HTMLElement} root the polls panel
   * @param {import("/static/protocol.js").ClassroomConnection} connection
   * @param {boolean} manage
   * @param {(type: string, fields: object) => void} send sends a message, its error shown
   */
  constructor(root, connection, manage, send) {
    this.connection = connection;
    this.manage = manage;
    this.sendMessage = send;
    /** @type {Map<string, Quiz>} */
    this.quizzes = new Map();
    /** @type {Map<string, HTMLElement>} */
    this.cards = new Map();
    this.section = el("section", { class: "quizzes", "aria-labelledby": "quizzes-heading" });
    this.section.append(el("h2", { id: "quizzes-heading" }, t("quiz.title")));
    if (manage) this.section.append(this.creationForm());
    this.list = el("div", { class: "quiz-list", "aria-live": "polite" });
    this.section.append(this.list);
    root.append(this.section);
    this.timer = setInterval(() => this.tick(), 1000);
    const on = (/** @type {string} */ type, /** @type {(m: any) => void} */ handler) =>
      connection.addEventListener(type, (/** @type {any} */ event) => handler(event.detail));
    on("quiz_created", (m) => this.upsert(m.quiz));
    on("quiz_started", (m) => this.upsert({ ...this.quizzes.get(m.quiz.id), ...m.quiz }));
    on("question_opened", (m) =>
      this.patch(m.quiz, {
        state: "running",
        current: m.index,
        question: m.question,
        question_open: true,
        deadline: m.deadline,
        your_choices: null,
        correct: undefined,
        tally: undefined,
      }),
    );
    on("quiz_answer_recorded", (m) => this.patch(m.quiz, { your_choices: m.choices }));
    on("question_tallied", (m) => this.patch(m.quiz, { tally: m.tally }));
    on("question_closed", (m) =>
      this.patch(m.quiz, { question_open: false, deadline: null, correct: m.correct, tally: m.tally }),
    );
    on("quiz_ended", (m) => this.patch(m.quiz, { state: "ended", question_open: false, leaderboard: m.leaderboard }));
    on("quiz_scored", (m) => this.patch(m.quiz, { result: m.result }));
    on("quiz_results_reported", (m) => this.patch(m.quiz, { results: m.results }));
  }

  /** @param {Quiz[]} quizzes */
  reset(quizzes) {
    this.quizzes.clear();
    for (const card of this.cards.values()) card.remove();
    this.cards.clear();
    for (const quiz of quizzes) this.upsert(quiz);
  }

  /** @param {string} id @param {Partial<Quiz>} change */
  patch(id, change) {
    const quiz = this.quizzes.get(id);
    if (quiz) this.upsert({ ...quiz, ...change });
  }

  /** @param {string} type @param {object} fields */
  send(type, fields) {
    this.sendMessage(type, fields);
  }

  /** @param {Quiz} quiz */
  upsert(quiz) {
    const before = this.quizzes.get(quiz.id);
    this.quizzes.set(quiz.id, quiz);
    let card = this.cards.get(quiz.id);
    if (!card) {
      card = el("article", { class: "quiz", "data-quiz": quiz.id });
      this.cards.set(quiz.id, card);
      this.list.prepend(card);
    }
    const changed =
      !before ||
      before.state !== quiz.state ||
      before.current !== quiz.current ||
      before.question_open !== quiz.question_open ||
      String(before.your_choices) !== String(quiz.your_choices) ||
      before.result !== quiz.result ||
      before.results !== quiz.results;
    if (changed) this.draw(card, quiz);
    else this.drawTally(card, quiz);
  }

  /** @param {HTMLElement} card @param {Quiz} quiz */
  draw(card, quiz) {
    /** @type {HTMLElement[]} */
    const parts = [el("h3", {}, quiz.title), el("p", { class: "quiz-meta" }, t(`quiz.state.${quiz.state}`))];
    if (this.manage) parts.push(this.controls(quiz));
    const question = quiz.question;
    if (question && quiz.state === "running") {
      parts.push(
        el("p", { class: "quiz-question", id: `quiz-q-${quiz.id}` }, [
          t("quiz.question_n", { n: quiz.current + 1, of: quiz.questions }),
          " ",
          question.text,
        ]),
      );
      if (quiz.question_open) parts.push(el("p", { class: "quiz-countdown", "aria-live": "off" }));
      if (!this.manage && quiz.question_open) parts.push(this.answerForm(quiz, question));
      if (!this.manage && quiz.your_choices) parts.push(el("p", { role: "status" }, t("quiz.answer_recorded")));
      if (!quiz.question_open && quiz.correct) {
        const right = quiz.correct.map((i) => question.options[i]).join(", ");
        parts.push(el("p", { class: "quiz-correct" }, t("quiz.correct_was", { options: right })));
        if (!this.manage && quiz.your_choices) {
          const ok = String(quiz.your_choices) === String(quiz.correct);
          parts.push(el("p", { role: "status" }, t(ok ? "quiz.you_were_right" : "quiz.you_were_wrong")));
        }
      }
    }
    if (quiz.result) {
      const r = quiz.result;
      parts.push(el("p", { role: "status", class: "quiz-result" }, t("quiz.your_result", { score: r.score, max: r.max_score, correct: r.correct, questions: r.questions })));
    }
    if (quiz.leaderboard?.length) parts.push(this.table(t("quiz.leaderboard"), quiz.leaderboard, ["rank", "name", "score"]));
    if (quiz.results?.length) parts.push(this.table(t("quiz.results"), quiz.results, ["rank", "name", "score", "correct", "answered"]));
    parts.push(el("div", { class: "quiz-tally" }));
    card.replaceChildren(...parts);
    this.drawTally(card, quiz);
    this.tick();
  }

  /** @param {HTMLElement} card @param {Quiz} quiz */
  drawTally(card, quiz) {
    const box = card.querySelector(".quiz-tally");
    if (!box) return;
    if (!quiz.tally || !quiz.question || (!this.manage && quiz.question_open)) {
      box.replaceChildren();
      return;
    }
    const answered = el("p", {}, t("polls.answered", { count: quiz.tally.answered }));
    box.replaceChildren(answered, barChart(quiz.question.text, quiz.question.options, quiz.tally.counts, quiz.correct || []));
  }

  /** @param {string} caption @param {any[]} rows @param {string[]} columns */
  table(caption, rows, columns) {
    const head = el("tr", {}, columns.map((c) => el("th", { scope: "col" }, t(`quiz.column.${c}`))));
    const body = rows.map((row) => el("tr", {}, columns.map((c) => el("td", {}, String(row[c])))));
    const table = el("table", { class: "quiz-table" }, [el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, body)]);
    // Fits the side panel; a language with longer headers scrolls inside the card, never
    // past the panel (and the scrolling box is reachable by keyboard).
    return el("div", { class: "quiz-table-box", role: "region", tabindex: "0", "aria-label": caption }, table);
  }

  tick() {
    const now = Date.now() / 1000;
    for (const [id, quiz] of this.quizzes) {
      const node = this.cards.get(id)?.querySelector(".quiz-countdown");
      if (node && quiz.deadline) {
        node.textContent = t("quiz.seconds_left", { seconds: Math.max(0, Math.round(quiz.deadline - now)) });
      }
    }
  }

  /** @param {Quiz} quiz */
  controls(quiz) {
    const bar = el("div", { class: "quiz-controls", role: "group", "aria-label": t("quiz.controls") });
    const button = (/** @type {string} */ label, /** @type {string} */ type) => {
      const b = el("button", { type: "button" }, t(label));
      b.addEventListener("click", () => this.send(type, { quiz: quiz.id }));
      bar.append(b);
    };
    if (quiz.state === "draft") button("quiz.start", "start_quiz");
    if (quiz.state === "running" && quiz.current + 1 < quiz.questions) button("quiz.next", "next_question");
    if (quiz.state === "running") button("quiz.end", "end_quiz");
    return bar;
  }

  /** @param {Quiz} quiz @param {Question} question */
  answerForm(quiz, question) {
    const form = el("form", { class: "quiz-answer", "aria-labelledby": `quiz-q-${quiz.id}` });
    const fieldset = el("fieldset", {});
    fieldset.append(el("legend", { class: "visually-hidden" }, question.text));
    const name = `quiz-${quiz.id}-${quiz.current}`;
    question.options.forEach((label, i) => {
      const id = `${name}-${i}`;
      const input = el("input", { type: question.multiple ? "checkbox" : "radio", id, name, value: String(i) });
      fieldset.append(el("div", { class: "choice" }, [input, el("label", { for: id }, label)]));
    });
    const submit = el("button", { type: "submit" }, t("polls.send"));
    if (quiz.your_choices) {
      fieldset.setAttribute("disabled", "");
      submit.setAttribute("disabled", "");
    }
    form.append(fieldset, submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const choices = [...fieldset.querySelectorAll("input:checked")].map((i) => Number(/** @type {HTMLInputElement} */ (i).value));
      if (!choices.length) return;
      this.send("answer_quiz", { quiz: quiz.id, index: quiz.current, choices });
      fieldset.setAttribute("disabled", "");
      submit.setAttribute("disabled", "");
    });
    return form;
  }

  /** Trainers: a quiz from lines "Question | option | *correct option | option". */
  creationForm() {
    const form = el("form", { class: "quiz-create", "aria-labelledby": "quiz-create-heading" });
    const title = el("input", { id: "quiz-new-title", required: "", maxlength: "200" });
    const lines = el("textarea", { id: "quiz-new-questions", rows: "5", required: "", "aria-describedby": "quiz-new-help" });
    const seconds = el("input", { id: "quiz-new-seconds", type: "number", min: "5", max: "600", value: "30" });
    const speed = el("input", { id: "quiz-new-speed", type: "checkbox" });
    const board = el("input", { id: "quiz-new-board", type: "checkbox", checked: "" });
    form.append(
      el("h3", { id: "quiz-create-heading" }, t("quiz.new")),
      el("div", { class: "field" }, [el("label", { for: "quiz-new-title" }, t("quiz.name")), title]),
      el("div", { class: "field" }, [
        el("label", { for: "quiz-new-questions" }, t("quiz.questions")),
        lines,
        el("p", { id: "quiz-new-help", class: "help" }, t("quiz.questions_help")),
      ]),
      el("div", { class: "field" }, [el("label", { for: "quiz-new-seconds" }, t("quiz.seconds")), seconds]),
      el("div", { class: "choice" }, [speed, el("label", { for: "quiz-new-speed" }, t("quiz.speed_bonus"))]),
      el("div", { class: "choice" }, [board, el("label", { for: "quiz-new-board" }, t("quiz.show_leaderboard"))]),
      el("button", { type: "submit" }, t("quiz.create")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const questions = lines.value
        .split("\n")
        .map((line) => line.split("|").map((part) => part.trim()))
        .filter((parts) => parts[0])
        .map(([text, ...options]) => ({
          text,
          options: options.map((o) => o.replace(/^\*/, "").trim()),
          correct: options.flatMap((o, i) => (o.startsWith("*") ? [i] : [])),
          time_limit_s: Number(seconds.value),
        }));
      this.send("create_quiz", {
        title: title.value,
        questions,
        speed_bonus: speed.checked,
        leaderboard: board.checked,
      });
      /** @type {HTMLFormElement} */ (form).reset();
    });
    return form;
  }
}
