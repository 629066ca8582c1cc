// Heirloom pages: progressive enhancement only. Every form also works without this file.
"use strict";
document.documentElement.classList.add("js");

function $(sel, root) { return (root || document).querySelector(sel); }

// Bring progress and error messages into view (on a phone the form fills the screen), gently.
function reveal(el) {
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  el.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "nearest" });
}

// --- Upload page: drag & drop, several files, one request each with progress -------------
function setupUpload() {
  const form = $("#upload-form");
  if (!form) return;
  const input = $("#file"), zone = $("#dropzone"), chosen = $("#chosen");
  const list = $("#progress"), section = $("#progress-section"), submit = $("#submit");

  function showChosen() {
    chosen.replaceChildren(...Array.from(input.files).map((f) => {
      const li = document.createElement("li");
      li.textContent = `${f.name} (${(f.size / 1048576).toFixed(1)} MB)`; li.title = f.name;
      return li;
    }));
  }
  // Picking (or dropping) the photos starts the colouring, unless the options are open to be set first.
  const options = form.querySelector("details.options-box");
  const chosenGo = () => { showChosen(); if (input.files.length && !(options && options.open)) form.requestSubmit(); };
  input.addEventListener("change", chosenGo);
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; chosenGo(); }
  });

  function row(file) {
    const li = document.createElement("li");
    const name = document.createElement("span"); name.className = "name"; name.textContent = file.name; name.title = file.name;
    const state = document.createElement("span"); state.className = "state"; state.textContent = "Waiting";
    const bar = document.createElement("progress"); bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", `Progress of ${file.name}`);
    li.append(name, state, bar); list.append(li);
    return { li, state, bar };
  }

  // Nothing lost: while files are still on their way the page asks before it is left; a file that could not
  // be sent is declared missing (its batch settles without it and says so); every file carries its own
  // Idempotency-Key, so a repeat of it never makes a second photo.
  const unsent = new Set();  // positions whose bytes have not all left the browser: leaving asks first
  // Positions the server has not answered: bytes the browser sent may still be lost with the connection, so
  // leaving declares all of these; the server leaves alone those that did arrive.
  const unanswered = new Set();
  let current = null;  // the batch being sent
  window.addEventListener("beforeunload", (e) => { if (unsent.size) { e.preventDefault(); e.returnValue = ""; } });
  window.addEventListener("pagehide", () => {
    if (current && unanswered.size) {
      const body = new Blob([JSON.stringify({ positions: [...unanswered] })], { type: "application/json" });
      navigator.sendBeacon(`${current.url}/missing`, body);
    }
  });
  const newKey = () => (crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));

  // A brief outage (503: the queue or the database away, or a full queue) is not a failure: the same upload
  // is sent again after the server's Retry-After, with the same Idempotency-Key, so it is never stored twice.
  const BUSY_TRIES = 20;
  const BUSY_NOTE = "The server is busy: your photo is safe";

  function send(file, ui, batch, position, key = newKey(), tries = 0) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("file", file);
      if (batch) { data.append("batch", batch.id); data.append("position", String(position)); }
      for (const k of ["render_size", "policy", "saturation"]) {
        const v = form.elements[k].value; if (v !== "") data.append(k, v);
      }
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/photos");
      xhr.setRequestHeader("Idempotency-Key", key);
      xhr.responseType = "json";
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) { ui.bar.value = (e.loaded / e.total) * 90; ui.state.textContent = "Uploading"; }
      };
      xhr.upload.onload = () => {
        unsent.delete(position); ui.bar.removeAttribute("value"); ui.state.textContent = "Colorizing…";
      };
      const done = (body) => {
        ui.bar.value = 100; ui.state.textContent = "";
        const a = document.createElement("a"); a.href = body.page_url; a.textContent = "Open";
        ui.state.append(a); return body;
      };
      const failed = (message) => {
        ui.li.classList.add("failed"); ui.bar.value = 0; ui.state.textContent = message;
        reveal(ui.li); return null;
      };
      xhr.onload = () => {
        const body = xhr.response || {};
        const busy = xhr.status === 503 && tries < BUSY_TRIES;
        if (busy) unsent.add(position); else unanswered.delete(position);
        if (xhr.status === 201) resolve(done(body));
        // Queue mode: a job to follow. The upload slot frees at once (`later` settles when it is done),
        // so every photo gets in line rather than two at a time.
        else if (xhr.status === 202) resolve({ later: follow(body, ui, done, failed) });
        else if (busy) {
          const after = Math.min(30, Math.max(2, Number(xhr.getResponseHeader("Retry-After")) || 5));
          ui.state.textContent = `${BUSY_NOTE}; trying again in ${after} s`;
          setTimeout(() => resolve(send(file, ui, batch, position, key, tries + 1)), after * 1000);
        } else {
          const retry = xhr.getResponseHeader("Retry-After");
          resolve(failed((body.message || `Error ${xhr.status}`) + (retry ? ` (retry in ${retry}s)` : "")));
        }
      };
      xhr.onerror = () => {
        ui.li.classList.add("failed"); ui.state.textContent = "Network error: add this photo again"; reveal(ui.li);
        unsent.delete(position);
        if (batch && unanswered.delete(position)) {  // it may have arrived after all: the server keeps those
          fetch(`${batch.url}/missing`, { method: "POST", headers: { "content-type": "application/json" },
            body: JSON.stringify({ positions: [position] }) }).catch(() => {});
        }
        resolve(null);
      };
      xhr.send(data);
    });
  }

  // Queue mode: the server answered with a job; ask how it is doing until its photo is in the album.
  function follow(job, ui, done, failed) {
    const show = (j) => {
      if (j.notice) ui.state.textContent = `${BUSY_NOTE}; waiting`;
      else if (j.status === "queued") ui.state.textContent = j.position ? `In line: ${j.position} before it` : "Next in line";
      else if (j.status === "running") ui.state.textContent = "Colorizing…";
    };
    show(job);
    const wait = (ms) => new Promise((r) => setTimeout(r, ms));
    return (async () => {
      for (;;) {
        await wait(1000);
        let j;
        try {
          const r = await fetch(job.url, { headers: { Accept: "application/json" } });
          if (r.status === 502 || r.status === 503 || r.status === 504) {  // an outage, or a proxy without its server
            ui.state.textContent = `${BUSY_NOTE}; waiting`; await wait(2000); continue;
          }
          j = await r.json();
          if (!r.ok) return failed(j.message || `Error ${r.status}`);
        } catch (err) { await wait(2000); continue; }  // the network blinked: ask again
        if (j.status === "done") return done(j);
        if (j.status === "failed") return failed(j.error ? j.error.message : "Failed");
        show(j);
      }
    })();
  }

  form.addEventListener("submit", async (e) => {
    const files = Array.from(input.files);
    if (!files.length) return;
    e.preventDefault();
    submit.disabled = true; section.hidden = false; list.replaceChildren();
    const rows = files.map(row);
    reveal(section);
    // Several files make a batch: its page shows them all, before and after, when they are done.
    let batch = null;
    if (files.length > 1) {
      try {
        const r = await fetch("/api/batches", {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ names: files.map((f) => f.name) }),
        });
        if (r.status === 201) batch = await r.json();
      } catch (_) { /* without a batch the photos still go to the album */ }
    }
    current = batch;
    files.forEach((_, i) => { unsent.add(i); unanswered.add(i); });
    const results = [];
    let next = 0;
    // Two uploads at a time keep the server's queue busy without flooding it.
    async function worker() {
      while (next < files.length) { const i = next++; results[i] = await send(files[i], rows[i], batch, i); }
    }
    await Promise.all([worker(), worker()]);
    // Queue mode: each row shows its place in line until its photo is stored (`later`).
    unsent.clear(); unanswered.clear();
    const settled = await Promise.all(results.map((r) => (r && r.later ? r.later : r)));
    submit.disabled = false;
    const ok = settled.filter(Boolean);
    if (batch) window.location.assign(batch.page_url);
    else if (files.length === 1 && ok.length === 1) window.location.assign(ok[0].page_url);
  });
}

