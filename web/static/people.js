// The participant list with roles and states, the lobby, and a trainer's per-person controls.

import { t } from "/static/i18n.js";

/**
 * @typedef {import("/static/stage.js").Participant} Participant
 * @typedef {(type: string, fields: object) => void} Send
 * @typedef {(message: string) => Promise<boolean>} Confirm
 */

/**
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLButtonElement}
 */
function button(className, text = "") {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  return element;
}

/** One row of the list; built once and updated in place so keyboard focus survives updates. */
class Row {
  /**
   * @param {Participant} participant
   * @param {boolean} self
   * @param {boolean} moderator
   * @param {Send} send
   * @param {Confirm} confirm
   */
  constructor(participant, self, moderator, send, confirm) {
    this.id = participant.id;
    this.element = document.createElement("li");
    this.element.className = "person";
    this.element.dataset.id = participant.id;
    this.name = document.createElement("span");
    this.name.className = "person-name";
    this.role = document.createElement("span");
    this.role.className = "person-role";
    this.state = document.createElement("span");
    this.state.className = "person-state";
    const who = document.createElement("div");
    who.className = "person-who";
    who.append(this.name, this.role, this.state);
    this.element.append(who);
    /** @type {Record<string, HTMLButtonElement>} */
    this.actions = {};
    if (!moderator) return;
    const actions = document.createElement("div");
    actions.className = "person-actions";
    this.actions.lower = button("lower-hand", t("people.lower_hand"));
    this.actions.lower.addEventListener("click", () =>
      send("raise_hand", { raised: false, target: this.id }),
    );
    this.actions.pin = button("pin");
    this.actions.pin.addEventListener("click", () =>
      send("pin", { target: this.actions.pin.getAttribute("aria-pressed") === "true" ? null : this.id }),
    );
    actions.append(this.actions.lower, this.actions.pin);
    if (!self) {
      this.actions.mute = button("mute");
      // Mute a live microphone; else unmute (a room device turns on, a person is asked).
      this.actions.mute.addEventListener("click", () =>
        send("mute", { target: this.id, muted: this.actions.mute.dataset.muted !== "true" }),
      );
      this.actions.remove = button("remove danger", t("people.remove"));
      this.actions.remove.addEventListener("click", async () => {
        if (await confirm(t("people.remove_confirm", { name: this.name.textContent || "" }))) {
          send("remove", { target: this.id });
        }
      });
      actions.append(this.actions.mute, this.actions.remove);
      // A companion phone is unpaired (its token revoked); a room device's phones all at once.
      const unpair = {
        companion: { label: "people.unpair", confirm: "people.unpair_confirm", fields: { target: this.id } },
        room: { label: "people.unpair_phones", confirm: "people.unpair_phones_confirm", fields: { device: this.id } },
      }[participant.role];
      if (unpair) {
        this.actions.unpair = button("unpair danger", t(unpair.label));
        this.actions.unpair.addEventListener("click", async () => {
          if (await confirm(t(unpair.confirm, { name: participant.name }))) {
            send("unpair_companion", unpair.fields);
          }
        });
        actions.append(this.actions.unpair);
      }
    }
    this.element.append(actions);
  }

  /**
   * @param {Participant} participant
   * @param {boolean} self
   * @param {boolean} pinned
   */
  update(participant, self, pinned) {
    this.name.textContent = self ? t("people.you", { name: participant.name }) : participant.name;
    this.role.textContent = t(`role.${participant.role}`);
    const states = [];
    if (participant.hand_raised) states.push(t("people.hand_raised"));
    if (participant.audio_muted) states.push(t("people.muted"));
    else if (participant.self_muted) states.push(t("people.microphone_off"));
    if (participant.screen_sharing) states.push(t("people.sharing"));
    if (pinned) states.push(t("people.pinned"));
    if (!participant.connected) states.push(t("people.reconnecting"));
    this.state.textContent = states.join(" · ");
    this.element.classList.toggle("away", !participant.connected);
    this.element.classList.toggle("hand", participant.hand_raised);
    const name = participant.name;
    const { lower, pin, mute, remove } = this.actions;
    if (lower) {
      lower.hidden = !participant.hand_raised;
      lower.setAttribute("aria-label", t("people.lower_hand_of", { name }));
    }
    if (pin) {
      pin.textContent = pinned ? t("people.unpin") : t("people.pin");
      pin.setAttribute("aria-pressed", String(pinned));
      pin.setAttribute("aria-label", t("people.pin_for_everyone", { name }));
    }
    if (mute) {
      const off = participant.audio_muted || Boolean(participant.self_muted);
      // The server decides (classroom/permissions.py, remote_unmute): a conference-room
      // device is unmuted at once; anyone else is asked. The label says which.
      const ask = off && participant.role !== "room";
      mute.dataset.muted = String(off);
      mute.textContent = !off ? t("people.mute") : ask ? t("people.ask_unmute") : t("people.unmute");
      const label = !off ? "people.mute_of" : ask ? "people.ask_unmute_of" : "people.unmute_of";
      mute.setAttribute("aria-label", t(label, { name }));
    }
    if (remove) remove.setAttribute("aria-label", t("people.remove_of", { name }));
    const { unpair } = this.actions;
    if (unpair) {
      const label = participant.role === "room" ? "people.unpair_phones_of" : "people.unpair_of";
      unpair.setAttribute("aria-label", t(label, { name }));
    }
  }
}

