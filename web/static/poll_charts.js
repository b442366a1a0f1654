// Small DOM helpers for the polls panels, and live result bars drawn as SVG in the browser.

const SVG = "http://www.w3.org/2000/svg";

/**
 * An element with attributes and children (text or nodes).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attributes]
 * @param {string|Node|(string|Node)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attributes = {}, children = []) {
  const node = /** @type {any} */ (document.createElement(tag));
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...[children].flat());
  return node;
}

/**
 * @param {string} tag
 * @param {Record<string, string|number>} attributes
 * @param {string} [text]
 */
function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Horizontal bars, one per option, with its count; correct options (quizzes) in green.
 * The picture has a text alternative listing every count.
 * @param {string} title
 * @param {string[]} labels
 * @param {number[]} counts
 * @param {number[]} [correct]
 * @returns {SVGSVGElement}
 */
export function barChart(title, labels, counts, correct = []) {
  const rowHeight = 26;
  const labelWidth = 160;
  const width = 420;
  const plot = width - labelWidth - 40;
  const height = rowHeight * labels.length + 4;
  const most = Math.max(1, ...counts);
  const summary = labels.map((label, i) => `${label}: ${counts[i] ?? 0}`).join("; ");
  const chart = /** @type {SVGSVGElement} */ (
    svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "bars", "aria-label": `${title}: ${summary}` })
  );
  chart.append(svg("title", {}, `${title}: ${summary}`));
  labels.forEach((label, i) => {
    const y = i * rowHeight + 2;
    const count = counts[i] ?? 0;
    const w = (plot * count) / most;
    const right = correct.includes(i);
    const short = label.length > 22 ? `${label.slice(0, 21)}…` : label;
    chart.append(
      svg("text", { x: 0, y: y + 16, class: "bar-label" }, right ? `${short} ✓` : short),
      svg("rect", { x: labelWidth, y: y + 4, width: w.toFixed(1), height: rowHeight - 10, class: right ? "bar correct" : "bar" }),
      svg("text", { x: (labelWidth + w + 6).toFixed(1), y: y + 16, class: "bar-count" }, String(count)),
    );
  });
  return chart;
}
