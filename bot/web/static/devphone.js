// The dev phone (bot/web/devphone.py): several pretend phones in one page.
// A static file because the page's Content Security Policy allows scripts from this origin
// only: no inline script, no eval, no style attributes (classes and `hidden` instead).
// Texts go to POST /dev/phone/send (CSRF token in X-CSRFToken), which has the server post
// them to the bot's webhook signed as Twilio would; every phone's thread is polled once a
// second from GET /dev/phone/threads and redrawn only when something changed.
// A WhatsApp reply's quick-reply buttons are drawn under it; a tap sends the button's title
// as the text and its id as button_payload (the server posts them as Twilio does:
// ButtonPayload, ButtonText, Body).
"use strict";

(function () {
  const root = document.getElementById("devphone");
  if (!root) return;
  const STORE = "ledgerbot.devphone.phones";
  const POLL_MS = 1000;
  const urls = {
    threads: root.dataset.threadsUrl,
    send: root.dataset.sendUrl,
    moderator: root.dataset.moderatorUrl,
  };
  let csrf = root.dataset.csrf; // renewed by every poll (tokens are time-limited)
  const list = document.getElementById("phones");
  const template = document.getElementById("phone-template");
  const phones = new Map(); // number -> {panel, signature}

  function threadsUrl(numbers) {
    const query = new URLSearchParams();
    numbers.forEach((n) => query.append("number", n));
    return urls.threads + "?" + query.toString();
  }

  async function answer(response) {
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null; // an HTML error page (a refused CSRF token, say)
    }
    if (!response.ok) {
      const why = data && data.error ? data.error : "HTTP " + response.status;
      throw new Error(why);
    }
    return data;
  }

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf },
      body: new URLSearchParams(fields),
    }).then(answer);
  }

  function save() {
    try {
      localStorage.setItem(STORE, JSON.stringify([...phones.keys()]));
    } catch (_) {
      // storage refused (private mode): the page still works, it just forgets on reload
    }
  }

  function saved() {
    const asked = new URLSearchParams(location.search).get("phones");
    if (asked !== null) return asked.split(",").filter(Boolean);
    try {
      return JSON.parse(localStorage.getItem(STORE) || "[]");
    } catch (_) {
      return [];
    }
  }

  function panelId(number) {
    return "phone-" + number.replace(/[^0-9]/g, "");
  }

  function makePanel(number) {
    const panel = template.content.firstElementChild.cloneNode(true);
    panel.id = panelId(number);
    panel.dataset.number = number;
    panel.querySelector(".number").textContent = number;
    const form = panel.querySelector("form.compose");
    const error = form.querySelector(".error");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = form.elements.body.value;
      error.textContent = "";
      post(urls.send, { number, channel: form.elements.channel.value, body })
        .then(() => {
          form.elements.body.value = "";
          setTimeout(poll, 300);
        })
        .catch((e) => (error.textContent = e.message));
    });
    form.elements.body.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
    panel.querySelector(".make-moderator").addEventListener("click", () => {
      error.textContent = "";
      post(urls.moderator, { number })
        .then(poll)
        .catch((e) => (error.textContent = e.message));
    });
    panel.querySelector(".remove").addEventListener("click", () => {
      phones.delete(number);
      panel.remove();
      save();
      emptyHint();
    });
    list.appendChild(panel);
    phones.set(number, { panel, signature: "" });
    emptyHint();
    return panel;
  }

  function emptyHint() {
    document.getElementById("no-phones").hidden = phones.size > 0;
  }

  function time(iso) {
    const at = new Date(iso);
    return isNaN(at) ? iso : at.toLocaleTimeString();
  }

  function tap(number, button, panel) {
    const error = panel.querySelector("form.compose .error");
    error.textContent = "";
    post(urls.send, {
      number,
      channel: "whatsapp",
      body: button.title,
      button_payload: button.id,
    })
      .then(() => setTimeout(poll, 300))
      .catch((e) => (error.textContent = e.message));
  }

  function quickReplies(message, number) {
    const row = document.createElement("div");
    row.className = "quick-replies";
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "Quick replies");
    for (const button of message.buttons) {
      const element = document.createElement("button");
      element.type = "button";
      element.className = "quick-reply";
      element.textContent = button.title;
      element.dataset.payload = button.id;
      element.addEventListener("click", () =>
        tap(number, button, element.closest("section.phone")),
      );
      row.appendChild(element);
    }
    return row;
  }

  function item(message, number) {
    const li = document.createElement("li");
    li.className = `msg ${message.direction} kind-${message.kind} status-${message.status}`;
    li.dataset.id = message.id;
    li.dataset.kind = message.kind;
    li.dataset.status = message.status;
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = message.body; // never HTML: the bot echoes what people typed
    const meta = document.createElement("div");
    meta.className = "meta";
    const channel = message.channel === "whatsapp" ? "WhatsApp" : "SMS";
    meta.textContent = [channel, message.kind, message.status, time(message.at)].join(" · ");
    li.append(body, meta);
    const buttons = message.buttons || [];
    if (message.direction === "out" && message.channel === "whatsapp" && buttons.length) {
      li.appendChild(quickReplies(message, number));
    }
    const tapped = message.button ? "tapped a button: " + message.button : null;
    for (const [name, text] of [
      ["error", message.error],
      ["note", message.note],
      ["payload", tapped],
    ]) {
      if (!text) continue;
      const extra = document.createElement("div");
      extra.className = name;
      extra.textContent = text;
      li.appendChild(extra);
    }
    return li;
  }

  function render(state) {
    const phone = phones.get(state.number);
    if (!phone) return;
    const { panel } = phone;
    panel.querySelector(".moderator-badge").hidden = !state.moderator;
    panel.querySelector(".make-moderator").hidden = state.moderator;
    panel.querySelector(".opted-out-badge").hidden = !state.opted_out;
    const signature = state.messages.map((m) => m.id + ":" + m.status).join(",");
    if (signature === phone.signature) return;
    phone.signature = signature;
    const thread = panel.querySelector(".thread");
    const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    thread.replaceChildren(...state.messages.map((m) => item(m, state.number)));
    if (atBottom) thread.scrollTop = thread.scrollHeight;
  }

  let polling = false;
  async function poll() {
    if (polling || phones.size === 0) return;
    polling = true;
    try {
      const data = await fetch(threadsUrl([...phones.keys()]), {
        credentials: "same-origin",
      }).then(answer);
      if (data.csrf) csrf = data.csrf;
      data.phones.forEach(render);
      root.classList.remove("offline");
    } catch (_) {
      root.classList.add("offline"); // the server restarting: try again next tick
    } finally {
      polling = false;
    }
  }

  async function addPhone(typed) {
    const data = await fetch(threadsUrl([typed]), { credentials: "same-origin" }).then(answer);
    const state = data.phones[0];
    if (!phones.has(state.number)) makePanel(state.number);
    render(state);
    save();
    return state.number;
  }

  document.getElementById("add-phone").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("new-number");
    const error = document.getElementById("add-error");
    error.textContent = "";
    addPhone(input.value.trim())
      .then((number) => {
        input.value = "";
        document.querySelector(`#${panelId(number)} textarea`).focus();
      })
      .catch((e) => (error.textContent = e.message));
  });

  // One after another, so the phones come back in the order they were added.
  saved().reduce(
    (previous, number) => previous.then(() => addPhone(number).catch(() => undefined)),
    Promise.resolve(),
  );
  emptyHint();
  setInterval(poll, POLL_MS);
})();
