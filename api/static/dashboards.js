// Manager dashboards: fetch the panels' rows and figures (same origin, session cookie)
// and draw them with the Plotly bundle served from /static/plotly.
(function () {
  "use strict";
  var root = document.getElementById("dashboards");
  if (!root) return;
  var status = document.getElementById("status");

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function fixed(value, digits) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : (100 * value).toFixed(1) + "%";
  }

  function change(value) {
    if (value === null || value === undefined) return "new";
    var sign = value > 0 ? "+" : "";
    return sign + (100 * value).toFixed(0) + "%";
  }

  function ranking(items) {
    var body = document.querySelector("#ranking-table tbody");
    body.textContent = "";
    items.forEach(function (r) {
      var tr = document.createElement("tr");
      cell(tr, r.rank + (r.tied ? " =" : ""));
      cell(tr, r.label + " (" + r.journey_title + ")");
      cell(tr, String(r.count), "num");
      cell(tr, String(r.customers), "num");
      cell(tr, fixed(r.rate, 2), "num");
      cell(tr, fixed(r.importance, 1), "num");
      cell(tr, fixed(r.priority, 1), "num");
      cell(tr, percent(r.share), "num");
      cell(tr, percent(r.cumulative_share), "num");
      cell(tr, change(r.change), "num");
      cell(tr, r.action_priority, "ap ap-" + r.action_priority);
      cell(tr, String(r.rpn), "num");
      cell(tr, r.owner || "–");
      body.appendChild(tr);
    });
  }

  function horrors(rows) {
    var list = document.getElementById("horrors-list");
    list.textContent = "";
    rows.forEach(function (r) {
      var li = document.createElement("li");
      li.textContent = r.label + " — " + r.total + (r.total === 1 ? " slip" : " slips");
      list.appendChild(li);
    });
  }

  function draw(name, figure) {
    var target = document.getElementById("fig-" + name);
    if (!target || !figure) return;
    // Responsive plots follow their box when the window resizes: give the box the
    // figure's height, so only the width follows.
    if (figure.layout && figure.layout.height) {
      target.style.height = figure.layout.height + "px";
    }
    var config = { displaylogo: false, responsive: true };
    window.Plotly.newPlot(target, figure.data, figure.layout, config);
  }

  function render(payload) {
    var d = payload.dashboard;
    if (!d.total) {
      status.textContent = "";
      document.getElementById("empty").hidden = false;
      return;
    }
    document.getElementById("panels").hidden = false;
    ranking(d.ranking.items);
    horrors(d.horrors.rows);
    if (d.matrix.unplaced.length) {
      var note = document.getElementById("unplaced");
      note.textContent = "Not placed (no due steps or enrollments to divide by): " +
        d.matrix.unplaced.join(", ") + ".";
      note.hidden = false;
    }
    Object.keys(payload.figures).forEach(function (name) {
      draw(name, payload.figures[name]);
    });
    status.textContent = d.total + (d.total === 1 ? " slip" : " slips") + " in this period.";
    root.setAttribute("data-ready", "true");
  }

  window.slipguardJson(root.getAttribute("data-source"))
    .then(render)
    .catch(function (error) {
      status.textContent = "Could not load the dashboard: " + error.message;
      status.className = "status error";
    });
})();
