// The fixed parts of the timeline page: its style sheet and its script. timeline_html.cpp writes
// the page around them: the header, legend, lane names and summary as HTML, and the spans as a
// compact JSON object in <script id="timeline-data" type="application/json">, which the script
// below draws on a <canvas>.
//
// What the script promises a test (read with `chromium --dump-dom` after it ran), on the element
// #timeline once the first frame is drawn:
//   data-rendered="true", data-render-ms (milliseconds from navigation start to the first frame),
//   data-bars-drawn (bars drawn in the current view), data-drawn-<outcome> (bars drawn per
//   outcome), data-drawn-colors (JSON: colour -> bars drawn in it), data-view-from/-to (ns).
#include "timeline_page.hpp"

namespace parmill::timeline_page {

const std::string_view style = R"css(
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px; color: #222; }
body { margin: 16px 20px; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px 0; word-break: break-all; }
h2 { font-size: 17px; margin: 24px 0 8px 0; }
h3 { font-size: 15px; margin: 18px 0 6px 0; }
.meta, .help { color: #555; margin: 2px 0; }
#legend { margin: 8px 0; display: flex; flex-wrap: wrap; gap: 14px; }
.legend-item { display: inline-flex; align-items: center; gap: 5px; }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 2px; vertical-align: middle; }
#timeline { display: flex; position: relative; border: 1px solid #ccc; user-select: none; }
#lane-names { flex: none; max-width: 220px; padding-top: var(--axis); border-right: 1px solid #ccc; background: #fafafa; }
.lane-name { height: var(--row); line-height: var(--row); font-size: min(12px, calc(var(--row) - 2px));
  padding: 0 6px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
#plot { flex: 1 1 auto; min-width: 200px; position: relative; cursor: grab; }
#plot.dragging { cursor: grabbing; }
#canvas { display: block; }
#tooltip { position: absolute; pointer-events: none; background: #fffff0; border: 1px solid #999;
  padding: 4px 7px; font-size: 12px; white-space: pre-line; max-width: 480px; word-break: break-all;
  box-shadow: 1px 2px 4px rgba(0,0,0,.2); z-index: 2; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 2px 10px 2px 0; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
td.text { max-width: 600px; word-break: break-all; }
.bar { background: #6a8fc7; height: 10px; min-width: 1px; }
#report-lines { background: #f6f6f6; padding: 8px; white-space: pre-wrap; word-break: break-all; }
)css";

const std::string_view script = R"js(
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('timeline-data').textContent);
  var box = document.getElementById('timeline');
  var plot = document.getElementById('plot');
  var canvas = document.getElementById('canvas');
  var tip = document.getElementById('tooltip');
  var ctx = canvas.getContext('2d');
  var ROW = data.row, AXIS = data.axis, UNIT = data.unit;
  var lanes = data.lanes.length, count = data.l.length;
  var lane = data.l, start = data.s, dur = data.d, outcome = data.o;
  var whole = { from: 0, to: Math.max(data.wall, 1) };
  var view = { from: whole.from, to: whole.to };

  // The spans of each outcome, drawn in the order of data.outcomes (failures over successes).
  var byOutcome = data.outcomes.map(function () { return []; });
  for (var i = 0; i < count; i++) byOutcome[outcome[i]].push(i);

  function formatDuration(ns) {
    var a = Math.abs(ns);
    if (a < 1e3) return Math.round(ns) + ' ns';
    if (a < 1e6) return (ns / 1e3).toPrecision(3) + ' µs';
    if (a < 1e9) return (ns / 1e6).toPrecision(3) + ' ms';
    return (ns / 1e9).toPrecision(4) + ' s';
  }

  function niceStep(rough) {
    var power = Math.pow(10, Math.floor(Math.log10(rough)));
    var m = rough / power;
    return power * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
  }

  function drawAxis(width, scale) {
    ctx.fillStyle = '#fafafa';
    ctx.fillRect(0, 0, width, AXIS);
    ctx.strokeStyle = '#ddd';
    ctx.fillStyle = '#444';
    ctx.font = '11px sans-serif';
    ctx.textBaseline = 'middle';
    var step = niceStep((view.to - view.from) / Math.max(2, width / 110));
    var height = AXIS + lanes * ROW;
    ctx.beginPath();
    for (var t = Math.ceil(view.from / step) * step; t <= view.to; t += step) {
      var x = Math.round((t - view.from) * scale) + 0.5;
      ctx.moveTo(x, AXIS - 6);
      ctx.lineTo(x, height);
      ctx.fillText(formatDuration(t * UNIT), x + 3, AXIS / 2);
    }
    ctx.stroke();
  }

  function draw() {
    var width = Math.max(200, plot.clientWidth), height = AXIS + lanes * ROW;
    var ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.width = width + 'px';
      canvas.style.height = height + 'px';
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = '#f3f3f3';
    for (var l = 1; l < lanes; l += 2) ctx.fillRect(0, AXIS + l * ROW, width, ROW);
    var scale = width / (view.to - view.from);
    drawAxis(width, scale);
    var inset = ROW > 4 ? 1 : 0, barHeight = Math.max(1, ROW - 2 * inset);
    var drawn = 0, colors = {};
    for (var o = 0; o < byOutcome.length; o++) {
      var spans = byOutcome[o], drawnHere = 0;
      ctx.fillStyle = data.colors[o];
      for (var k = 0; k < spans.length; k++) {
        var i = spans[k];
        var x0 = (start[i] - view.from) * scale, x1 = x0 + dur[i] * scale;
        if (x1 < 0 || x0 > width) continue;
        var w = x1 - x0;
        if (w < 1) w = 1; // a span too short to see still shows
        else if (w > 3) w -= 1; // a gap between neighbours
        ctx.fillRect(x0, AXIS + lane[i] * ROW + inset, w, barHeight);
        drawnHere++;
      }
      drawn += drawnHere;
      box.setAttribute('data-drawn-' + data.outcomes[o], String(drawnHere));
      colors[data.colors[o]] = (colors[data.colors[o]] || 0) + drawnHere;
    }
    box.setAttribute('data-bars-drawn', String(drawn));
    box.setAttribute('data-drawn-colors', JSON.stringify(colors));
    box.setAttribute('data-view-from', String(view.from * UNIT));
    box.setAttribute('data-view-to', String(view.to * UNIT));
  }

