// Photo page, "Fix a colour": colour hints the model takes in (Zhang et al. 2017), a preview after each change,
// saved as a new version. Mouse, touch and keyboard; a mode of its own, so it never fights the before/after slider.
"use strict";

function setupHints() {
  const card = document.getElementById("fix-colour");
  if (!card) return;
  const el = (id) => document.getElementById(id);
  const api = card.dataset.photo;  // /api/photos/{id}
  const start = el("fix-start"), work = el("hint-work"), frame = el("hint-frame"), img = el("hint-image");
  const dots = el("hint-dots"), picker = el("hint-picker"), suggested = el("hint-suggested");
  const recentBox = el("hint-recent"), recentLabel = el("hint-recent-label"), free = el("hint-free");
  const remove = el("hint-remove"), undo = el("hint-undo"), save = el("hint-save"), status = el("hint-status");
  card.hidden = false;  // it needs this script: without it the card stays hidden

  let hints = JSON.parse(card.dataset.hints || "[]");  // [{x, y, color, radius?}], as the API takes them
  const saved = JSON.stringify(hints);
  const history = [];  // earlier states, for undo
  let target = null;  // the picker's spot: {index} of a hint, or {x, y} of a new one
  let previewSeq = 0, previewTimer = 0, previewUrl = "";

  const RECENT = "heirloom-recent-colours";
  const recent = () => { try { return JSON.parse(localStorage.getItem(RECENT) || "[]"); } catch (_) { return []; } };
  function remember(color) {
    try { localStorage.setItem(RECENT, JSON.stringify([color, ...recent().filter((c) => c !== color)].slice(0, 8))); }
    catch (_) { /* private mode: no memory, still works */ }
  }
  const pct = (v) => `${Math.round(v * 100)}%`;
  const clamp = (v) => Math.max(0, Math.min(1, v));

  function change(fn) {
    history.push(JSON.stringify(hints));
    fn();
    undo.disabled = false;
    draw();
    schedulePreview();
  }

  function draw() {
    dots.replaceChildren(...hints.map((h, i) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "hint-dot"; b.dataset.index = String(i);
      b.style.left = `${h.x * 100}%`; b.style.top = `${h.y * 100}%`; b.style.background = h.color;
      b.setAttribute("aria-label", `Colour hint ${i + 1}, ${h.color}, ${pct(h.x)} across, ${pct(h.y)} down. `
        + "Arrow keys move it, Delete removes it, Enter changes its colour.");
      return b;
    }));
    save.disabled = JSON.stringify(hints) === saved;
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 250);
  }

  async function preview() {
    const seq = ++previewSeq;
    status.textContent = "Colouring the preview…";
    const data = new FormData();
    data.append("hints", JSON.stringify(hints));
    try {
      const r = await fetch(`${api}/preview`, { method: "POST", body: data });
      if (seq !== previewSeq) return;  // a newer change is on its way
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        status.textContent = body.message || `The preview failed (error ${r.status}).`;
        return;
      }
      const url = URL.createObjectURL(await r.blob());
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = url; img.src = url;
      status.textContent = hints.length ? `Preview with ${hints.length} colour hint${hints.length > 1 ? "s" : ""}.`
        : "Preview without hints.";
    } catch (_) {
      if (seq === previewSeq) status.textContent = "The server could not be reached; your hints are kept here.";
    }
  }

  // --- the picker -----------------------------------------------------------------------------
  function swatch(color, label) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "swatch"; b.dataset.color = color; b.style.background = color;
    b.setAttribute("aria-label", `${label} ${color}`); b.title = color;
    return b;
  }

  async function openPicker(spot) {
    target = spot;
    const h = spot.index !== undefined ? hints[spot.index] : null;
    remove.hidden = !h;
    if (h) free.value = h.color;
    const used = recent();
    recentLabel.hidden = !used.length;
    recentBox.replaceChildren(...used.map((c) => swatch(c, "Used lately:")));
    suggested.replaceChildren();
    picker.hidden = false;
    const where = h || spot;
    suggested.textContent = "Asking the model…";
    try {
      const r = await fetch(`${api}/suggestions?x=${where.x.toFixed(4)}&y=${where.y.toFixed(4)}`);
      const body = await r.json();
      if (target !== spot) return;
      if (!r.ok) { suggested.textContent = body.message || "No suggestions here."; return; }
      suggested.replaceChildren(...body.colors.map((c, i) => swatch(c, i === 0 ? "Most likely:" : "Likely:")));
      const first = suggested.querySelector("button");
      if (first) first.focus();
    } catch (_) {
      if (target === spot) suggested.textContent = "No suggestions (the server could not be reached).";
    }
  }

  function closePicker() {
    const was = target;
    picker.hidden = true; target = null;
    const dot = was && was.index !== undefined ? dots.children[was.index] : null;
    (dot || el("hint-add")).focus();
  }

  function choose(color) {
    const spot = target;
    if (!spot) return;
    remember(color);
    if (spot.index !== undefined) change(() => { hints[spot.index] = { ...hints[spot.index], color }; });
    else if (hints.length >= 64) { status.textContent = "64 hints are the most one photo takes."; }
    else change(() => { hints.push({ x: spot.x, y: spot.y, color }); });
    target = spot.index !== undefined ? spot : { index: hints.length - 1 };
    closePicker();
  }

  picker.addEventListener("click", (e) => {
    const s = e.target.closest(".swatch");
    if (s) choose(s.dataset.color);
  });
  el("hint-use-free").addEventListener("click", () => choose(free.value));
  el("hint-cancel").addEventListener("click", closePicker);
  remove.addEventListener("click", () => {
    const i = target.index;
    target = null;
    change(() => { hints.splice(i, 1); });
    picker.hidden = true; el("hint-add").focus();
  });
  picker.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); closePicker(); } });

  // --- pointer: tap the photo to add, drag or tap a dot ------------------------------------------
  function spotOf(e) {
    const r = img.getBoundingClientRect();
    return { x: clamp((e.clientX - r.left) / r.width), y: clamp((e.clientY - r.top) / r.height) };
  }
  let drag = null;  // {index, id, moved, before}
  frame.addEventListener("pointerdown", (e) => {
    const dot = e.target.closest(".hint-dot");
    if (!dot) return;
    e.preventDefault();
    drag = { index: Number(dot.dataset.index), id: e.pointerId, moved: false, before: JSON.stringify(hints) };
    dot.setPointerCapture(e.pointerId);
  });
  frame.addEventListener("pointermove", (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    const s = spotOf(e);
    const h = hints[drag.index];
    if (!drag.moved && Math.hypot((s.x - h.x) * img.width, (s.y - h.y) * img.height) < 4) return;
    drag.moved = true;
    hints[drag.index] = { ...h, ...s };
    const dot = dots.children[drag.index];
    dot.style.left = `${s.x * 100}%`; dot.style.top = `${s.y * 100}%`;
  });
  const endDrag = (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    const d = drag; drag = null;
    if (d.moved) {
      history.push(d.before); undo.disabled = false; draw(); schedulePreview();
    } else openPicker({ index: d.index });
  };
  frame.addEventListener("pointerup", endDrag);
  frame.addEventListener("pointercancel", (e) => { if (drag && e.pointerId === drag.id) { hints = JSON.parse(drag.before); drag = null; draw(); } });
  img.addEventListener("click", (e) => openPicker(spotOf(e)));

  // --- keyboard: dots are buttons -------------------------------------------------------------
  dots.addEventListener("keydown", (e) => {
    const dot = e.target.closest(".hint-dot");
    if (!dot) return;
    const i = Number(dot.dataset.index);
    const step = e.shiftKey ? 0.05 : 0.01;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      e.preventDefault();
      const [dx, dy] = moves[e.key];
      change(() => { hints[i] = { ...hints[i], x: clamp(hints[i].x + dx), y: clamp(hints[i].y + dy) }; });
      dots.children[i].focus();
    } else if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault();
      change(() => { hints.splice(i, 1); });
      (dots.children[Math.min(i, hints.length - 1)] || el("hint-add")).focus();
    }
  });
  dots.addEventListener("click", (e) => {  // Enter or Space on a focused dot (a pointer tap is handled above)
    const dot = e.target.closest(".hint-dot");
    if (dot && e.detail === 0) openPicker({ index: Number(dot.dataset.index) });
  });

  // --- the rest -------------------------------------------------------------------------------
  el("hint-add").addEventListener("click", () => openPicker({ x: 0.5, y: 0.5 }));
  undo.addEventListener("click", () => {
    if (!history.length) return;
    hints = JSON.parse(history.pop());
    undo.disabled = !history.length;
    draw(); schedulePreview();
  });
  start.addEventListener("click", () => {
    const open = work.hidden;
    work.hidden = !open;
    start.setAttribute("aria-expanded", String(open));
    start.textContent = open ? "Close “Fix a colour”" : "Fix a colour";
    if (open && !img.getAttribute("src")) { img.src = card.dataset.thumb; draw(); preview(); }
  });

  save.addEventListener("click", async () => {
    save.disabled = true;
    status.textContent = "Colouring the full-size photo…";
    const data = new FormData();
    data.append("hints", JSON.stringify(hints));
    try {
      const r = await fetch(`${api}/rerun`, { method: "POST", body: data, headers: { Accept: "application/json" } });
      const body = await r.json().catch(() => ({}));
      if (r.status === 201) { window.location.assign(`/photos/${body.id}?v=${body.favorite}`); return; }
      if (r.status === 202) { await follow(body); return; }
      status.textContent = body.message || `Saving failed (error ${r.status}).`;
    } catch (_) {
      status.textContent = "The server could not be reached; your hints are kept here. Try again.";
    }
    save.disabled = false;
  });

  // Queue mode: the new version is a job; wait for it, then show it.
  async function follow(job) {
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      let j;
      try {
        const r = await fetch(job.url, { headers: { Accept: "application/json" } });
        j = await r.json();
      } catch (_) { continue; }  // the network blinked: ask again
      if (j.status === "done") { window.location.assign(`/photos/${j.photo_id}`); return; }
      if (j.status === "failed") { status.textContent = j.error ? j.error.message : "Saving failed."; save.disabled = false; return; }
      status.textContent = j.status === "queued" ? "Waiting for the colorizer…" : "Colouring the full-size photo…";
    }
  }
}

document.addEventListener("DOMContentLoaded", setupHints);