// --- Before/after sliders (the photo page's, the home page's example): range input + dragging ------------
function setupCompare(box) {
  const slider = document.querySelector(`input[aria-controls="${box.id}"]`);
  if (!slider) return;
  const img = box.querySelector("img.after");
  const download = document.getElementById("download-result");
  // The photo page: as wide as lets the whole photo, the slider and the Download button fit one screen from
  // the top of the page, whatever sits above it (a header in two rows, a long caption): measured, not guessed.
  const ratio = Number(img.getAttribute("width")) / Number(img.getAttribute("height"));
  function fit() {
    const top = box.getBoundingClientRect().top + window.scrollY;
    const below = download.getBoundingClientRect().bottom - box.getBoundingClientRect().bottom;
    const room = document.documentElement.clientHeight - top - below - 8;
    box.style.maxWidth = slider.style.maxWidth = `${Math.max(160, room * ratio)}px`;
  }
  if (download && box.id === "compare") { fit(); window.addEventListener("resize", fit); }
  function set(pct) {
    pct = Math.max(0, Math.min(100, pct));
    box.style.setProperty("--pos", pct + "%");
    slider.value = String(Math.round(pct));
    slider.setAttribute("aria-valuetext", `${Math.round(pct)}% original`);
  }
  slider.addEventListener("input", () => set(Number(slider.value)));
  // A mouse moves the divider where it presses; a finger only by dragging sideways (the picture is
  // `touch-action: pan-y`: a vertical swipe scrolls the page, and the browser then cancels our pointer).
  let drag = null;
  const move = (e) => { const r = box.getBoundingClientRect(); set(((e.clientX - r.left) / r.width) * 100); };
  box.addEventListener("pointerdown", (e) => {
    drag = { id: e.pointerId, x: e.clientX, y: e.clientY, started: e.pointerType === "mouse" };
    if (drag.started) { box.setPointerCapture(e.pointerId); move(e); }
  });
  box.addEventListener("pointermove", (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    if (!drag.started) {
      const dx = Math.abs(e.clientX - drag.x), dy = Math.abs(e.clientY - drag.y);
      if (Math.max(dx, dy) < 6) return;
      if (dy > dx) { drag = null; return; }
      drag.started = true; box.setPointerCapture(e.pointerId);
    }
    move(e);
  });
  box.addEventListener("pointerup", () => { drag = null; });
  box.addEventListener("pointercancel", () => { drag = null; });
  set(Number(slider.value));
}

