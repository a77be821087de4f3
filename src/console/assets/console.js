// Usher agent console. Every piece of fan or agent text is put on the page
// with textContent, never as HTML; the CSP forbids inline script as well.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let csrf = null;
  let me = null;
  let role = null;
  let current = null;
  const answers = () => role === "agent" || role === "admin";
  const trains = () => role === "trainer" || role === "admin";
  let socket = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function showError(message) {
    $("error").textContent = message || "";
  }

  async function api(path, options = {}) {
    const init = { method: options.method || "GET", headers: {}, credentials: "same-origin" };
    if (init.method !== "GET") init.headers["X-CSRF-Token"] = csrf || "";
    if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (response.status === 401 && path !== "/console/api/login") {
      signedOut();
    }
    if (!response.ok) {
      const error = new Error((data && data.error) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function signedOut() {
    csrf = null;
    me = null;
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    $("desk").hidden = true;
    $("logout").hidden = true;
    $("whoami").textContent = "";
    $("login").hidden = false;
  }

  function signedIn(session) {
    csrf = session.csrf;
    me = session.agent;
    role = session.role;
    document.body.dataset.role = role;
    $("login").hidden = true;
    $("desk").hidden = false;
    $("logout").hidden = false;
    $("whoami").textContent = `Signed in as ${me} (${role})`;
    connect();
    refreshAll();
    if (answers()) loadCanned();
    if (trains()) loadIntents();
  }

  // Trainers file fans' messages under intents: the names for the picker.
  async function loadIntents() {
    let intents;
    try { intents = await api("/console/api/intents"); } catch (e) { return showError(e.message); }
    const list = $("intent-names");
    list.replaceChildren();
    for (const i of intents) {
      const option = el("option");
      option.value = i.name;
      option.label = `${i.title} (${i.examples} examples)`;
      list.appendChild(option);
    }
  }

  // "Add as example": the message becomes an example of the intent typed
  // (an existing one, or a new name); the bot reloads with it.
  function trainBox(m) {
    const box = el("div", "train");
    const input = el("input");
    input.setAttribute("list", "intent-names");
    input.placeholder = "intent for this message";
    input.value = (m.nlu && m.nlu.intent && m.nlu.intent.name) || "";
    const button = el("button", null, "Add as example");
    button.type = "button";
    const result = el("span", "trained");
    button.addEventListener("click", async () => {
      showError("");
      try {
        const done = await api(`/console/api/conversations/${encodeURIComponent(current)}/messages/${m.id}/train`,
          { method: "POST", body: { intent: input.value.trim() } });
        result.textContent = `Added to ${done.intent}${done.created ? " (new intent)" : ""}: reloading`;
        loadIntents();
      } catch (e) {
        result.textContent = "";
        showError(e.message);
      }
    });
    box.append(input, button, result);
    return box;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/console/ws`);
    socket.onopen = () => { $("live").dataset.state = "online"; refreshAll(); };
    socket.onmessage = (m) => {
      let event;
      try { event = JSON.parse(m.data); } catch (_) { return; }
      if (event.type === "queue") refreshAll();
      if (event.type === "message") {
        refreshQueue();
        if (current && event.conversation === current) loadConversation(current);
      }
    };
    socket.onclose = (e) => {
      $("live").dataset.state = "offline";
      // 4401: the session ended (signed out elsewhere, expired, removed).
      if (e.code === 4401) return signedOut();
      if (me) setTimeout(() => { if (me) connect(); }, 1000);
    };
  }

  async function refreshAll() {
    await Promise.all([refreshQueue(), refreshAnalytics()]);
    if (current) await loadConversation(current);
  }

  function minutes(seconds) {
    return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m`;
  }

  async function refreshQueue() {
    let entries;
    try { entries = await api("/console/api/queue"); } catch (e) { return showError(e.message); }
    const list = $("queue");
    list.replaceChildren();
    if (entries.length === 0) list.appendChild(el("li", "empty", "Nobody is waiting."));
    for (const t of entries) {
      const item = el("li", `ticket priority-${t.priority} ${t.state}`);
      item.dataset.conversation = t.conversation;
      const where = t.state === "claimed" ? `claimed by ${t.agent}` : `#${t.position} waiting ${minutes(t.waiting_seconds)}`;
      item.appendChild(el("div", "meta", `${t.channel} · ${t.reason.replace("_", " ")} · ${where}`));
      item.appendChild(el("div", "preview", t.preview || ""));
      item.addEventListener("click", () => open(t.conversation));
      list.appendChild(item);
    }
  }

  async function refreshAnalytics() {
    let a;
    try { a = await api("/console/api/analytics"); } catch (e) { return showError(e.message); }
    const dl = $("analytics");
    dl.replaceChildren();
    const pct = (x) => `${(x * 100).toFixed(1)}%`;
    const rows = [
      ["Conversations", a.conversations],
      ["Containment rate", pct(a.containment_rate)],
      ["Handoff rate", pct(a.handoff_rate)],
      ["Median wait", a.median_wait_seconds === null ? "–" : `${Math.round(a.median_wait_seconds)} s`],
      ["Waiting now", a.waiting],
    ];
    for (const [k, v] of rows) {
      dl.appendChild(el("dt", null, k));
      const dd = el("dd", null, v);
      dd.dataset.metric = k;
      dl.appendChild(dd);
    }
    const list = $("fallbacks");
    list.replaceChildren();
    for (const [text, count] of a.top_fallbacks) {
      const li = el("li", "fallback");
      li.appendChild(el("span", "text", text));
      li.appendChild(el("span", "count", ` ×${count} `));
      const copy = el("button", "copy-yaml", "Copy as YAML example");
      copy.type = "button";
      copy.addEventListener("click", () => copyYaml(text));
      li.appendChild(copy);
      list.appendChild(li);
    }
  }

  async function copyYaml(text) {
    // JSON string syntax is valid YAML double-quoted scalar syntax.
    const yaml = `      - ${JSON.stringify(text)}`;
    $("yaml-example").value = yaml;
    try { await navigator.clipboard.writeText(yaml); } catch (_) { /* the text box holds it */ }
  }

  async function loadCanned() {
    let canned;
    try { canned = await api("/console/api/canned"); } catch (_) { return; }
    const select = $("canned");
    select.replaceChildren(el("option", null, "Canned replies…"));
    select.firstChild.value = "";
    for (const c of canned) {
      const option = el("option", null, c.title);
      option.value = c.text;
      select.appendChild(option);
    }
  }

  function open(conversation) {
    current = conversation;
    showError("");
    loadConversation(conversation);
  }

  function describe(message) {
    if (message.direction === "in") return { cls: "fan", who: "Fan" };
    if (message.sender === "bot") return { cls: "bot", who: "Bot" };
    if (message.sender.startsWith("agent:")) return { cls: "agent", who: message.sender.slice(6) };
    return { cls: "system", who: "Notice" };
  }

  async function loadConversation(conversation) {
    let view;
    try { view = await api(`/console/api/conversations/${encodeURIComponent(conversation)}`); }
    catch (e) { return showError(e.message); }
    if (current !== conversation) return;
    $("conversation").hidden = false;
    $("conversation-title").textContent = `${view.transcript.channel} · ${conversation}`;
    const t = view.ticket;
    const state = t ? (t.state === "claimed" ? `claimed by ${t.agent}` : t.state) : "with the bot";
    $("ticket-state").textContent = t ? `Handoff (${t.reason.replace("_", " ")}): ${state}` : "With the bot";
    $("ticket-state").dataset.state = t ? t.state : "bot";
    const mine = t && t.state === "claimed" && t.agent === me;
    $("claim").hidden = !(t && t.state === "waiting") || !answers();
    $("note-box").hidden = !answers();
    $("reply-box").hidden = !mine;
    $("end-box").hidden = !mine;
    const items = view.transcript.messages.map((m) => ({ at: m.created_ms, id: m.id, m }))
      .concat(view.notes.map((n) => ({ at: n.created_ms, id: 0, n })))
      .sort((a, b) => a.at - b.at || a.id - b.id);
    const box = $("transcript");
    box.replaceChildren();
    for (const item of items) {
      if (item.n) {
        const note = el("div", "note", item.n.text);
        note.prepend(el("span", "who", `Note by ${item.n.agent}`));
        box.appendChild(note);
        continue;
      }
      const m = item.m;
      const { cls, who } = describe(m);
      const div = el("div", `msg ${cls}`);
      div.dataset.id = m.id;
      div.appendChild(el("span", "who", who));
      div.appendChild(el("span", "text", m.text));
      if (m.nlu && m.nlu.intent) {
        const s = typeof m.nlu.sentiment === "number" ? ` · sentiment ${m.nlu.sentiment.toFixed(2)}` : "";
        div.appendChild(el("span", "nlu", `${m.nlu.intent.name} (${m.nlu.intent.confidence.toFixed(2)})${s}`));
      }
      // What the bot looked up for this message: backend calls, knowledge.
      for (const c of (m.nlu && m.nlu.actions) || []) {
        const status = c.status ? `${c.status}, ` : "";
        const why = c.detail ? ` · ${c.detail}` : "";
        div.appendChild(el("span", "lookup", `called ${c.action}: ${c.outcome} (${status}${c.duration_ms} ms)${why}`));
      }
      if (m.nlu && m.nlu.knowledge) {
        const k = m.nlu.knowledge;
        div.appendChild(el("span", "lookup", `knowledge: ${k.path} (similarity ${k.similarity.toFixed(2)})`));
      }
      if (m.nlu && m.nlu.explanation) div.appendChild(explanation(m.nlu.explanation));
      if (m.direction === "in" && trains()) div.appendChild(trainBox(m));
      box.appendChild(div);
    }
    box.scrollTop = box.scrollHeight;
  }

  // Why the bot did what it did with a fan message: a folded "Why?" box.
  function explanation(x) {
    const box = el("details", "why");
    box.appendChild(el("summary", "", `Why? ${x.rule.name.replaceAll("_", " ")}`));
    const pct = (v) => v.toFixed(2);
    const lines = [`Rule: ${x.rule.detail}`,
      `Intents: ${x.intents.map((r) => `${r.name} ${pct(r.confidence)}`).join(", ")}`]
      .concat(x.nearest.map((n) => `Nearest example: "${n.text}" (${n.intent}, ${pct(n.similarity)})`))
      .concat(x.entities.map((e) => `Entity ${e.entity} = "${e.value}" from "${e.text}" via ${e.source}`))
      .concat(x.knowledge.map((k) => `Knowledge: ${k.source} (${pct(k.similarity)}${k.confident ? ", confident" : ""})`))
      .concat(x.actions.map((a) => `Called ${a.action}: ${a.outcome}${a.status ? ` (${a.status})` : ""}${a.detail ? ` · ${a.detail}` : ""}`));
    if (x.tool) lines.push(`Tool: ${x.tool}`);
    for (const line of lines) box.appendChild(el("span", "lookup", line));
    return box;
  }

  async function act(path, body) {
    showError("");
    try {
      await api(`/console/api/conversations/${encodeURIComponent(current)}/${path}`, { method: "POST", body });
      return true;
    } catch (e) {
      showError(e.message);
      return false;
    } finally {
      await refreshAll();
    }
  }

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    showError("");
    try {
      const session = await api("/console/api/login", {
        method: "POST", body: { name: $("name").value, password: $("password").value } });
      $("password").value = "";
      signedIn(session);
    } catch (err) {
      showError(err.message);
    }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("/console/api/logout", { method: "POST" }); } catch (_) { /* signed out anyway */ }
    signedOut();
  });
  $("open-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("open-id").value.trim();
    if (id) open(id);
  });
  $("claim").addEventListener("click", () => act("claim"));
  $("send").addEventListener("click", async () => {
    if (await act("reply", { text: $("reply-text").value })) $("reply-text").value = "";
  });
  $("canned").addEventListener("change", () => {
    if ($("canned").value) $("reply-text").value = $("canned").value;
    $("canned").selectedIndex = 0;
  });
  $("add-note").addEventListener("click", async () => {
    if (await act("notes", { text: $("note-text").value })) $("note-text").value = "";
  });
  $("release").addEventListener("click", () => act("release"));
  $("close").addEventListener("click", () => act("close", { resolution: $("resolution").value }));

  api("/console/api/session").then(signedIn, signedOut);
})();
