// The dashboard's progressive enhancement: every page works without it (plain forms and links).
// With it: live updates over server-sent events, relative times, keyboard shortcuts, help.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // -- sign-in: a link from an email is a navigation from another site, which carries no
  // SameSite=Strict cookie; asking once more from this page sends it, if there is a session.
  const retry = $("[data-retry]");
  if (retry && document.referrer.indexOf(location.origin + "/") !== 0) location.replace(retry.dataset.retry);

  // -- times: "3 min ago", "12 min left" ----------------------------------------------------------
  function span(seconds) {
    const s = Math.abs(Math.round(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }
  function tick() {
    const now = Date.now();
    $$("time[data-since]").forEach((t) => { t.textContent = span((now - Date.parse(t.dataset.since)) / 1000) + " ago"; });
    $$("time[data-until]").forEach((t) => {
      const left = (Date.parse(t.dataset.until) - now) / 1000;
      t.textContent = left > 0 ? span(left) + " left" : "timed out";
    });
  }
  tick();
  setInterval(tick, 1000);

  // -- the queue: live rows and keyboard selection ------------------------------------------------
  let selected = 0;
  const rows = () => $$("#held tr.row");
  function select(i, focus) {
    const all = rows();
    all.forEach((r) => { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!all.length) return;
    selected = Math.max(0, Math.min(i, all.length - 1));
    const row = all[selected];
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    if (focus) { const link = $("a.subject", row); if (link) link.focus({ preventScroll: false }); }
  }
  const live = $("#live");
  if (live && live.dataset.stream && window.EventSource) {
    const source = new EventSource(live.dataset.stream);
    source.addEventListener("open", () => { live.textContent = "live"; live.classList.add("on"); });
    source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.classList.remove("on"); });
    source.addEventListener("signed_out", () => { source.close(); window.location = "/login"; });
    source.addEventListener("queue", (event) => {
      if (!$("#held")) { source.close(); return; }  // the document was replaced meanwhile
      const data = JSON.parse(event.data);
      const before = new Set(rows().map((r) => r.dataset.id));
      const current = rows()[selected];
      const keep = current ? current.dataset.id : null;
      $("#held").innerHTML = data.held;   // server-rendered and escaped
      $("#decided").innerHTML = data.decided;
      $("#held-count").textContent = data.count;
      document.title = (data.count ? "(" + data.count + ") " : "") + "Queue · MultiMail";
      rows().forEach((r) => { if (!before.has(r.dataset.id)) r.classList.add("fresh"); });
      const again = rows().findIndex((r) => r.dataset.id === keep);
      select(again >= 0 ? again : selected, false);
      tick();
    });
    select(0, false);
  }

  // -- a held message: told when it is decided or changed elsewhere --------------------------------
  const changed = $("#changed");
  if (changed && changed.dataset.stream && window.EventSource) {
    const source = new EventSource(changed.dataset.stream);
    source.addEventListener("changed", (event) => {
      source.close();
      const data = JSON.parse(event.data);
      changed.textContent = data.status && data.status !== "pending"
        ? "This message was " + data.status + " meanwhile by " + (data.decided_by || "someone else") + ". Reload to see it."
        : "This message was changed meanwhile: an approval of the version below would be refused. Reload to review it again.";
      changed.classList.remove("hidden");
      changed.classList.add("warn");
    });
    source.addEventListener("approvals", (event) => {  // another approver approved (N of M)
      const data = JSON.parse(event.data);
      const shown = $("#approvals");
      if (shown) shown.textContent = data.approvals.length + " of " + data.required + (data.approvals.length ? ": " + data.approvals.join(", ") : "");
    });
    source.addEventListener("signed_out", () => { source.close(); window.location = "/login"; });
  }

  // -- keyboard ----------------------------------------------------------------------------------------
  const help = $("#help");
  $$("[data-help]").forEach((b) => b.addEventListener("click", () => help.showModal()));
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    const page = document.body.dataset.page;
    const row = rows()[selected];
    const go = (sel) => { const el = sel(); if (el) { event.preventDefault(); el.click ? el.click() : el.submit(); } };
    switch (event.key) {
      case "?": event.preventDefault(); help.open ? help.close() : help.showModal(); break;
      case "j": if (page === "queue") { event.preventDefault(); select(selected + 1, true); } break;
      case "k": if (page === "queue") { event.preventDefault(); select(selected - 1, true); } break;
      case "o": case "Enter":
        if (page === "queue" && row && t === document.body) { event.preventDefault(); window.location = row.dataset.href; }
        break;
      case "a":
        if (page === "queue" && row) go(() => $("[data-approve] button", row));
        else if (page === "message") go(() => $("#approve"));
        break;
      case "e":
        if (page === "queue" && row) go(() => $("[data-edit]", row));
        else if (page === "message" && $("#edit-body")) { event.preventDefault(); $("#edit-body").focus(); }
        break;
      case "r":
        if (page === "queue" && row) go(() => $("[data-reject]", row));
        else if (page === "message" && $("#reason")) { event.preventDefault(); $("#reason").focus(); }
        break;
    }
  });
  // Arriving on a message page at #edit or #reject (from the queue's e / r): the field is ready
  // (after the browser's own scroll to the fragment, which would take the focus away again).
  window.addEventListener("load", () => setTimeout(() => {
    const field = { "#edit": "#edit-body", "#reject": "#reason" }[location.hash];
    if (field && $(field)) $(field).focus();
  }, 0));
})();
