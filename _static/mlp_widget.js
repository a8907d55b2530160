/* "Feel the chain rule": shapes and storage of an MLP with L hidden layers, for chapter 2.
 *
 * The model is the chapter's, with L hidden layers of width m (L = 1 is the two-layer MLP):
 *     h_1 = relu(F.linear(X, W_1, b_1)),  h_l = relu(F.linear(h_(l-1), W_l, b_l)),
 *     L = F.mse_loss(F.linear(h_L, W_(L+1), b_(L+1)), T)
 * with X (B, d), W_1 (m, d), W_2 .. W_L (m, m), W_(L+1) (o, m), biases (out,), T (B, o).
 *
 * What the engine's tape holds for it (src/autodiff/ops; counted per buffer, once):
 *     linear 1     saves X and W_1             (X and the weights are leaves)
 *     relu l       saves its output h_l        (B, m), an activation
 *     linear l+1   saves h_l (same buffer) and W_(l+1)
 *     mse_loss     saves y and T               (y: (B, o), an activation; T a leaf)
 * so autodiff.saved_bytes(include_leaves=False) = (L B m + B o) * itemsize and
 *    autodiff.saved_bytes(include_leaves=True)  =
 *        (B d + L B m + 2 B o + m d + (L - 1) m^2 + o m) * itemsize.
 * The chapter writes the same formulas in Python and asserts them against the engine;
 * tests/test_widget.py checks what this page displays against the engine too.
 *
 * The size sliders move in powers of two (one step doubles the size), so that every
 * octave of a size gets the same travel; the number fields take any size.
 *
 * Jupyter Book adds this script to every page: it does nothing where the page has no
 * element with id "mlp-widget".
 */
