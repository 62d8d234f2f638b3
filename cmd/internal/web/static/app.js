// The topicrpc web console: the fleet and the calls made from the page,
// live, from server-sent events. Dependency-free. Everything a server or
// the register sent is shown as text: this script sets textContent and
// attributes, never markup, so an HTML or script payload in a result
// stays text (and the Content-Security-Policy would not run it anyway).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  // el makes an element holding text.
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function fmtMS(ms) {
    if (ms < 10) return ms.toFixed(2) + " ms";
    if (ms < 10000) return Math.round(ms) + " ms";
    return (ms / 1000).toFixed(1) + " s";
  }

  function fmtDur(ms) {
    let s = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(s / 86400); s %= 86400;
    const h = Math.floor(s / 3600); s %= 3600;
    const m = Math.floor(s / 60); s %= 60;
    let out = "";
    if (d) out += d + "d ";
    if (d || h) out += h + "h ";
    if (d || h || m) out += m + "m ";
    return out + s + "s";
  }

  // ---- The fleet: one "fleet" event per reading of the register.

  let fleet = null;
  let skew = 0; // the browser's clock minus the console's

  function serverNow() { return Date.now() - skew; }

  function renderFleet() {
    const rows = $("fleet-rows");
    if (!rows || !fleet) return;
    const q = ($("fleet-filter").value || "").trim().toLowerCase();
    const now = serverNow();
    const out = [];
    for (const s of fleet.servers) {
      if (q && !s.name.toLowerCase().includes(q) && !s.bindings.some((b) => b.toLowerCase().includes(q))) continue;
      const tr = el("tr", null, "state-" + s.state);
      tr.setAttribute("data-server", s.name);
      const live = s.state === "up" || s.state === "unresponsive";
      tr.append(
        el("td", s.name),
        el("td", s.state, "state"),
        el("td", s.bindings.join(", ")),
        el("td", s.commands.join(", ")),
        el("td", s.version),
        el("td", s.host + (s.pid ? " (pid " + s.pid + ")" : "")),
        el("td", live ? fmtDur(now - Date.parse(s.started)) : "—"),
        el("td", s.state === "up" ? "now" : fmtDur(now - Date.parse(s.last_seen)) + " ago"),
      );
      out.push(tr);
    }
    rows.replaceChildren(...out);
    const c = fleet.counts;
    $("fleet-counts").textContent = fleet.servers.length + " server(s): " + c.up + " up, " + c.unresponsive +
      " unresponsive, " + c.down + " down, " + c.stopped + " stopped" + (q ? "; " + out.length + " shown" : "");
    const err = $("fleet-error");
    err.hidden = !fleet.error;
    err.textContent = fleet.error ? fleet.error + " (showing the reading of " + new Date(fleet.read).toLocaleTimeString() + ")" : "";
  }

  function setConn(text, cls) {
    const c = $("conn");
    if (!c) return;
    c.textContent = text;
    c.className = "conn " + cls;
  }

  function watchFleet() {
    if (!$("fleet-rows")) return;
    const es = new EventSource("/api/fleet");
    es.addEventListener("fleet", (e) => {
      fleet = JSON.parse(e.data);
      skew = Date.now() - Date.parse(fleet.now);
      setConn(fleet.error ? "broker unreachable" : "live", fleet.error ? "bad" : "ok");
      renderFleet();
      if ($("target").value.trim()) schedulePreview();
    });
    es.addEventListener("open", () => setConn("live", "ok"));
    es.addEventListener("error", () => setConn("reconnecting…", "bad"));
    $("fleet-filter").addEventListener("input", renderFleet);
    setInterval(renderFleet, 1000); // uptimes and last seen
  }

  // ---- Who would answer: the register, matched by the console as the
  // broker would, while the target is typed.

  let previewTimer = 0;
  let previewSeq = 0;

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 120);
  }

  async function preview() {
    const p = $("preview");
    const target = $("target").value.trim();
    const seq = ++previewSeq;
    if (!target) { p.replaceChildren(); return; }
    let j;
    try {
      const r = await fetch("/api/preview?target=" + encodeURIComponent(target) + "&any=" + ($("any").checked ? 1 : 0),
        { credentials: "same-origin" });
      j = await r.json();
    } catch (e) {
      j = { servers: [], error: "the console cannot be reached" };
    }
    if (seq !== previewSeq) return; // a newer one is on its way
    const parts = [];
    if (j.servers.length === 0) {
      parts.push(el("span", j.error ? j.error : "No server in the register matches " + target + "."));
    } else {
      parts.push(el("span", ($("any").checked ? "One of these would answer: " : "Would answer: ")));
      j.servers.forEach((s, i) => {
        if (i) parts.push(document.createTextNode(", "));
        const chip = el("span", s.name + (s.state === "up" ? "" : " (" + s.state + ")"), "chip state-" + s.state);
        chip.setAttribute("data-server", s.name);
        parts.push(chip);
      });
      if (j.error) parts.push(el("span", " — " + j.error, "error"));
    }
    p.replaceChildren(...parts);
  }

  // ---- Calls: posted, then followed on their event stream.

  function showCallError(msg) {
    const e = $("call-error");
    e.hidden = !msg;
    e.textContent = msg || "";
  }

  async function submitCall(ev) {
    ev.preventDefault();
    const form = ev.target;
    showCallError("");
    let r, j;
    try {
      r = await fetch("/api/calls", {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf },
        body: new URLSearchParams(new FormData(form)),
      });
      j = await r.json();
    } catch (e) {
      showCallError("the console cannot be reached: " + e);
      return;
    }
    if (!r.ok) {
      showCallError(j.error || r.statusText);
      return;
    }
    followCall(j, $("target").value.trim(), $("command").value.trim());
  }

  const maxCards = 10;

  function followCall(started, target, command) {
    const card = el("div", null, "call");
    card.id = "call-" + started.id;
    card.setAttribute("data-state", "running");
    const head = el("h3");
    const link = el("a", target + " " + command);
    link.href = started.page;
    head.append(link);
    const status = el("p", "running…", "summary");
    const table = el("table", null, "results");
    const thead = el("thead");
    const hr = el("tr");
    hr.append(el("th", "Server"), el("th", "State"), el("th", "Time"), el("th", "Result"));
    thead.append(hr);
    const tbody = el("tbody");
    table.append(thead, tbody);
    card.append(head, status, table);
    const calls = $("calls");
    calls.prepend(card);
    while (calls.children.length > maxCards) calls.lastElementChild.remove();

    const t0 = performance.now();
    const rows = new Map();
    function row(server) {
      let tr = rows.get(server);
      if (!tr) {
        tr = el("tr");
        tr.setAttribute("data-server", server);
        tr.append(el("td", server), el("td", "waiting", "state"), el("td", "", "time"), el("td", null, "result"));
        tr.cells[3].append(el("pre"));
        rows.set(server, tr);
        tbody.append(tr);
      }
      return tr;
    }
    function set(tr, state, label, ms, text) {
      tr.className = "state-" + state;
      tr.setAttribute("data-state", state);
      tr.cells[1].textContent = label;
      if (ms !== null) tr.cells[2].textContent = fmtMS(ms);
      if (text !== null) tr.cells[3].firstChild.textContent = text;
    }
    const final = new Set();
    const tick = setInterval(() => {
      const ms = performance.now() - t0;
      status.textContent = "running… " + fmtMS(ms);
      for (const [server, tr] of rows) if (!final.has(server)) tr.cells[2].textContent = fmtMS(ms);
    }, 100);
    function over(state) {
      clearInterval(tick);
      card.setAttribute("data-state", state);
      es.close();
    }

    const es = new EventSource(started.events);
    es.addEventListener("begin", (e) => {
      const b = JSON.parse(e.data);
      if (b.job && !head.querySelector(".job")) {
        const job = el("a", "job " + b.call, "job");
        job.href = b.job;
        head.append(" ", job);
      }
      for (const s of b.servers) set(row(s.server), s.state, s.label, null, null);
    });
    es.addEventListener("progress", (e) => {
      for (const s of JSON.parse(e.data).servers) {
        if (!final.has(s.server)) set(row(s.server), s.state, s.label, null, null);
      }
    });
    es.addEventListener("reply", (e) => {
      const r = JSON.parse(e.data);
      final.add(r.server);
      set(row(r.server), r.state, r.state, r.at_ms, r.error ? r.code + ": " + r.error : r.result);
    });
    es.addEventListener("summary", (e) => {
      const s = JSON.parse(e.data);
      for (const o of s.servers) {
        const replied = final.has(o.server);
        final.add(o.server);
        set(row(o.server), o.state, o.label, replied ? null : o.latency_ms || null, replied ? null : (o.error ? o.code + ": " + o.error : o.result || ""));
      }
      status.textContent = s.text;
      over("done");
    });
    es.addEventListener("failure", (e) => {
      status.textContent = JSON.parse(e.data).error;
      status.className = "summary error";
      over("failed");
    });
    es.addEventListener("end", () => es.close());
  }

  document.addEventListener("DOMContentLoaded", () => {
    watchFleet();
    const form = $("call-form");
    if (form) {
      form.addEventListener("submit", submitCall);
      $("target").addEventListener("input", schedulePreview);
      $("any").addEventListener("change", schedulePreview);
    }
  });
})();