export class People {
  /**
   * @param {HTMLElement} root the participants section
   * @param {HTMLElement} lobbyRoot the lobby section (trainers only)
   * @param {{you: string, moderator: boolean, send: Send, confirm: Confirm}} options
   */
  constructor(root, lobbyRoot, options) {
    this.list = /** @type {HTMLElement} */ (root.querySelector("#participant-list"));
    this.count = /** @type {HTMLElement} */ (root.querySelector("#participant-count"));
    this.lobbyRoot = lobbyRoot;
    this.lobbyList = /** @type {HTMLElement} */ (lobbyRoot.querySelector("#lobby-list"));
    this.bannedRoot = /** @type {HTMLElement|null} */ (document.querySelector("#banned"));
    this.options = options;
    /** @type {Map<string, Row>} */
    this.rows = new Map();
    /** @type {Map<string, HTMLElement>} */
    this.waiting = new Map();
  }

  /**
   * @param {Map<string, Participant>} participants
   * @param {string|null} pinned
   */
  render(participants, pinned) {
    const { you, moderator, send, confirm } = this.options;
    for (const [id, row] of this.rows) {
      if (!participants.has(id)) {
        row.element.remove();
        this.rows.delete(id);
      }
    }
    // Trainers first, then raised hands (in the order raised is unknown: keep the room's),
    // then everyone else.
    const rank = (/** @type {Participant} */ p) => (p.role === "trainer" ? 0 : p.hand_raised ? 1 : 2);
    const ordered = [...participants.values()].sort((a, b) => rank(a) - rank(b));
    ordered.forEach((participant, index) => {
      let row = this.rows.get(participant.id);
      if (!row) {
        row = new Row(participant, participant.id === you, moderator, send, confirm);
        this.rows.set(participant.id, row);
      }
      row.update(participant, participant.id === you, pinned === participant.id);
      if (this.list.children[index] !== row.element) {
        this.list.insertBefore(row.element, this.list.children[index] || null);
      }
    });
    const present = ordered.filter((p) => p.connected).length;
    this.count.textContent = t("people.count", { count: present });
  }

  /**
   * Who was removed or refused and may not come back until a trainer lets them (trainers only).
   * @param {Map<string, string>} banned names by participant id
   */
  renderBanned(banned) {
    const root = this.bannedRoot;
    if (!root) return;
    const { moderator, send } = this.options;
    root.hidden = !moderator || banned.size === 0;
    const list = /** @type {HTMLElement} */ (root.querySelector("#banned-list"));
    list.replaceChildren(
      ...[...banned].map(([id, name]) => {
        const item = document.createElement("li");
        item.className = "waiting";
        item.dataset.id = id;
        const who = document.createElement("span");
        who.className = "person-name";
        who.textContent = name;
        const lift = button("lift-ban", t("banned.lift"));
        lift.setAttribute("aria-label", t("banned.lift_of", { name }));
        lift.addEventListener("click", () => send("lift_ban", { target: id }));
        const actions = document.createElement("div");
        actions.className = "person-actions";
        actions.append(lift);
        item.append(who, actions);
        return item;
      }),
    );
  }

  /** @param {Map<string, Participant>} lobby */
  renderLobby(lobby) {
    const { moderator, send } = this.options;
    this.lobbyRoot.hidden = !moderator || lobby.size === 0;
    if (!moderator) return;
    for (const [id, element] of this.waiting) {
      if (!lobby.has(id)) {
        element.remove();
        this.waiting.delete(id);
      }
    }
    for (const participant of lobby.values()) {
      if (this.waiting.has(participant.id)) continue;
      const item = document.createElement("li");
      item.className = "waiting";
      item.dataset.id = participant.id;
      const name = document.createElement("span");
      name.className = "person-name";
      name.textContent = `${participant.name} (${t(`role.${participant.role}`)})`;
      const admit = button("admit", t("lobby.admit"));
      admit.setAttribute("aria-label", t("lobby.admit_of", { name: participant.name }));
      admit.addEventListener("click", () => send("admit", { target: participant.id }));
      const deny = button("deny danger", t("lobby.deny"));
      deny.setAttribute("aria-label", t("lobby.deny_of", { name: participant.name }));
      deny.addEventListener("click", () => send("deny", { target: participant.id }));
      const actions = document.createElement("div");
      actions.className = "person-actions";
      actions.append(admit, deny);
      item.append(name, actions);
      this.lobbyList.append(item);
      this.waiting.set(participant.id, item);
    }
  }
}