(function () {
  "use strict";

  var ROOT_ID = "mlp-widget";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var ITEMSIZE = { float32: 4, float64: 8 };
  // scale "log2": the slider holds log2(size), one step per doubling; "linear": the size
  var DIMS = [
    { key: "B", attr: "batch", label: "batch size B", max: 16384, fallback: 16, scale: "log2" },
    { key: "d", attr: "d", label: "inputs d", max: 4096, fallback: 64, scale: "log2" },
    { key: "m", attr: "m", label: "hidden m", max: 4096, fallback: 128, scale: "log2" },
    { key: "o", attr: "o", label: "outputs o", max: 4096, fallback: 10, scale: "log2" },
    { key: "L", attr: "depth", label: "hidden layers L", max: 16, fallback: 1,
      scale: "linear" }
  ];

  function log2Position(v) {
    return Math.round(Math.log(v) / Math.LN2);
  }

  function sliderMax(dim) {
    return dim.scale === "log2" ? log2Position(dim.max) : dim.max;
  }

  function sliderMin(dim) {
    return dim.scale === "log2" ? 0 : 1;
  }

  function toSlider(dim, v) {
    return dim.scale === "log2" ? log2Position(v) : v;
  }

  function fromSlider(dim, position) {
    var p = parseInt(position, 10);
    return dim.scale === "log2" ? Math.pow(2, p) : p;
  }

  /* "h1", "h1, h2" or "h1…h5": the name of each layer's copy, first to last */
  function seq(prefix, first, last) {
    if (last === first) return prefix + first;
    if (last === first + 1) return prefix + first + ", " + prefix + last;
    return prefix + first + "\u2026" + prefix + last;
  }

  /* Shapes of everything the forward and backward passes make: [key, label, dims, note];
     rows for the hidden-to-hidden layers W_2 .. W_L exist only when L > 1. */
  function shapes(s) {
    var L = s.L, out = L + 1, hidden = L > 1;
    var forward = [
      ["X", "X", [s.B, s.d], "input, leaf: saved by linear 1"],
      ["W1", "W1", [s.m, s.d], "parameter: saved by linear 1"],
      ["b1", "b1", [s.m], "parameter: not saved"]
    ];
    if (hidden) {
      forward.push(["Wh", seq("W", 2, L), [s.m, s.m],
                    (L - 1) + " \u00d7, parameters: each saved by its linear"]);
      forward.push(["bh", seq("b", 2, L), [s.m], (L - 1) + " \u00d7, parameters: not saved"]);
    }
    forward.push(
      ["z", seq("z", 1, L), [s.B, s.m], L + " \u00d7, not saved (relu saves its output)"],
      ["h", seq("h", 1, L), [s.B, s.m],
       L + " \u00d7, each saved once, by its relu and the next linear"],
      ["Wout", "W" + out, [s.o, s.m], "parameter: saved by linear " + out],
      ["bout", "b" + out, [s.o], "parameter: not saved"],
      ["y", "y", [s.B, s.o], "saved by mse_loss"],
      ["T", "T", [s.B, s.o], "target, leaf: saved by mse_loss"]
    );
    var backward = [
      ["dy", "dL/dy", [s.B, s.o], "2 (y \u2212 T) / (B\u00b7o)"],
      ["dWout", "dW" + out, [s.o, s.m], "(dL/dy)\u1d40 h" + L],
      ["dbout", "db" + out, [s.o], "sum of dL/dy over the batch"],
      ["dh", seq("dL/dh", 1, L), [s.B, s.m], L === 1 ? "(dL/dy) W2" :
       "(dL/dy) W" + out + " for h" + L + "; (dL/dz\u2097\u208a\u2081) W\u2097\u208a\u2081 below"],
      ["dz", seq("dL/dz", 1, L), [s.B, s.m], "dL/dh \u2299 [h > 0]"]
    ];
    if (hidden) {
      backward.push(["dWh", seq("dW", 2, L), [s.m, s.m], "(dL/dz\u2097)\u1d40 h\u2097\u208b\u2081"]);
    }
    backward.push(
      ["dW1", "dW1", [s.m, s.d], "(dL/dz1)\u1d40 X"],
      ["db", seq("db", 1, L), [s.m], "sum of dL/dz over the batch"]
    );
    return { forward: forward, backward: backward };
  }

  /* Bytes, mirroring storage_bytes() in chapters/02_mlp_backprop.md. */
  function storage(s) {
    var size = ITEMSIZE[s.dtype];
    var L = s.L;
    var params = s.m * s.d + s.m + (L - 1) * (s.m * s.m + s.m) + s.o * s.m + s.o;
    var activations = L * s.B * s.m + s.B * s.o;               // h_1 .. h_L and y
    var inputs = s.B * s.d + s.B * s.o;                         // X and T
    var weights = s.m * s.d + (L - 1) * s.m * s.m + s.o * s.m;  // the W's (no biases)
    return {
      params: params * size,
      grads: params * size,
      activations: activations * size,
      inputs: inputs * size,
      weights: weights * size,
      tape: (activations + inputs + weights) * size,
      // the smallest batch size at which the saved activations outweigh the parameters
      crossover: Math.floor(params / (L * s.m + s.o)) + 1
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
      var range = el("input", {
        type: "range", id: id, min: String(sliderMin(dim)), max: String(sliderMax(dim)),
        step: "1", value: String(toSlider(dim, state[dim.key])), "data-dim": dim.key,
        "data-scale": dim.scale,
        title: dim.scale === "log2" ? "one step doubles " + dim.key : "one layer per step"
      });
      var number = el("input", { type: "number", id: id + "-value", min: "1",
                                 max: String(dim.max), step: "1", value: String(state[dim.key]),
                                 "data-dim": dim.key, "aria-label": dim.label });
      range.addEventListener("input", function () { set(dim, fromSlider(dim, range.value)); });
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

    // ---- shapes: rebuilt on each render, since the rows depend on the depth --------
    var tables = el("div", { "class": "mlp-widget-tables" });
    function table(caption, rows, header) {
      var t = el("table", { "class": "mlp-widget-table" });
      t.appendChild(el("caption", {}, caption));
      var head = el("tr");
      header.forEach(function (h) { head.appendChild(el("th", { scope: "col" }, h)); });
      t.appendChild(head);
      rows.forEach(function (r) {
        var tr = el("tr");
        tr.appendChild(el("th", { scope: "row" }, r[1]));
        tr.appendChild(el("td", { "data-shape": r[0], "data-value": r[2].join("x") },
                          shapeText(r[2])));
        tr.appendChild(el("td", { "class": "mlp-widget-note" }, r[3]));
        t.appendChild(tr);
      });
      return t;
    }
    root.appendChild(tables);

    // ---- storage: numbers and bars -------------------------------------------------
    var BARS = [
      { key: "params", short: "parameters", label: "parameters (weights and biases)" },
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
     ["weights", "weights W"]].forEach(function (p) {
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
      inputs[dim.key].range.value = String(toSlider(dim, v));
      if (parseInt(inputs[dim.key].number.value, 10) !== v) inputs[dim.key].number.value = String(v);
      render();
    }

    function render() {
      var sh = shapes(state);
      tables.textContent = "";
      tables.appendChild(table("Forward: values and what the tape keeps", sh.forward,
                               ["", "shape", "on the tape?"]));
      tables.appendChild(table("Backward: gradients (mean loss, ReLU)", sh.backward,
                               ["", "shape", "formula"]));
      var st = storage(state);
      root.setAttribute("data-state",
                        [state.B, state.d, state.m, state.o, state.L, state.dtype].join(","));
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
