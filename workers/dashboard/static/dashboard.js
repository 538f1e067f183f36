// modstream live dashboard: polls api/dashboard and redraws. No framework, no build step.
// Message text is untrusted input: it is only ever inserted as text nodes, never as HTML.
"use strict";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

function fmt(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
  return value.toFixed(digits);
}

function fmtSeconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

function setText(id, text) { $(id).textContent = text; }

function cell(row, content, className) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function replaceRows(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
}

function drawChart(svgId, times, lines) {
  const svg = $(svgId);
  const width = 400, height = 120, pad = 12;
  const values = lines.flatMap((line) => line.values.filter((v) => v !== null));
  const top = Math.max(1e-9, ...values) * 1.1;
  const ns = "http://www.w3.org/2000/svg";
  const children = [];
  for (const line of lines) {
    let points = "";
    const n = line.values.length;
    line.values.forEach((v, i) => {
      if (v === null) return;
      const x = (i / Math.max(1, n - 1)) * width;
      const y = height - pad - (v / top) * (height - 2 * pad);
      points += `${x.toFixed(1)},${y.toFixed(1)} `;
      if ((i === 0 || line.values[i - 1] === null) && (i === n - 1 || line.values[i + 1] === null)) {
        const dot = document.createElementNS(ns, "circle"); // a lone point draws no line: show a dot
        dot.setAttribute("cx", x.toFixed(1));
        dot.setAttribute("cy", y.toFixed(1));
        dot.setAttribute("r", "1.5");
        dot.setAttribute("class", line.cls);
        children.push(dot);
      }
    });
    const polyline = document.createElementNS(ns, "polyline");
    polyline.setAttribute("points", points.trim());
    polyline.setAttribute("class", line.cls);
    children.push(polyline);
  }
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "2");
  label.setAttribute("y", "9");
  label.textContent = `max ${fmt(top / 1.1, 2)}`;
  children.push(label);
  svg.replaceChildren(...children);
}

function markedText(text, marks) {
  const wrapper = document.createElement("span");
  let at = 0;
  for (const [start, end] of marks) {
    if (start < at) continue;
    wrapper.appendChild(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(start, end);
    wrapper.appendChild(mark);
    at = end;
  }
  wrapper.appendChild(document.createTextNode(text.slice(at)));
  return wrapper;
}

function render(data) {
  setText("model", `${data.model.name} ${data.model.version}`);
  const status = $("status");
  status.textContent = data.draining ? "draining" : data.ready ? "ready" : "not ready";
  status.className = `pill ${data.draining ? "warn" : data.ready ? "ok" : "bad"}`;
  setText("updated", new Date(data.generated_at * 1000).toLocaleTimeString("en-GB"));

  setText("consumed-rate", fmt(data.throughput.consumed_per_s));
  setText("results-rate", fmt(data.throughput.results_per_s));
  setText("dlq-rate", fmt(data.throughput.dead_letters_per_s, 2));
  setText("age-p50", fmtSeconds(data.event_age.p50_s));
  setText("age-p90", `p90 ${fmtSeconds(data.event_age.p90_s)}`);
  setText("age-p99", fmtSeconds(data.event_age.p99_s));
  setText("age-samples", `${data.event_age.samples} results`);
  setText("lag-total", data.lag.total === null ? "–" : fmt(data.lag.total, 0));
  const produced = data.decisions.allow + data.decisions.review + data.decisions.block;
  const flagged = data.decisions.review + data.decisions.block;
  setText("flag-share", produced ? `${((100 * flagged) / produced).toFixed(1)} %` : "–");
  setText("decision-counts", `review ${data.decisions.review} · block ${data.decisions.block}`);
  setText("total-consumed", fmt(data.totals.consumed || 0, 0));
  setText("total-detail", `results ${data.totals.results || 0} · dead letters ${data.totals.dead_letters || 0}`);

  const s = data.series;
  drawChart("chart-throughput", s.t, [
    { values: s.consumed_per_s, cls: "c0" },
    { values: s.results_per_s, cls: "c1" },
    { values: s.dead_letters_per_s, cls: "c2" },
  ]);
  drawChart("chart-age", s.t, [{ values: s.age_p50_s, cls: "c0" }, { values: s.age_p99_s, cls: "c2" }]);
  drawChart("chart-lag", s.t, [{ values: s.lag, cls: "c3" }]);
  drawChart("chart-decisions", s.t, [{ values: s.review_per_s, cls: "c3" }, { values: s.block_per_s, cls: "c2" }]);

  replaceRows("labels", data.labels.map((label) => {
    const row = document.createElement("tr");
    cell(row, label.category);
    cell(row, String(label.count));
    const bar = document.createElement("span");
    const share = document.createElement("span");
    share.className = "bar";
    share.style.width = `${Math.round(label.share * 120)}px`;
    bar.append(share, document.createTextNode(`${(100 * label.share).toFixed(1)} %`));
    cell(row, bar);
    cell(row, fmt(label.per_min, 1));
    return row;
  }));
  replaceRows("partitions", data.lag.partitions.map((p) => {
    const row = document.createElement("tr");
    cell(row, p.topic);
    cell(row, String(p.partition));
    cell(row, String(p.lag));
    return row;
  }));
  setText("text-note", data.show_text ? "" : "(text hidden: web.show_text is off)");
  replaceRows("recent", data.recent.map((item) => {
    const row = document.createElement("tr");
    cell(row, new Date(item.seen_at * 1000).toLocaleTimeString("en-GB"));
    cell(row, `${item.event_id} (${item.kind})`);
    cell(row, item.decision, `decision-${item.decision}`);
    cell(row, Object.entries(item.top_scores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", "));
    cell(row, item.text === null ? "–" : markedText(item.text, item.marks), "text");
    return row;
  }));
  document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
}

async function poll() {
  try {
    const response = await fetch(`api/dashboard?window=${$("window").value}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    const status = $("status");
    status.textContent = `disconnected (${error.message})`;
    status.className = "pill bad";
  } finally {
    setTimeout(poll, POLL_MS); // the window selector takes effect at the next poll
  }
}

document.addEventListener("DOMContentLoaded", poll);
