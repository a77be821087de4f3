/* Usher web chat widget. Embed with <script src="https://HOST/widget.js"></script>.
 * Asks the server for a conversation (an id and a secret token), keeps both
 * in localStorage, loads history with the token, reconnects after a
 * restart. A signed-in customer of the site can be passed with
 * data-user-id and data-user-hash (HMAC-SHA256 of the id under the secret
 * the site shares with Usher) to get the same conversation on every device.
 * Every fan and bot text is inserted as text, never as HTML. */
(function () {
  "use strict";
  if (window.__usherWidget) return;
  window.__usherWidget = true;

  var TITLE = "{{title}}";
  var script = document.currentScript;
  var origin = new URL(script ? script.src : location.href, location.href).origin;
  var KEY = "usher.conversation";
  var TOKEN_KEY = "usher.token";
  var USER_KEY = "usher.user";
  var ID_RE = /^[A-Za-z0-9_.-]{1,128}$/;
  var TOKEN_RE = /^[A-Za-z0-9_.-]{16,256}$/;
  var identity = null;
  if (script && script.dataset && script.dataset.userId) {
    identity = { user_id: script.dataset.userId, user_hash: script.dataset.userHash || "" };
  }

  function load(key) { try { return localStorage.getItem(key); } catch (e) { return null; /* private mode */ } }
  function save(key, value) {
    try { if (value == null) localStorage.removeItem(key); else localStorage.setItem(key, value); } catch (e) { /* ignore */ }
  }
  var conversation = load(KEY);
  var token = load(TOKEN_KEY);
  var user = identity ? identity.user_id : "";
  if (!conversation || !ID_RE.test(conversation) || !token || !TOKEN_RE.test(token) || (load(USER_KEY) || "") !== user) {
    conversation = null;
    token = null;
  }

  function dropSession() {
    conversation = null;
    token = null;
    save(KEY, null);
    save(TOKEN_KEY, null);
  }

  /* A conversation and its token: the stored ones, or a new session. */
  function ensureSession() {
    if (conversation && token) return Promise.resolve();
    return fetch(origin + "/api/v1/webchat/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: identity ? JSON.stringify(identity) : "{}"
    }).then(function (r) {
      if (!r.ok) throw new Error("session refused: " + r.status);
      return r.json();
    }).then(function (s) {
      conversation = s.conversation;
      token = s.token;
      save(KEY, conversation);
      save(TOKEN_KEY, token);
      save(USER_KEY, user);
    });
  }

  function history() {
    return fetch(origin + "/api/v1/conversations/" + encodeURIComponent(conversation), {
      headers: { authorization: "Bearer " + token }
    });
  }

  var css = [
    "#usher-widget{position:fixed;right:20px;bottom:20px;width:340px;max-height:70vh;display:flex;flex-direction:column;",
    "font:14px/1.4 system-ui,sans-serif;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.2);overflow:hidden;z-index:2147483000}",
    "#usher-widget .usher-head{background:#3b2a6b;color:#fff;padding:10px 14px;display:flex;justify-content:space-between;align-items:center}",
    "#usher-widget .usher-status{font-size:11px;opacity:.8}",
    "#usher-widget .usher-log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px;min-height:240px}",
    "#usher-widget .usher-msg{padding:7px 10px;border-radius:10px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}",
    "#usher-widget .usher-msg.fan{align-self:flex-end;background:#3b2a6b;color:#fff}",
    "#usher-widget .usher-msg.bot{align-self:flex-start;background:#eee}",
    "#usher-widget .usher-msg.notice{align-self:center;background:#fff4d6;font-style:italic}",
    "#usher-widget .usher-msg.error{align-self:center;background:#fde2e2;color:#900}",
    "#usher-widget .usher-chips{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start}",
    "#usher-widget .usher-chip{border:1px solid #3b2a6b;color:#3b2a6b;background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer}",
    "#usher-widget .usher-chip:hover{background:#3b2a6b;color:#fff}",
    "#usher-widget img{max-width:100%;border-radius:6px}",
    "#usher-widget form{display:flex;border-top:1px solid #ddd}",
    "#usher-widget .usher-input{flex:1;border:0;padding:10px;font:inherit;outline:none}",
    "#usher-widget .usher-send{border:0;background:#3b2a6b;color:#fff;padding:0 14px;cursor:pointer}"
  ].join("\n");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  var style = el("style");
  style.textContent = css;
  document.head.appendChild(style);
  var root = el("div");
  root.id = "usher-widget";
  root.setAttribute("role", "complementary");
  root.setAttribute("aria-label", TITLE + " chat");
  var head = el("div", "usher-head");
  head.appendChild(el("strong", null, TITLE));
  var status = el("span", "usher-status", "connecting…");
  head.appendChild(status);
  var log = el("div", "usher-log");
  log.setAttribute("aria-live", "polite");
  var form = el("form");
  var input = el("input", "usher-input");
  input.placeholder = "Type a message…";
  input.setAttribute("aria-label", "Message");
  input.maxLength = 2000;
  var sendBtn = el("button", "usher-send", "Send");
  sendBtn.type = "submit";
  form.appendChild(input);
  form.appendChild(sendBtn);
  root.appendChild(head);
  root.appendChild(log);
  root.appendChild(form);
  document.body.appendChild(root);

  var seen = {};      // store ids already shown
  var pending = {};   // client_id -> element awaiting its ack
  var outbox = [];    // frames waiting for a connection
  var nextClientId = 1;
  var ws = null;
  var backoff = 500;

  function scroll() { log.scrollTop = log.scrollHeight; }

  function showFan(text, id) {
    var e = el("div", "usher-msg fan", text);
    if (id != null) { seen[id] = true; e.dataset.id = id; }
    log.appendChild(e);
    scroll();
    return e;
  }

  function showParts(parts, id) {
    if (id != null) { if (seen[id]) return; seen[id] = true; }
    parts.forEach(function (p) {
      if (p.type === "text") {
        log.appendChild(el("div", "usher-msg bot", p.text));
      } else if (p.type === "buttons") {
        var chips = el("div", "usher-chips");
        p.buttons.forEach(function (b) {
          var c = el("button", "usher-chip", b.title);
          c.type = "button";
          c.addEventListener("click", function () { send(b.title, b.payload); });
          chips.appendChild(c);
        });
        log.appendChild(chips);
      } else if (p.type === "attachment") {
        var box = el("div", "usher-msg bot");
        var url = new URL(p.url, origin).href;
        if (p.kind === "image") {
          var img = el("img"); img.src = url; img.alt = p.name; box.appendChild(img);
        } else if (p.kind === "audio") {
          var audio = el("audio"); audio.controls = true; audio.src = url; box.appendChild(audio);
        }
        var link = el("a", null, p.name); link.href = url; link.download = p.name; box.appendChild(link);
        log.appendChild(box);
      } else if (p.type === "handoff") {
        log.appendChild(el("div", "usher-msg notice", p.notice));
      }
    });
    scroll();
  }

  function showError(text) {
    log.appendChild(el("div", "usher-msg error", text));
    scroll();
  }

  function loadHistory() {
    return history()
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (t) {
        if (!t || !t.messages) return;
        t.messages.forEach(function (m) {
          if (seen[m.id]) return;
          if (m.direction === "in") showFan(m.text || m.payload || "", m.id);
          else showParts(m.parts || [{ type: "text", text: m.text }], m.id);
        });
      })
      .catch(function () { /* offline: the socket retry will reload */ });
  }

  function transmit(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
    else outbox.push(frame);
  }

  function send(text, payload) {
    text = (text || "").trim();
    if (!text && !payload) return;
    var clientId = nextClientId++;
    pending[clientId] = showFan(text || payload);
    transmit({ type: "message", client_id: clientId, text: text, payload: payload || null });
  }

  function retry() {
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 5000);
  }

  function connect() {
    ensureSession().then(open, function () {
      status.textContent = "offline";
      root.dataset.state = "offline";
      retry();
    });
  }

  function open() {
    var url = origin.replace(/^http/, "ws") + "/ws?conversation=" + encodeURIComponent(conversation);
    var opened = false;
    // Browsers cannot set headers on a socket: the token rides as a subprotocol.
    ws = new WebSocket(url, ["usher", "usher-token." + token]);
    ws.onopen = function () {
      opened = true;
      backoff = 500;
      status.textContent = "online";
      root.dataset.state = "online";
      loadHistory().then(function () {
        var queued = outbox; outbox = [];
        queued.forEach(transmit);
      });
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "reply") showParts(f.parts, f.id);
      else if (f.type === "ack") {
        var e = pending[f.client_id];
        if (e) { e.dataset.id = f.message_id; delete pending[f.client_id]; }
        seen[f.message_id] = true;
      } else if (f.type === "error") {
        var failed = f.client_id != null && pending[f.client_id];
        if (failed) { failed.classList.add("failed"); delete pending[f.client_id]; }
        showError("Not sent: " + f.reason);
      }
    };
    ws.onclose = function () {
      status.textContent = "reconnecting…";
      root.dataset.state = "offline";
      if (opened) return retry();
      // Refused before it opened: a token the server no longer knows
      // (a wiped store) gets a new session on the next try.
      history().then(function (r) {
        if (r.status === 401 || r.status === 403) dropSession();
      }).catch(function () { /* offline */ }).then(retry);
    };
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    send(input.value, null);
    input.value = "";
    input.focus();
  });

  connect();
})();