  var pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  }

  // Tooltips: the spans of each lane sorted by start, built when the mouse first moves.
  var perLane = null, longestPerLane = null;
  function buildLaneIndex() {
    perLane = [];
    longestPerLane = [];
    for (var l = 0; l < lanes; l++) { perLane.push([]); longestPerLane.push(0); }
    for (var i = 0; i < count; i++) {
      perLane[lane[i]].push(i);
      if (dur[i] > longestPerLane[lane[i]]) longestPerLane[lane[i]] = dur[i];
    }
    perLane.forEach(function (list) { list.sort(function (a, b) { return start[a] - start[b]; }); });
  }

  function spanAt(l, t, slack) {
    if (perLane === null) buildLaneIndex();
    var list = perLane[l], lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (start[list[mid]] <= t + slack) lo = mid + 1; else hi = mid; }
    var best = -1, bestDistance = Infinity;
    for (var j = lo - 1; j >= 0; j--) {
      var i = list[j];
      if (start[i] + longestPerLane[l] < t - slack) break;
      var distance = t < start[i] ? start[i] - t : t > start[i] + dur[i] ? t - start[i] - dur[i] : 0;
      if (distance <= slack && distance < bestDistance) { best = i; bestDistance = distance; }
      if (distance === 0) break;
    }
    return best;
  }

  function describe(i) {
    var lines = [data.outcomes[outcome[i]] + ' · ' + data.lanes[lane[i]]];
    var label = data.t ? data.t[i] : '';
    var first = data.f[i], items = data.n ? data.n[i] : 1;
    if (label) lines.push(label);
    lines.push(items === 1 ? 'item ' + first : items + ' items, the first item ' + first);
    if (data.k && data.k[i] >= 0) lines.push('stage: ' + data.stages[data.k[i]]);
    lines.push('start ' + formatDuration(start[i] * UNIT) + ', duration ' + formatDuration(dur[i] * UNIT));
    var exit = data.x ? data.x[i] : 0, signal = data.g ? data.g[i] : 0;
    if (exit !== 0 || signal !== 0 || data.x) lines.push('exit status ' + exit + (signal ? ', signal ' + signal : ''));
    return lines.join('\n');
  }

  function position(event) {
    var rect = canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top, width: rect.width };
  }

  function showTooltip(event) {
    var p = position(event);
    var l = Math.floor((p.y - AXIS) / ROW);
    var scale = p.width / (view.to - view.from);
    var i = l >= 0 && l < lanes ? spanAt(l, view.from + p.x / scale, 3 / scale) : -1;
    if (i < 0) { tip.hidden = true; return; }
    tip.textContent = describe(i);
    tip.hidden = false;
    var left = plot.offsetLeft + p.x + 14;
    if (left + tip.offsetWidth > box.clientWidth) left = Math.max(0, plot.offsetLeft + p.x - tip.offsetWidth - 14);
    tip.style.left = left + 'px';
    tip.style.top = (p.y + 14) + 'px';
  }

  // Zoom with the wheel around the pointer; pan by dragging; double-click shows the whole run.
  var minimumWidth = Math.max(1, 1000 / UNIT);
  canvas.addEventListener('wheel', function (event) {
    event.preventDefault();
    var p = position(event);
    var t = view.from + p.x / p.width * (view.to - view.from);
    var factor = Math.exp(Math.max(-300, Math.min(300, event.deltaY)) * 0.002);
    var from = t - (t - view.from) * factor, to = t + (view.to - t) * factor;
    if (to - from < minimumWidth) return;
    view.from = from; view.to = to;
    schedule();
  }, { passive: false });
  var drag = null;
  canvas.addEventListener('mousedown', function (event) {
    drag = { x: event.clientX, from: view.from, to: view.to };
    plot.classList.add('dragging');
  });
  window.addEventListener('mouseup', function () { drag = null; plot.classList.remove('dragging'); });
  window.addEventListener('mousemove', function (event) {
    if (drag === null) return;
    var shift = (event.clientX - drag.x) / canvas.clientWidth * (drag.to - drag.from);
    view.from = drag.from - shift; view.to = drag.to - shift;
    tip.hidden = true;
    schedule();
  });
  canvas.addEventListener('mousemove', function (event) { if (drag === null) showTooltip(event); });
  canvas.addEventListener('mouseleave', function () { tip.hidden = true; });
  canvas.addEventListener('dblclick', function () { view.from = whole.from; view.to = whole.to; schedule(); });
  window.addEventListener('resize', schedule);

  draw();
  box.setAttribute('data-rendered', 'true');
  box.setAttribute('data-render-ms', performance.now().toFixed(1));
})();
)js";

} // namespace parmill::timeline_page
