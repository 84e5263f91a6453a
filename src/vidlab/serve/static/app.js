// vidlab web page: upload, poll the job, draw the results. No libraries; text
// from the server is always set with textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#2f6fdb", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#e67700", "#5c940d", "#364fc7", "#a61e4d"];
const POLL_MS = 300;

function show(el, on) { el.hidden = !on; }

async function errorText(resp) {
  try {
    const body = await resp.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
  } catch (e) { /* not JSON */ }
  return `${resp.status} ${resp.statusText}`;
}

// Submit a form's file to `url`, then poll the job until it ends. Returns the finished job.
async function runJob(url, formData, ui) {
  show(ui.error, false);
  show(ui.result, false);
  show(ui.job, true);
  ui.progress.value = 0;
  ui.message.textContent = "uploading";
  ui.button.disabled = true;
  try {
    let resp = await fetch(url, { method: "POST", body: formData });
    if (!resp.ok) throw new Error(await errorText(resp));
    let job = await resp.json();
    while (job.state === "queued" || job.state === "running") {
      ui.progress.value = job.progress;
      ui.message.textContent = job.queue_position ? `waiting (place ${job.queue_position} in the queue)` : job.message;
      await new Promise((r) => setTimeout(r, POLL_MS));
      resp = await fetch(job.status_url);
      if (!resp.ok) throw new Error(await errorText(resp));
      job = await resp.json();
    }
    if (job.state === "error") throw new Error(job.error || "the job failed");
    ui.progress.value = 1;
    ui.message.textContent = `done in ${job.elapsed !== null ? job.elapsed.toFixed(1) + " s" : "-"}`;
    return job;
  } catch (e) {
    ui.error.textContent = e.message;
    show(ui.error, true);
    show(ui.job, false);
    return null;
  } finally {
    ui.button.disabled = false;
  }
}

// ---------------------------------------------------------------- video
function drawLabels(top) {
  const ol = $("labels");
  ol.replaceChildren();
  for (const t of top) {
    const li = document.createElement("li");
    li.className = "label";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = t.label;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = (100 * t.score).toFixed(1) + "%";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = Math.max(1, 100 * t.score) + "%";
    li.append(name, score, bar);
    ol.append(li);
  }
}

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawTimeline(timeline, duration) {
  const box = $("timeline");
  box.replaceChildren();
  const W = 900, H = 240, L = 40, R = 12, T = 10, B = 28;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "class scores per window over time" });
  const tmax = Math.max(duration || 0, ...timeline.times, 1e-6);
  const x = (t) => L + (W - L - R) * (t / tmax);
  const y = (s) => T + (H - T - B) * (1 - s);
  for (const s of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el("line", { x1: L, x2: W - R, y1: y(s), y2: y(s), class: "axis" }));
    svg.append(el("text", { x: L - 6, y: y(s) + 4, "text-anchor": "end" }, s.toFixed(2)));
  }
  const ticks = 8;
  for (let i = 0; i <= ticks; i++) {
    const t = (tmax * i) / ticks;
    svg.append(el("text", { x: x(t), y: H - 8, "text-anchor": "middle" }, t.toFixed(1) + " s"));
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  timeline.series.forEach((s, i) => {
    const c = COLOURS[i % COLOURS.length];
    const pts = s.scores.map((v, j) => `${x(timeline.times[j]).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg.append(el("polyline", { points: pts, fill: "none", stroke: c, "stroke-width": 2 }));
    s.scores.forEach((v, j) => svg.append(el("circle", { cx: x(timeline.times[j]), cy: y(v), r: 2.5, fill: c })));
    const item = document.createElement("span");
    item.style.setProperty("--c", c);
    item.textContent = s.label;
    legend.append(item);
  });
  box.append(svg, legend);
}

async function classify(ev) {
  ev.preventDefault();
  const file = $("video-file").files[0];
  if (!file) return;
  const fd = new FormData();
  fd.append("file", file);
  const topk = $("topk").value;
  const ui = { job: $("video-job"), progress: $("video-progress"), message: $("video-message"),
               error: $("video-error"), result: $("video-result"), button: $("video-go") };
  const job = await runJob(`/api/classify?topk=${encodeURIComponent(topk)}`, fd, ui);
  if (!job) return;
  const r = job.result;
  drawLabels(r.top);
  drawTimeline(r.timeline, r.duration);
  $("download-json").href = r.json_url;
  const video = $("annotated");
  if (r.video_url) { video.src = r.video_url; show(video, true); } else { show(video, false); }
  const heat = $("heatmap");
  if (r.heatmap_url) {
    heat.src = r.heatmap_url;
    const h = r.heatmap;
    $("heatmap-caption").textContent = `Grad-CAM for "${h.label}" (p=${h.prob.toFixed(3)}) at ` +
      `${h.start_sec.toFixed(1)}-${h.end_sec.toFixed(1)} s, layer ${h.layer}${h.pathway ? " (" + h.pathway + " pathway)" : ""}`;
    show($("heatmap-box"), true);
  } else {
    show($("heatmap-box"), false);
  }
  show(ui.result, true);
}

// ---------------------------------------------------------------- photo
async function cartoonize(ev) {
  ev.preventDefault();
  const file = $("photo-file").files[0];
  if (!file) return;
  const fd = new FormData();
  fd.append("file", file);
  fd.append("style", $("style").value);
  const ui = { job: $("photo-job"), progress: $("photo-progress"), message: $("photo-message"),
               error: $("photo-error"), result: $("photo-result"), button: $("photo-go") };
  const job = await runJob("/api/cartoonize", fd, ui);
  if (!job) return;
  const r = job.result;
  const original = $("original");
  if (original.dataset.url) URL.revokeObjectURL(original.dataset.url);
  original.dataset.url = URL.createObjectURL(file);
  original.src = original.dataset.url;
  $("cartoon").src = r.image_url;
  $("cartoon-caption").textContent = `cartoon (${r.style}, ${r.output_size[0]}x${r.output_size[1]})`;
  show(ui.result, true);
}

// ---------------------------------------------------------------- service
async function health() {
  try {
    const resp = await fetch("/api/health");
    const h = await resp.json();
    const parts = [];
    parts.push(h.model ? `model ${h.model.arch} (${h.model.num_classes} classes)` : (h.model_reason || "no action model"));
    parts.push(h.cartoon.available ? `cartoon styles: ${h.cartoon.styles.join(", ")}` : "cartoonization unavailable");
    parts.push(`upload limit ${(h.limits.max_upload_bytes / 1048576).toFixed(0)} MiB`);
    $("service").textContent = parts.join(" \u00b7 ");
    const select = $("style");
    select.replaceChildren();
    for (const s of h.cartoon.styles) {
      const o = document.createElement("option");
      o.value = s;
      o.textContent = s;
      select.append(o);
    }
    $("video-go").disabled = !h.model;
    $("photo-go").disabled = !h.cartoon.available;
  } catch (e) {
    $("service").textContent = "the server does not answer";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("video-form").addEventListener("submit", classify);
  $("photo-form").addEventListener("submit", cartoonize);
  health();
});