// --- Batch page: while photos are still being colorized, reload when one is done ------------
function setupBatch() {
  const status = $("#batch-status[data-poll]");
  if (!status) return;
  const seen = Number(status.dataset.seen);
  const timer = setInterval(async () => {
    try {
      const r = await fetch(status.dataset.poll);
      if (!r.ok) return;
      const b = await r.json();
      if (b.done + b.failed + b.missing !== seen || b.settled) { clearInterval(timer); window.location.reload(); }
    } catch (_) { /* try again at the next tick */ }
  }, 2000);
}

// --- Album: ticks are kept across pages (this tab's session), the order applies at once, and "Download
// ticked" waits until a photo is ticked (without this file: ticks per page, and the server says so) ----
function setupZip() {
  const form = $("#zip-form");
  if (!form) return;
  const KEY = "heirloom-ticked";
  const load = () => { try { return new Set(JSON.parse(sessionStorage.getItem(KEY) || "[]")); } catch (_) { return new Set(); } };
  const save = (s) => { try { sessionStorage.setItem(KEY, JSON.stringify([...s])); } catch (_) { /* private mode */ } };
  const picked = load();
  const ticked = form.querySelector("button:not([name])"), count = $("#ticked-count");
  const boxes = Array.from(document.querySelectorAll('input[name=id][form="zip-form"]'));
  boxes.forEach((b) => { if (picked.has(b.value)) b.checked = true; });
  const update = () => {
    ticked.disabled = picked.size === 0;
    if (count) count.textContent = picked.size ? `(${picked.size})` : "";
  };
  boxes.forEach((b) => b.addEventListener("change", () => {
    if (b.checked) picked.add(b.value); else picked.delete(b.value);
    save(picked); update();
  }));
  form.addEventListener("submit", (e) => {  // ticks from other pages travel as hidden fields
    form.querySelectorAll("input[data-other-page]").forEach((i) => i.remove());
    if (e.submitter && e.submitter.name === "all") return;
    const here = new Set(boxes.map((b) => b.value));
    for (const id of picked) {
      if (here.has(id)) continue;
      const i = document.createElement("input");
      i.type = "hidden"; i.name = "id"; i.value = id; i.dataset.otherPage = "";
      form.append(i);
    }
  });
  update();
  const sort = $("#sort");
  if (sort) sort.addEventListener("change", () => sort.form.requestSubmit());
}

// --- Small things: live saturation value, confirm before delete -------------------------
function setupMisc() {
  document.querySelectorAll("input[type=range][name=saturation]").forEach((r) => {
    const out = document.getElementById("saturation-value");
    r.addEventListener("input", () => { if (out) out.textContent = Number(r.value).toFixed(2); });
  });
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => { if (!window.confirm(f.dataset.confirm)) e.preventDefault(); });
  });
}

// "Moved to the trash — Undo" stays a while, then leaves the page (the trash keeps the photo 30 days).
function setupToast() {
  const toast = $("#deleted-toast");
  if (!toast) return;
  let timer = setTimeout(() => { toast.hidden = true; }, 12000);
  toast.addEventListener("focusin", () => clearTimeout(timer));  // someone is about to press Undo
  const here = new URL(window.location.href);
  here.searchParams.delete("deleted");
  history.replaceState(null, "", here);  // a reload does not say it again
}

// Times: the server writes UTC into <time datetime>; show them in the reader's own time zone.
function setupTimes() {
  document.querySelectorAll("time[data-local][datetime]").forEach((t) => {
    const when = new Date(t.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) return;
    t.title = t.textContent;
    t.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  });
}

// A page that comes back with an error (the no-JavaScript form path) shows it first.
function setupErrors() {
  const err = $("#form-error");
  if (err) { reveal(err); err.focus({ preventScroll: true }); }
}

document.addEventListener("DOMContentLoaded", () => { setupUpload(); document.querySelectorAll("figure.compare").forEach(setupCompare); setupBatch(); setupZip(); setupMisc(); setupErrors(); setupTimes(); setupToast(); });
