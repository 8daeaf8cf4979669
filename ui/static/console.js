// Sluice console: fetches server-rendered pages from /v1/console/ with the
// user's token, refetches them when /v1/events says something changed, and
// sends manual actions to the same API the CLI uses. The token lives in
// sessionStorage (this tab only) and travels only in the Authorization
// header, never in a URL.
"use strict";
(function () {
  const TOKEN_KEY = "sluice.token";
  const view = document.getElementById("view");
  const banner = document.getElementById("banner");
  const live = document.getElementById("live");
  const who = document.getElementById("who");
  const tokenInput = document.getElementById("token");
  const signout = document.getElementById("signout");

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  function headers(extra) {
    const h = Object.assign({ "X-Sluice-Actor": "console" }, extra || {});
    if (token()) h["Authorization"] = "Bearer " + token();
    return h;
  }

  // route maps the page's path to the view that renders it.
  function route() {
    const p = location.pathname;
    let m;
    if ((m = p.match(/^\/ui\/releases\/([^/]+)$/))) return { url: "/v1/console/release/" + m[1], kind: "release", name: decodeURIComponent(m[1]) };
    if ((m = p.match(/^\/ui\/trains\/([^/]+)$/))) return { url: "/v1/console/train/" + m[1], kind: "train", name: decodeURIComponent(m[1]) };
    if (/^\/ui\/cluster\/?$/.test(p)) return { url: "/v1/console/cluster/", kind: "cluster" };
    return { url: "/v1/console/overview/", kind: "overview" };
  }
  const here = route();

  function showError(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }

  async function errorText(resp) {
    try {
      const body = await resp.json();
      if (body && body.error) return body.error;
    } catch (e) { /* not JSON */ }
    return resp.status + " " + resp.statusText;
  }

  let loading = false, again = false;
  async function load() {
    if (loading) { again = true; return; }
    loading = true;
    const started = Date.now();
    try {
      const resp = await fetch(here.url, { headers: headers(), cache: "no-store" });
      if (resp.ok || resp.status === 404) {
        const keep = keepInputs();
        view.innerHTML = await resp.text();
        restoreInputs(keep);
        enableActions();
        showError("");
      } else {
        showError(await errorText(resp));
      }
    } catch (e) {
      showError("cannot reach this Sluice node: " + e.message);
    } finally {
      cost = Date.now() - started;
      loading = false;
      if (again) { again = false; setTimeout(load, 250); }
    }
  }

  // The reason a user is typing survives a re-render of the page, and so
  // does the answer to the last action: a live update may replace the page
  // while an action is on its way.
  let answer = { text: "", cls: "result" };
  function keepInputs() {
    const i = view.querySelector("input[name=reason]");
    return { value: i ? i.value : "", focused: !!i && document.activeElement === i };
  }
  function restoreInputs(keep) {
    const i = view.querySelector("input[name=reason]");
    if (i) {
      i.value = keep.value;
      if (keep.focused) i.focus();
    }
    showAnswer();
  }
  function showAnswer() {
    const r = view.querySelector(".actions .result");
    if (r) { r.textContent = answer.text; r.className = answer.cls; }
  }
  function say(cls, text) {
    answer = { text: text, cls: cls };
    showAnswer();
  }

  function enableActions() {
    const on = token() !== "";
    view.querySelectorAll("[data-needs-token]").forEach(el => el.classList.toggle("armed", on));
    view.querySelectorAll("button[data-action]").forEach(b => { b.disabled = !on; });
  }

  // Refetch at most once a second whatever the event rate, and never
  // spend more than a fifth of the time on it: a release with a long
  // record refreshes less often.
  let timer = null, last = 0, cost = 0;
  function refresh() {
    if (timer) return;
    const wait = Math.max(0, Math.max(1000, 5 * cost) - (Date.now() - last));
    timer = setTimeout(() => { timer = null; last = Date.now(); load(); }, wait);
  }

  function relevant(type, data) {
    switch (here.kind) {
      case "overview": return type === "release" || type === "train";
      case "release": return type === "release" && data.name === here.name;
      case "train": return (type === "train" && data.name === here.name) || (type === "release" && data.train === here.name);
      case "cluster": return type === "state";
    }
    return false;
  }

  // follow reads /v1/events (server-sent events) with fetch, because
  // EventSource cannot send an Authorization header.
  // A change applied while no stream was open is in no event: the page
  // re-fetches on every hello, which opens each (re)connected stream. A
  // retry still pending from an earlier stream is dropped, or it would
  // replace the new stream later and open another gap.
  let stream = null, backoff = 1000, retry = null;
  async function follow() {
    if (retry) { clearTimeout(retry); retry = null; }
    if (stream) stream.abort();
    const ctl = new AbortController();
    stream = ctl;
    try {
      const resp = await fetch("/v1/events", { headers: headers({ Accept: "text/event-stream" }), signal: ctl.signal, cache: "no-store" });
      if (!resp.ok) throw new Error(await errorText(resp));
      live.textContent = "live"; live.className = "live on";
      backoff = 1000;
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          dispatch(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      live.title = "Live updates: " + e.message;
    }
    if (stream !== ctl) return;
    live.textContent = "reconnecting"; live.className = "live off";
    retry = setTimeout(follow, backoff);
    backoff = Math.min(backoff * 2, 15000);
  }

  function dispatch(block) {
    let type = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) type = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    let parsed = {};
    try { parsed = data ? JSON.parse(data) : {}; } catch (e) { return; }
    if (type === "hello" || relevant(type, parsed)) refresh();
  }

  async function whoami() {
    try {
      const resp = await fetch("/v1/whoami", { headers: headers(), cache: "no-store" });
      if (!resp.ok) { who.textContent = token() ? "token refused" : "no token"; return; }
      const id = await resp.json();
      const roles = (id.roles || []).join(", ");
      who.textContent = id.auth ? (id.user + " (" + roles + ")") : (token() ? "authentication off: acting as console" : "authentication off");
    } catch (e) { who.textContent = ""; }
  }

  function signedIn() {
    const on = token() !== "";
    signout.hidden = !on;
    tokenInput.hidden = on;
    document.getElementById("signin").hidden = on;
  }

  document.getElementById("login").addEventListener("submit", ev => {
    ev.preventDefault();
    const t = tokenInput.value.trim();
    tokenInput.value = "";
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    restart();
  });
  signout.addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); restart(); });

  function restart() { signedIn(); whoami(); load(); follow(); }

  view.addEventListener("click", async ev => {
    const b = ev.target.closest("button[data-action]");
    if (!b || b.disabled) return;
    const label = b.textContent;
    const input = view.querySelector(".actions input[name=reason]");
    const reason = input ? input.value : "";
    b.disabled = true;
    say("result", label + "…");
    try {
      const resp = await fetch(b.dataset.url, {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(reason ? { reason: reason } : {}),
      });
      if (resp.ok) {
        say("result ok", label + ": done");
        const i = view.querySelector(".actions input[name=reason]");
        if (i) i.value = "";
        load();
      } else {
        say("result error", label + " refused: " + (await errorText(resp)));
      }
    } catch (e) {
      say("result error", label + " failed: " + e.message);
    } finally {
      b.disabled = token() === "";
    }
  });

  if (here.kind === "cluster") setInterval(load, 10000); // ACKs change without a state change
  restart();
})();
