"""The live page: one constant HTML document, no build step, no CDN (the box is offline).

Everything it shows comes from the event stream as JSON and is set with `textContent`, never as HTML: a
frame's name is user input. The page itself never changes, so no server-side escaping is needed; the
Content-Security-Policy admits only this page's own script (by its hash) and same-origin requests.
"""

from __future__ import annotations

import base64
import hashlib

SCRIPT = r"""
"use strict";
const $ = (id) => document.getElementById(id);
const fmt = (v, d) => (v === null || v === undefined ? "-" : Number(v).toFixed(d));
let shownIndex = null, loading = false, pending = false, rejectIds = "", threshold = null;
window.liveUpdates = 0;

async function loadFrame() {
  // One request at a time; while one is in flight only "load again" is remembered: a slow browser gets
  // fewer frames, never a queue of them.
  if (loading) { pending = true; return; }
  loading = true;
  try {
    const response = await fetch("frame.jpg", {cache: "no-store"});
    if (response.ok) {
      const index = response.headers.get("X-Frame-Index");
      const url = URL.createObjectURL(await response.blob());
      const img = $("frame"), old = img.src;
      img.onload = () => { if (old.startsWith("blob:")) URL.revokeObjectURL(old); };
      img.src = url;
      if (index !== img.dataset.index) { img.dataset.index = index; window.liveUpdates += 1; }
    }
  } finally {
    loading = false;
    if (pending) { pending = false; loadFrame(); }
  }
}

function drawTrend(scores) {
  const canvas = $("trend"), ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const finite = scores.filter((s) => s !== null);
  const top = Math.max(threshold ? 2 * threshold : 0, ...finite, 1e-9) * 1.05;
  const y = (v) => h - (v / top) * h;
  const step = w / Math.max(scores.length - 1, 1);
  if (threshold) {
    ctx.strokeStyle = "#d33"; ctx.setLineDash([6, 4]); ctx.beginPath();
    ctx.moveTo(0, y(threshold)); ctx.lineTo(w, y(threshold)); ctx.stroke(); ctx.setLineDash([]);
  }
  ctx.strokeStyle = "#39f"; ctx.beginPath();
  scores.forEach((s, i) => { if (s !== null) { if (i) ctx.lineTo(i * step, y(s)); else ctx.moveTo(0, y(s)); } });
  ctx.stroke();
}

function showRejects(rejects) {
  const ids = rejects.map((r) => r.id).join(",");
  if (ids === rejectIds) return;
  rejectIds = ids;
  const box = $("rejects");
  box.replaceChildren();
  for (const r of rejects) {
    const button = document.createElement("button");
    button.className = "reject";
    button.dataset.id = r.id;
    const thumb = document.createElement("img");
    thumb.src = "ng/" + r.id + "_thumb.jpg";
    thumb.alt = "rejected frame " + r.index;
    const caption = document.createElement("span");
    caption.textContent = (r.name || "#" + r.index) + " " + fmt(r.score, 3);
    button.title = r.name || "#" + r.index;
    button.append(thumb, caption);
    button.onclick = () => {
      $("viewer").src = "ng/" + r.id + ".jpg";
      $("viewer-caption").textContent = (r.name || "frame " + r.index) + ": score " + fmt(r.score, 4);
      $("viewer-box").hidden = false;
    };
    box.append(button);
  }
}

function update(s) {
  threshold = s.model.threshold;
  $("model-name").textContent = s.model.name;
  $("model-digest").textContent = s.model.digest.slice(0, 12);
  $("model-digest").title = s.model.digest;
  $("model-threshold").textContent = threshold === null ? "none" : fmt(threshold, 4);
  for (const key of ["ok", "ng", "failed", "dropped", "missed", "reconnects"]) $(key).textContent = s.counts[key];
  $("fps").textContent = fmt(s.fps, 1);
  $("p50").textContent = fmt(s.p50_ms, 1);
  $("p99").textContent = fmt(s.p99_ms, 1);
  $("gap").textContent = fmt(s.gap_s, 1);
  $("state").textContent = s.running ? (s.ready ? "running" : "waiting for frames") : "stopped: " + s.stopped_by;
  if (s.latest) {
    $("verdict").textContent = s.latest.verdict;
    $("verdict").className = s.latest.verdict === "NG" ? "ng" : "ok";
    const ratio = s.latest.normalized === null ? "" : " (" + fmt(s.latest.normalized, 2) + "x)";
    $("score").textContent = fmt(s.latest.score, 4) + ratio;
    $("name").textContent = s.latest.name || "frame " + s.latest.index;
    if (s.latest.index !== shownIndex) { shownIndex = s.latest.index; loadFrame(); }
  }
  drawTrend(s.trend);
  showRejects(s.rejects);
}

$("viewer-box").onclick = () => { $("viewer-box").hidden = true; };
const events = new EventSource("events");
events.onmessage = (e) => update(JSON.parse(e.data));
events.onerror = () => { $("state").textContent = "disconnected (retrying)"; };
"""

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 0; background: #111; color: #ddd; }
header { padding: 8px 12px; background: #222; display: flex; gap: 24px; flex-wrap: wrap; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(220px, 1fr); gap: 12px; padding: 12px; }
#frame { width: 100%; background: #000; min-height: 120px; }
table { border-collapse: collapse; width: 100%; } td { padding: 3px 6px; } td:last-child { text-align: right; }
.ok { color: #4c4; } .ng { color: #f44; } #verdict { font-weight: bold; font-size: 20px; }
#trend { width: 100%; height: 120px; background: #000; }
#rejects { display: flex; gap: 8px; flex-wrap: wrap; padding: 0 12px 12px; }
.reject { background: #222; color: #ddd; border: 1px solid #444; display: flex; flex-direction: column;
  cursor: pointer; }
#viewer-box { position: fixed; inset: 0; background: rgba(0,0,0,.85); display: flex; flex-direction: column;
  align-items: center; justify-content: center; } #viewer-box[hidden] { display: none; }
#viewer { width: min(95vw, 1200px); max-height: 85vh; object-fit: contain; }
"""

BODY = """
<header><b>padim-edge</b><span>model <b id="model-name">-</b></span>
<span>digest <code id="model-digest">-</code></span><span>threshold <b id="model-threshold">-</b></span>
<span id="state">connecting</span></header>
<main>
<section><img id="frame" alt="newest frame with its heatmap">
<div><span id="verdict">-</span> score <b id="score">-</b> <span id="name"></span></div>
<canvas id="trend" width="900" height="120"></canvas>
<small>score of the last 300 frames (blue) against the threshold (red, dashed)</small></section>
<section><table>
<tr><td>OK</td><td id="ok">0</td></tr><tr><td>NG</td><td id="ng">0</td></tr>
<tr><td>failed</td><td id="failed">0</td></tr><tr><td>dropped</td><td id="dropped">0</td></tr>
<tr><td>missed</td><td id="missed">0</td></tr><tr><td>frames/s</td><td id="fps">-</td></tr>
<tr><td>latency p50 (ms)</td><td id="p50">-</td></tr><tr><td>latency p99 (ms)</td><td id="p99">-</td></tr>
<tr><td>reconnects</td><td id="reconnects">0</td></tr><tr><td>without a stream (s)</td><td id="gap">-</td></tr>
</table></section>
</main>
<h3 style="padding: 0 12px">Last rejected frames</h3>
<div id="rejects"></div>
<div id="viewer-box" hidden><img id="viewer" alt="overlay of a rejected frame"><p id="viewer-caption"></p></div>
"""

PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>padim-edge live</title>'
    f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
    f"<body>{BODY}<script>{SCRIPT}</script></body></html>"
).encode()

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src 'sha256-{_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
    "img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
