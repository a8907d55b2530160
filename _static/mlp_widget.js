/* "Feel the chain rule": shapes and storage of a two-layer MLP, for chapter 2.
 *
 * The model is the chapter's
 *     L = F.mse_loss(F.linear(F.relu(F.linear(X, W1, b1)), W2, b2), T)
 * with X (B, d), W1 (m, d), b1 (m,), W2 (o, m), b2 (o,), T (B, o).
 *
 * What the engine's tape holds for it (src/autodiff/ops; counted per buffer, once):
 *     linear 1  saves X and W1            (X, W1 are leaves)
 *     relu      saves its output h        (B, m), an activation
 *     linear 2  saves h (same buffer) and W2
 *     mse_loss  saves y and T             (y: (B, o), an activation; T a leaf)
 * so autodiff.saved_bytes(include_leaves=False) = B (m + o) * itemsize and
 *    autodiff.saved_bytes(include_leaves=True)  = (B d + B m + 2 B o + m d + o m) * itemsize.
 * The chapter writes the same formulas in Python and asserts them against the engine;
 * tests/test_widget.py checks what this page displays against the engine too.
 *
 * Jupyter Book adds this script to every page: it does nothing where the page has no
 * element with id "mlp-widget".
 */
(function () {
  "use strict";

  var ROOT_ID = "mlp-widget";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var ITEMSIZE = { float32: 4, float64: 8 };
  var DIMS = [
    { key: "B", attr: "batch", label: "batch size B", max: 4096, fallback: 16 },
    { key: "d", attr: "d", label: "inputs d", max: 1024, fallback: 64 },
    { key: "m", attr: "m", label: "hidden m", max: 1024, fallback: 128 },
    { key: "o", attr: "o", label: "outputs o", max: 1024, fallback: 10 }
  ];

  /* Shapes of everything the forward and backward passes make. */
  function shapes(s) {
    return {
      forward: [
        ["X", [s.B, s.d], "input, leaf: saved by linear 1"],
        ["W1", [s.m, s.d], "parameter: saved by linear 1"],
        ["b1", [s.m], "parameter: not saved"],
        ["z1", [s.B, s.m], "not saved (relu saves its output)"],
        ["h", [s.B, s.m], "saved once, by relu and linear 2"],
        ["W2", [s.o, s.m], "parameter: saved by linear 2"],
        ["b2", [s.o], "parameter: not saved"],
        ["y", [s.B, s.o], "saved by mse_loss"],
        ["T", [s.B, s.o], "target, leaf: saved by mse_loss"]
      ],
      backward: [
        ["dL/dy", [s.B, s.o], "2 (y \u2212 T) / (B\u00b7o)"],
        ["dW2", [s.o, s.m], "(dL/dy)\u1d40 h"],
        ["db2", [s.o], "sum of dL/dy over the batch"],
        ["dL/dh", [s.B, s.m], "(dL/dy) W2"],
        ["dL/dz1", [s.B, s.m], "dL/dh \u2299 [h > 0]"],
        ["dW1", [s.m, s.d], "(dL/dz1)\u1d40 X"],
        ["db1", [s.m], "sum of dL/dz1 over the batch"]
      ]
    };
  }

  /* Bytes, mirroring storage_bytes() in chapters/02_mlp_backprop.md. */
  function storage(s) {
    var size = ITEMSIZE[s.dtype];
    var params = s.m * s.d + s.m + s.o * s.m + s.o;
    var activations = s.B * s.m + s.B * s.o;          // h and y
    var inputs = s.B * s.d + s.B * s.o;               // X and T
    var weights = s.m * s.d + s.o * s.m;              // W1 and W2 (the biases are not saved)
    return {
      params: params * size,
      grads: params * size,
      activations: activations * size,
      inputs: inputs * size,
      weights: weights * size,
      tape: (activations + inputs + weights) * size,
      // the smallest batch size at which the saved activations outweigh the parameters
      crossover: Math.floor(params / (s.m + s.o)) + 1
    };
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function shapeText(dims) {
    return "(" + dims.join(", ") + (dims.length === 1 ? "," : "") + ")";
  }

  function exact(n) {
    return n.toLocaleString("en-US") + " B";
  }

  function human(n) {
    var units = ["B", "KiB", "MiB", "GiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  }

  function intAttr(root, name, fallback, max) {
    var v = parseInt(root.getAttribute("data-" + name), 10);
    return isFinite(v) && v >= 1 ? Math.min(v, max) : fallback;
  }

  function build(root) {
    var state = { dtype: root.getAttribute("data-dtype") === "float64" ? "float64" : "float32" };
    DIMS.forEach(function (dim) { state[dim.key] = intAttr(root, dim.attr, dim.fallback, dim.max); });

    root.textContent = "";
    root.setAttribute("data-ready", "true");

    // ---- controls ------------------------------------------------------------------
    var controls = el("div", { "class": "mlp-widget-controls" });
    var inputs = {};
    DIMS.forEach(function (dim) {
      var id = "mlp-" + dim.key;
      var row = el("div", { "class": "mlp-widget-control" });
      row.appendChild(el("label", { "for": id }, dim.label));
      var range = el("input", { type: "range", id: id, min: "1", max: String(dim.max), step: "1",
                                value: String(state[dim.key]), "data-dim": dim.key });
      var number = el("input", { type: "number", id: id + "-value", min: "1",
                                 max: String(dim.max), step: "1", value: String(state[dim.key]),
                                 "data-dim": dim.key, "aria-label": dim.label });
      range.addEventListener("input", function () { set(dim, range.value); });
      number.addEventListener("input", function () { set(dim, number.value); });
      number.addEventListener("change", function () { number.value = String(state[dim.key]); });
      inputs[dim.key] = { range: range, number: number };
      row.appendChild(range);
      row.appendChild(number);
      controls.appendChild(row);
    });
    var dtypeRow = el("div", { "class": "mlp-widget-control" });
    dtypeRow.appendChild(el("label", { "for": "mlp-dtype" }, "dtype"));
    var dtype = el("select", { id: "mlp-dtype" });
    ["float32", "float64"].forEach(function (name) {
      var option = el("option", { value: name }, name + " (" + ITEMSIZE[name] + " bytes)");
      if (name === state.dtype) option.selected = true;
      dtype.appendChild(option);
    });
    dtype.addEventListener("change", function () { state.dtype = dtype.value; render(); });
    dtypeRow.appendChild(dtype);
    controls.appendChild(dtypeRow);
    root.appendChild(controls);

    // ---- shapes --------------------------------------------------------------------
    var tables = el("div", { "class": "mlp-widget-tables" });
    var shapeCells = {};
    function table(caption, rows, header) {
      var t = el("table", { "class": "mlp-widget-table" });
      t.appendChild(el("caption", {}, caption));
      var head = el("tr");
      header.forEach(function (h) { head.appendChild(el("th", { scope: "col" }, h)); });
      t.appendChild(head);
      rows.forEach(function (r) {
        var tr = el("tr");
        tr.appendChild(el("th", { scope: "row" }, r[0]));
        var cell = el("td", { "data-shape": r[0] });
        shapeCells[r[0]] = cell;
        tr.appendChild(cell);
        tr.appendChild(el("td", { "class": "mlp-widget-note" }, r[2]));
        t.appendChild(tr);
      });
      return t;
    }
    var initial = shapes(state);
    tables.appendChild(table("Forward: values and what the tape keeps", initial.forward,
                             ["", "shape", "on the tape?"]));
    tables.appendChild(table("Backward: gradients (mean loss, ReLU)", initial.backward,
                             ["", "shape", "formula"]));
    root.appendChild(tables);

    // ---- storage: numbers and bars -------------------------------------------------
    var BARS = [
      { key: "params", short: "parameters", label: "parameters W1, b1, W2, b2" },
      { key: "grads", short: "gradients", label: "their gradients (.grad)" },
      { key: "activations", short: "saved activations",
        label: "saved activations h, y: saved_bytes(include_leaves=False)" },
      { key: "tape", short: "everything the tape references",
        label: "everything the tape references: saved_bytes(include_leaves=True)" }
    ];
    var memory = el("div", { "class": "mlp-widget-memory", "aria-live": "polite" });
    var list = el("dl", { "class": "mlp-widget-bytes" });
    var byteCells = {};
    BARS.forEach(function (bar) {
      var dt = el("dt");
      dt.appendChild(el("span", { "class": "mlp-widget-swatch mlp-widget-key-" + bar.key }));
      dt.appendChild(document.createTextNode(" " + bar.label));
      list.appendChild(dt);
      var dd = el("dd", { "data-bytes": bar.key });
      byteCells[bar.key] = dd;
      list.appendChild(dd);
    });
    memory.appendChild(list);
    var crossover = el("p", { "class": "mlp-widget-crossover" });
    memory.appendChild(crossover);

    var W = 560, ROW = 40, BAR = 16, LABEL = 0, TOP = 2;
    var svg = svgEl("svg", { id: "mlp-widget-chart", viewBox: "0 0 " + W + " " + (TOP + ROW * 4),
                             role: "img", "class": "mlp-widget-chart" });
    var rects = {};
    BARS.forEach(function (bar, i) {
      var y = TOP + i * ROW;
      var g = svgEl("g", { "data-bar": bar.key });
      if (bar.key === "tape") {
        // the tape's bar, split into what it is made of
        ["activations", "inputs", "weights"].forEach(function (part) {
          var r = svgEl("rect", { x: LABEL, y: y + 16, height: BAR,
                                  "class": "mlp-widget-bar mlp-widget-part-" + part });
          rects["tape-" + part] = r;
          g.appendChild(r);
        });
      } else {
        var r = svgEl("rect", { x: LABEL, y: y + 16, height: BAR,
                                "class": "mlp-widget-bar mlp-widget-key-" + bar.key });
        rects[bar.key] = r;
        g.appendChild(r);
      }
      var text = svgEl("text", { x: LABEL, y: y + 12, "class": "mlp-widget-bar-label" });
      rects[bar.key + "-label"] = text;
      g.appendChild(text);
      svg.appendChild(g);
    });
    memory.appendChild(svg);
    var legend = el("p", { "class": "mlp-widget-legend" });
    [["activations", "activations h, y"], ["inputs", "inputs X, T"],
     ["weights", "weights W1, W2"]].forEach(function (p) {
      legend.appendChild(el("span", { "class": "mlp-widget-swatch mlp-widget-part-" + p[0] }));
      legend.appendChild(document.createTextNode(" " + p[1] + "  "));
    });
    memory.appendChild(legend);
    root.appendChild(memory);

    function set(dim, raw) {
      var v = parseInt(raw, 10);
      if (!isFinite(v) || v < 1) return;  // mid-edit (empty field): keep the last size
      v = Math.min(v, dim.max);
      state[dim.key] = v;
      inputs[dim.key].range.value = String(v);
      if (parseInt(inputs[dim.key].number.value, 10) !== v) inputs[dim.key].number.value = String(v);
      render();
    }

    function render() {
      var sh = shapes(state);
      sh.forward.concat(sh.backward).forEach(function (r) {
        var cell = shapeCells[r[0]];
        cell.textContent = shapeText(r[1]);
        cell.setAttribute("data-value", r[1].join("x"));
      });
      var st = storage(state);
      root.setAttribute("data-state", [state.B, state.d, state.m, state.o, state.dtype].join(","));
      BARS.forEach(function (bar) {
        var cell = byteCells[bar.key];
        cell.setAttribute("data-value", String(st[bar.key]));
        cell.textContent = exact(st[bar.key]) + "  (" + human(st[bar.key]) + ")";
      });
      crossover.textContent = "Saved activations outweigh the parameters from B = " +
        st.crossover.toLocaleString("en-US") + " on: below that the weights dominate, above " +
        "it the batch does.";
      crossover.setAttribute("data-crossover", String(st.crossover));

      var biggest = Math.max(st.params, st.grads, st.activations, st.tape);
      var scale = (W - LABEL - 2) / biggest;
      ["params", "grads", "activations"].forEach(function (k) {
        rects[k].setAttribute("width", Math.max(1, st[k] * scale).toFixed(1));
      });
      var x = LABEL;
      ["activations", "inputs", "weights"].forEach(function (part) {
        var w = st[part] * scale;
        rects["tape-" + part].setAttribute("x", x.toFixed(1));
        rects["tape-" + part].setAttribute("width", w.toFixed(1));
        x += w;
      });
      BARS.forEach(function (bar) {
        rects[bar.key + "-label"].textContent = bar.short + ": " + human(st[bar.key]);
      });
      svg.setAttribute("aria-label", BARS.map(function (bar) {
        return bar.label + " " + human(st[bar.key]);
      }).join("; "));
    }

    render();
  }

  function init() {
    var root = document.getElementById(ROOT_ID);
    if (!root || root.getAttribute("data-ready") === "true") return;
    build(root);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
