// Countermeasure and nudge pages: fetch the rows and figures (same origin, session
// cookie), fill the small tables and draw the figures with the bundled Plotly.
(function () {
  "use strict";
  var root = document.getElementById("panels-root");
  if (!root) return;
  var status = document.getElementById("status");

  function pct(value) {
    return value === null || value === undefined ? "–" : (100 * value).toFixed(1) + "%";
  }

  function num(value, digits) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
  }

  function draw(name, figure) {
    var target = document.getElementById("fig-" + name);
    if (!target || !figure) return;
    if (figure.layout && figure.layout.height) {
      target.style.height = figure.layout.height + "px";
    }
    window.Plotly.newPlot(target, figure.data, figure.layout,
      { displaylogo: false, responsive: true });
  }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (text) {
      var td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    });
    return tr;
  }

  function show(id, on) {
    var el = document.getElementById(id);
    if (el) el.hidden = !on;
  }

  function nudges(p) {
    var rows = p.effectiveness.rows;
    show("empty-effectiveness", rows.length === 0);
    var body = document.querySelector("#effectiveness-table tbody");
    rows.forEach(function (r) {
      body.appendChild(row([
        r.journey_title,
        pct(r.completion_difference) + " (" + pct(r.completion_difference_low) + " to " +
          pct(r.completion_difference_high) + ")",
        pct(r.slip_difference) + " (" + pct(r.slip_difference_low) + " to " +
          pct(r.slip_difference_high) + ")",
        num(r.median_minutes_to_confirm, 0)
      ]));
    });
    var list = document.getElementById("standards-list");
    p.standards.rows.forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = s.title + ": " + (s.measured === null ? "nothing measured yet" :
        s.measured.toFixed(1) + "% of " + s.total + (s.meets_target ? " (met)" : " (below target)"));
      list.appendChild(li);
    });
    var o = p.operations;
    show("empty-operations", o.statuses.length === 0);
    var facts = [
      ["Opt-out rate", pct(o.opt_out_rate) + " of " + o.messaged_customers + " (" +
        pct(o.opt_out_low) + " to " + pct(o.opt_out_high) + ")"],
      ["Customers at 10+ messages a year", String(o.customers_over_threshold)],
      ["Lateness p50 / p99", num(o.lateness_p50_seconds, 0) + " s / " +
        num(o.lateness_p99_seconds, 0) + " s"],
      ["Queue (due, not sent)", String(o.queue_depth)]
    ];
    var dl = document.getElementById("operations-figures");
    facts.forEach(function (f) {
      var div = document.createElement("div");
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = f[0];
      dd.textContent = f[1];
      div.appendChild(dt);
      div.appendChild(dd);
      dl.appendChild(div);
    });
  }

  function render(payload) {
    if (payload.panels) nudges(payload.panels);
    if (payload.empty !== undefined) show("empty", payload.empty);
    Object.keys(payload.figures).forEach(function (name) {
      draw(name, payload.figures[name]);
    });
    status.textContent = "";
    root.setAttribute("data-ready", "true");
  }

  window.slipguardJson(root.getAttribute("data-source"))
    .then(render)
    .catch(function (error) {
      status.textContent = "Could not load the panels: " + error.message;
      status.className = "status error";
    });
})();
