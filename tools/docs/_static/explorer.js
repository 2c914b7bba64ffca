/* The latent explorer of the page "Latent explorer" (nbs/05b_explorer.ipynb): the shipped 2-D model's decoder,
   run in the reader's browser. Plain JavaScript, no libraries, nothing fetched: it reads the global
   window.SCRATCH_VAE_EXPLORER that _static/explorer_data.js sets (written by tools/explorer_data.py from
   weights/mnist-latent2/model.safetensors at docs build time), so it works from a web server and from file://.

   window.scratchVAE.decode([z1, z2])  -> 784 pixel probabilities, row-major 28x28 (an Array of numbers)
   window.scratchVAE.setLatent(z1, z2) -> moves the marker, the sliders and the picture (clamped to the plane)
   window.scratchVAE.getLatent()       -> [z1, z2] the picture shows
   window.scratchVAE.posterior(i)      -> [mu1, mu2, sigma1, sigma2] of q(z | x) for the i-th test image (file order)
   window.scratchVAE.select(i)         -> moves the marker to the i-th test image's mean; returns its posterior
   window.scratchVAE.selected()        -> the index of the selected test image: the one nearest the marker,
                                          whose posterior the plane draws as an ellipse (mu +- sigma)         */
(function () {
  'use strict';
  var D = window.SCRATCH_VAE_EXPLORER;
  var LO = -5, HI = 5, STEP = 0.01;                    // the plane drawn, and the sliders' range
  var COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',   // matplotlib's tab10, as in the
                '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];  // latent scatter of 05_pictures

  // ---- the data: base64 of little-endian float32 (tensors) and uint8 (labels) ----
  function bytes(b64) {
    var s = atob(b64), a = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  }
  function floats(b64) {
    var u = bytes(b64), v = new DataView(u.buffer), a = new Float32Array(u.length / 4);
    for (var i = 0; i < a.length; i++) a[i] = v.getFloat32(4 * i, true);
    return a;
  }

  // ---- the decoder: z -> hidden -> 784, each LinearLayer y = W x + b (W is [out, in], row-major) ----
  function erf(x) {                                     // Abramowitz & Stegun 7.1.26 (error < 1.5e-7), for gelu
    var s = x < 0 ? -1 : 1; x = Math.abs(x);
    var t = 1 / (1 + 0.3275911 * x);
    var y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
    return s * y;
  }
  var ACT = {
    sigmoid: function (x) { return 1 / (1 + Math.exp(-x)); },
    relu: function (x) { return x > 0 ? x : 0; },
    tanh: Math.tanh,
    silu: function (x) { return x / (1 + Math.exp(-x)); },
    softplus: function (x) { return x > 20 ? x : Math.log1p(Math.exp(x)); },   // torch's threshold=20
    elu: function (x) { return x > 0 ? x : Math.expm1(x); },
    gelu: function (x) { return 0.5 * x * (1 + erf(x / Math.SQRT2)); }
  };
  var layers = D ? D.layers.map(function (l) {
    if (!ACT[l.activation]) throw new Error('explorer: unknown activation ' + l.activation);
    return { n_in: l.in, n_out: l.out, W: floats(l.weight), b: floats(l.bias), act: ACT[l.activation] };
  }) : [];

  function decode(z) {
    if (!D) throw new Error('explorer: _static/explorer_data.js did not load, so there is no decoder');
    if (!z || z.length !== 2 || !isFinite(z[0]) || !isFinite(z[1]))
      throw new TypeError('scratchVAE.decode expects z = [z1, z2], two finite numbers; got ' + JSON.stringify(z));
    var x = [Number(z[0]), Number(z[1])];
    layers.forEach(function (l) {
      var y = new Array(l.n_out);
      for (var o = 0; o < l.n_out; o++) {
        var s = l.b[o], row = o * l.n_in;
        for (var i = 0; i < l.n_in; i++) s += l.W[row + i] * x[i];
        y[o] = l.act(s);
      }
      x = y;
    });
    return x;                                           // the last activation is the sigmoid: Bernoulli means
  }

  // ---- the test set's posterior means ----
  var N = D ? D.n : 0, means = D ? floats(D.means) : new Float32Array(0), labels = D ? bytes(D.labels) : new Uint8Array(0);
  var sigmas = D && D.sigmas ? floats(D.sigmas) : new Float32Array(2 * N);
  function index(i) {
    if (!(Number.isInteger(i) && i >= 0 && i < N))
      throw new RangeError('scratchVAE: a test image index is an integer from 0 to ' + (N - 1) + '; got ' + JSON.stringify(i));
    return i;
  }
  function posterior(i) {
    i = index(i);
    return [means[2 * i], means[2 * i + 1], sigmas[2 * i], sigmas[2 * i + 1]];
  }
  function nearest(z1, z2) {
    var best = -1, bd = Infinity;
    for (var i = 0; i < N; i++) {
      var a = means[2 * i] - z1, b = means[2 * i + 1] - z2, d = a * a + b * b;
      if (d < bd) { bd = d; best = i; }
    }
    return { index: best, label: labels[best], dist: Math.sqrt(bd) };
  }
  function centre(digit) {                              // median of the digit's posterior means, per coordinate
    var a = [], b = [];
    for (var i = 0; i < N; i++) if (labels[i] === digit) { a.push(means[2 * i]); b.push(means[2 * i + 1]); }
    var med = function (v) { v.sort(function (p, q) { return p - q; }); return v[Math.floor(v.length / 2)]; };
    return [med(a), med(b)];
  }

  // ---- the widget ----
  var state = { z: [0, 0], widgets: [], sel: -1 };

  function el(tag, attrs, parent) {
    var e = document.createElement(tag);
    for (var k in attrs) if (k === 'text') e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v) { return (v < 0 ? '\u2212' : '\u2007') + Math.abs(v).toFixed(2); }

  function build(root) {
    root.textContent = '';
    if (!D) { el('p', { class: 'sv-error', text: 'The explorer needs _static/explorer_data.js, which did not load: rebuild the docs with tools/build_docs.py.' }, root); return null; }
    var w = { root: root };
    var box = el('div', { class: 'sv-box' }, root);
    var left = el('div', { class: 'sv-left' }, box);
    w.plane = el('canvas', { class: 'sv-plane', tabindex: '0', role: 'application',
                             'aria-label': 'latent plane: drag the marker, or use the arrow keys' }, left);
    var legend = el('div', { class: 'sv-legend', 'aria-label': 'digit colours; click one to jump to its cluster' }, left);
    COLORS.forEach(function (c, d) {
      var b = el('button', { type: 'button', class: 'sv-key', title: 'jump to the middle of the ' + d + 's' }, legend);
      el('span', { class: 'sv-dot', style: 'background:' + c }, b);
      b.appendChild(document.createTextNode(String(d)));
      b.addEventListener('click', function () { var c2 = centre(d); setLatent(c2[0], c2[1]); });
    });
    var right = el('div', { class: 'sv-right' }, box);
    el('div', { class: 'sv-caption', text: 'p(x | z) at the marker: 28\u00d728 pixel probabilities' }, right);
    w.digit = el('canvas', { class: 'sv-digit', width: '28', height: '28', 'aria-label': 'the decoded digit' }, right);
    w.readout = el('div', { class: 'sv-readout', 'aria-live': 'polite' }, right);
    w.sliders = [0, 1].map(function (k) {
      var lab = el('label', { class: 'sv-slider' }, right);
      el('span', { class: 'sv-zname', text: k ? 'z\u2082' : 'z\u2081' }, lab);
      var s = el('input', { type: 'range', min: String(LO), max: String(HI), step: String(STEP), value: '0',
                            'aria-label': k ? 'z2' : 'z1', class: 'sv-z' + (k + 1) }, lab);
      var out = el('output', { class: 'sv-value' }, lab);
      s.addEventListener('input', function () {
        var z = state.z.slice(); z[k] = Number(s.value); setLatent(z[0], z[1]);
      });
      return { input: s, output: out };
    });
    w.bg = document.createElement('canvas');
    wirePlane(w);
    if (window.ResizeObserver) new ResizeObserver(function () { sizePlane(w); draw(w); }).observe(w.plane);
    sizePlane(w);
    return w;
  }

  // plane geometry in CSS pixels: a square plot inside margins for the tick labels
  function geom(w) {
    var W = w.cssW, m = { l: 30, r: 8, t: 8, b: 26 }, side = Math.max(10, Math.min(W - m.l - m.r, W - m.t - m.b));
    return { x0: m.l, y0: m.t, side: side };
  }
  function toPx(g, z1, z2) { return [g.x0 + (z1 - LO) / (HI - LO) * g.side, g.y0 + (HI - z2) / (HI - LO) * g.side]; }
  function toZ(g, x, y) { return [LO + (x - g.x0) / g.side * (HI - LO), HI - (y - g.y0) / g.side * (HI - LO)]; }

  function sizePlane(w) {
    var css = w.plane.getBoundingClientRect().width || 400, dpr = window.devicePixelRatio || 1;
    if (w.cssW === css && w.dpr === dpr) return;
    w.cssW = css; w.dpr = dpr;
    w.plane.width = w.bg.width = Math.round(css * dpr);
    w.plane.height = w.bg.height = Math.round(css * dpr);
    drawBackground(w);
  }

  function drawBackground(w) {
    var c = w.bg.getContext('2d'), g = geom(w);
    c.setTransform(w.dpr, 0, 0, w.dpr, 0, 0);
    c.fillStyle = '#ffffff'; c.fillRect(0, 0, w.cssW, w.cssW);
    c.strokeStyle = '#ececec'; c.lineWidth = 1;
    c.font = '11px system-ui, sans-serif'; c.fillStyle = '#555'; c.textAlign = 'center'; c.textBaseline = 'top';
    for (var v = LO; v <= HI; v++) {
      var p = toPx(g, v, v);
      c.strokeStyle = v === 0 ? '#c8c8c8' : '#ececec';
      c.beginPath(); c.moveTo(p[0], g.y0); c.lineTo(p[0], g.y0 + g.side); c.stroke();
      c.beginPath(); c.moveTo(g.x0, p[1]); c.lineTo(g.x0 + g.side, p[1]); c.stroke();
      if (v % 2 === 0) {
        var t = (v < 0 ? '\u2212' : '') + Math.abs(v);
        c.textAlign = 'center'; c.textBaseline = 'top'; c.fillText(t, p[0], g.y0 + g.side + 3);
        c.textAlign = 'right'; c.textBaseline = 'middle'; c.fillText(t, g.x0 - 4, p[1]);
      }
    }
    c.textAlign = 'right'; c.textBaseline = 'top'; c.font = 'italic 12px system-ui, sans-serif';
    c.fillText('z\u2081', g.x0 + g.side, g.y0 + g.side + 13);
    c.textAlign = 'left'; c.fillText('z\u2082', 3, g.y0);
    c.strokeStyle = '#bbb'; c.strokeRect(g.x0 + 0.5, g.y0 + 0.5, g.side - 1, g.side - 1);
    c.save(); c.beginPath(); c.rect(g.x0, g.y0, g.side, g.side); c.clip();
    c.globalAlpha = 0.55;
    var r = Math.max(1.1, g.side / 300);
    for (var i = 0; i < N; i++) {
      var q = toPx(g, means[2 * i], means[2 * i + 1]);
      c.fillStyle = COLORS[labels[i]];
      c.fillRect(q[0] - r, q[1] - r, 2 * r, 2 * r);
    }
    c.globalAlpha = 1; c.setLineDash([4, 4]); c.strokeStyle = '#666'; c.lineWidth = 1;   // the prior N(0, I)
    var o = toPx(g, 0, 0), unit = g.side / (HI - LO);
    c.font = '11px system-ui, sans-serif'; c.fillStyle = '#444'; c.textAlign = 'left'; c.textBaseline = 'bottom';
    for (var k = 1; k <= 3; k++) {
      c.beginPath(); c.arc(o[0], o[1], k * unit, 0, 2 * Math.PI); c.stroke();
      c.fillText(k + '\u03c3', o[0] + k * unit * 0.71 + 2, o[1] - k * unit * 0.71 - 1);
    }
    c.setLineDash([]);
    c.restore();
  }

  function draw(w) {
    var c = w.plane.getContext('2d'), g = geom(w), p = toPx(g, state.z[0], state.z[1]);
    c.setTransform(1, 0, 0, 1, 0, 0); c.drawImage(w.bg, 0, 0);
    c.setTransform(w.dpr, 0, 0, w.dpr, 0, 0);
    c.strokeStyle = 'rgba(0,0,0,0.35)'; c.lineWidth = 1; c.setLineDash([3, 3]);
    c.beginPath(); c.moveTo(p[0], g.y0); c.lineTo(p[0], g.y0 + g.side); c.moveTo(g.x0, p[1]); c.lineTo(g.x0 + g.side, p[1]); c.stroke();
    c.setLineDash([]);
    c.beginPath(); c.arc(p[0], p[1], 8, 0, 2 * Math.PI);
    c.fillStyle = 'rgba(255,255,255,0.6)'; c.fill();
    c.lineWidth = 3; c.strokeStyle = '#fff'; c.stroke();
    c.lineWidth = 1.5; c.strokeStyle = '#111'; c.stroke();
    c.beginPath(); c.arc(p[0], p[1], 1.8, 0, 2 * Math.PI); c.fillStyle = '#111'; c.fill();
    if (state.sel >= 0) {                               // the selected test image's posterior: mu +- sigma
      var q = posterior(state.sel), m = toPx(g, q[0], q[1]), s = g.side / (HI - LO);
      c.beginPath(); c.ellipse(m[0], m[1], Math.max(1, q[2] * s), Math.max(1, q[3] * s), 0, 0, 2 * Math.PI);
      c.lineWidth = 2; c.strokeStyle = COLORS[labels[state.sel]]; c.stroke();
      c.fillStyle = COLORS[labels[state.sel]]; c.globalAlpha = 0.25; c.fill(); c.globalAlpha = 1;
    }
  }

  function wirePlane(w) {
    var dragging = false;
    function fromEvent(e) {
      var r = w.plane.getBoundingClientRect(), z = toZ(geom(w), e.clientX - r.left, e.clientY - r.top);
      setLatent(z[0], z[1]);
    }
    w.plane.addEventListener('pointerdown', function (e) {
      dragging = true; w.plane.setPointerCapture(e.pointerId);    // a click also focuses it: arrow keys go on from there
      fromEvent(e);
    });
    w.plane.addEventListener('pointermove', function (e) { if (dragging) fromEvent(e); });
    ['pointerup', 'pointercancel'].forEach(function (t) { w.plane.addEventListener(t, function () { dragging = false; }); });
    w.plane.addEventListener('keydown', function (e) {
      var d = e.shiftKey ? 0.5 : 0.1, z = state.z.slice();
      if (e.key === 'ArrowLeft') z[0] -= d; else if (e.key === 'ArrowRight') z[0] += d;
      else if (e.key === 'ArrowUp') z[1] += d; else if (e.key === 'ArrowDown') z[1] -= d;
      else return;
      e.preventDefault(); setLatent(z[0], z[1]);
    });
  }

  function show(w, probs, near) {
    var c = w.digit.getContext('2d'), img = c.createImageData(28, 28);
    for (var i = 0; i < 784; i++) {                     // dark strokes on white, as the site's other pictures
      var v = Math.round(255 * (1 - probs[i]));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    c.putImageData(img, 0, 0);
    w.sliders.forEach(function (s, k) { s.input.value = String(state.z[k]); s.output.textContent = fmt(state.z[k]); });
    w.readout.innerHTML = '';
    w.readout.appendChild(document.createTextNode('nearest test digit: '));
    el('b', { style: 'color:' + COLORS[near.label], text: String(near.label) }, w.readout);
    var q = posterior(near.index);
    w.readout.appendChild(document.createTextNode(' (test image ' + near.index + ', ' + near.dist.toFixed(2) + ' away; its q(z | x): '
      + '\u03bc = (' + fmt(q[0]).trim() + ', ' + fmt(q[1]).trim() + '), \u03c3 = (' + q[2].toFixed(3) + ', ' + q[3].toFixed(3) + '), the ellipse)'));
    draw(w);
  }

  function redraw() { state.widgets.forEach(draw); }

  function setLatent(z1, z2) {
    z1 = Number(z1); z2 = Number(z2);
    if (!isFinite(z1) || !isFinite(z2)) throw new TypeError('scratchVAE.setLatent expects two finite numbers, got ' + z1 + ', ' + z2);
    state.z = [Math.min(HI, Math.max(LO, z1)), Math.min(HI, Math.max(LO, z2))];
    var probs = decode(state.z), near = nearest(state.z[0], state.z[1]);
    state.sel = near.index;
    state.widgets.forEach(function (w) { show(w, probs, near); });
    return state.z.slice();
  }

  window.scratchVAE = {
    decode: decode, setLatent: setLatent,
    getLatent: function () { return state.z.slice(); },
    posterior: posterior,
    select: function (i) { var q = posterior(i); setLatent(q[0], q[1]); state.sel = i; redraw(); return q; },
    selected: function () { return state.sel; },
    model: D ? D.model : null, sha256: D ? D.sha256 : null, nPoints: N, range: [LO, HI]
  };

  function init() {
    var roots = document.querySelectorAll('.scratch-vae-explorer');
    for (var i = 0; i < roots.length; i++) { var w = build(roots[i]); if (w) state.widgets.push(w); }
    if (D) setLatent(0, 0);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
