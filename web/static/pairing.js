// On a conference-room device: the code (and QR code) with which trainees' phones pair as
// companions, renewed before it expires, and who has paired.

import { formatTime, t } from "/static/i18n.js";
import { el } from "/static/poll_charts.js";

const RENEW_BEFORE_S = 30;

export class PairingPanel {
  /**
   * @param {HTMLElement} root
   * @param {import("/static/protocol.js").ClassroomConnection} connection
   */
  constructor(root, connection) {
    this.root = root;
    this.connection = connection;
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.renewal = undefined;
    this.button = el("button", { type: "button", class: "pairing-show" }, t("pairing.show"));
    this.code = el("p", { class: "pairing-code", "aria-live": "polite" });
    this.qr = el("div", { class: "pairing-qr" });
    this.help = el("p", { class: "pairing-help" });
    this.paired = el("ul", { class: "pairing-paired", "aria-label": t("pairing.paired"), "aria-live": "polite" });
    root.replaceChildren(el("h3", {}, t("pairing.title")), this.button, this.code, this.qr, this.help, this.paired);
    this.button.addEventListener("click", () => this.request());
    connection.addEventListener("pairing_code_issued", (/** @type {any} */ event) => this.show(event.detail));
    connection.addEventListener("companion_paired", (/** @type {any} */ event) => {
      this.paired.append(el("li", {}, t("pairing.joined", { name: event.detail.name })));
    });
  }

  request() {
    this.connection.send("pair_companion");
  }

  /** @param {{code: string, expires_at: number, url: string, qr_svg: string}} issued */
  show(issued) {
    const spaced = `${issued.code.slice(0, 3)} ${issued.code.slice(3)}`;
    this.code.textContent = spaced;
    this.code.setAttribute("aria-label", t("pairing.code_is", { code: issued.code.split("").join(" ") }));
    // The QR code is the server's SVG; parse it as SVG (never as HTML) before showing it.
    const parsed = new DOMParser().parseFromString(
      issued.qr_svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" '),
      "image/svg+xml",
    );
    const picture = document.importNode(parsed.documentElement, true);
    picture.setAttribute("role", "img");
    picture.setAttribute("aria-label", t("pairing.qr", { url: issued.url }));
    this.qr.replaceChildren(picture);
    this.help.textContent = t("pairing.help", { url: issued.url, until: formatTime(issued.expires_at) });
    this.button.textContent = t("pairing.renew");
    clearTimeout(this.renewal);
    const wait = Math.max(5, issued.expires_at - Date.now() / 1000 - RENEW_BEFORE_S);
    this.renewal = setTimeout(() => this.request(), wait * 1000);
  }
}
