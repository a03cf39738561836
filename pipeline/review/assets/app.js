// hotfolder review page. Untrusted text (file names, API messages) is only
// ever set with textContent: never innerHTML. Data arrives by data.js
// calling hfLoad (the one way that works from file://); over http the page
// then polls data.json for changes.
(function () {
  "use strict";
  var D = null;            // the data
  var view = [];           // indexes into D.items that pass the filters
  var hay = [];            // lowercased names, for search
  var filt = { q: "", folder: "", status: "", op: "", group: -1 };
  var $ = function (id) { return document.getElementById(id); };
  var list = $("list"), spacer = $("spacer");
  var cellW = 300, cellH = 196, cols = 1, pool = [], cur = -1, mode = "side";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function num(n) { return n < 0 ? "—" : Number(n).toLocaleString("en"); }
  function dur(s) {
    if (!s) return "—";
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    return h ? h + " h " + m + " min" : m ? m + " min " + Math.round(s % 60) + " s" : Math.round(s) + " s";
  }
  function folderOf(n) { var i = n.lastIndexOf("/"); return i < 0 ? "" : n.slice(0, i); }
  function fileURL(root, rel) {
    if (!root || !rel) return "";
    var parts = (root.replace(/\\/g, "/") + "/" + rel).split("/");
    return "file://" + parts.map(encodeURIComponent).join("/").replace(/^\/?/, "/");
  }
  function thumbURL(name) { return name ? "thumbs/" + name : ""; }

  function dl(box, rows) {
    box.replaceChildren();
    rows.forEach(function (r) {
      box.appendChild(el("dt", "", r[0]));
      var dd = el("dd", r[2] || "", r[1]);
      if (r[3]) dd.id = r[3];
      box.appendChild(dd);
    });
  }

  function glance() {
    var c = D.counts;
    dl($("counts"), [["done", num(c.done), "", "count-done"], ["failed", num(c.failed), c.failed ? "failed" : "", "count-failed"],
      ["skipped", num(c.skipped), "", "count-skipped"], ["pending", num(c.pending), "", "count-pending"]]);
    var q = [];
    var buckets = Object.keys(D.posts || {}).sort();
    if (!buckets.length) q.push(["POSTs", "0"]);
    buckets.forEach(function (b) { q.push(["POSTs " + b, num(D.posts[b])]); });
    q.push(["429s", num(D.throttles)], ["elapsed", dur(D.elapsed_s)], ["rate", D.rate_per_h ? Math.round(D.rate_per_h).toLocaleString("en") + " / h" : "—"]);
    dl($("quota"), q);
    $("updated").textContent = (D.live ? "live, updated " : "built ") + new Date(D.generated).toLocaleString();
    chart();
  }

  function chart() {
    var svg = $("chart"), ns = "http://www.w3.org/2000/svg", s = D.series || {};
    svg.replaceChildren();
    var fin = s.finished || [], posts = s.posts || [], n = fin.length;
    if (!n) return;
    var W = 600, H = 96, bw = W / n; // the top 18 px hold the labels
    var maxF = Math.max.apply(null, fin.concat([1])), maxP = Math.max.apply(null, posts.concat([1]));
    var t = document.createElementNS(ns, "title");
    t.textContent = "per " + (s.step < 60 ? s.step + " s" : s.step / 60 + " min") + " from " + new Date(s.start).toLocaleTimeString() + ": up to " + maxF + " inputs finished and " + maxP + " POSTs";
    svg.appendChild(t);
    fin.forEach(function (v, i) {
      if (!v) return;
      var r = document.createElementNS(ns, "rect");
      var h = v / maxF * H;
      r.setAttribute("class", "fin");
      r.setAttribute("x", i * bw + bw * 0.1); r.setAttribute("width", Math.max(1, bw * 0.8));
      r.setAttribute("y", 115 - h); r.setAttribute("height", h);
      svg.appendChild(r);
    });
    var label = function (x, anchor, text) {
      var e = document.createElementNS(ns, "text");
      e.setAttribute("x", x); e.setAttribute("y", 11); e.setAttribute("text-anchor", anchor);
      e.setAttribute("class", "lbl");
      e.textContent = text;
      svg.appendChild(e);
    };
    var hm = function (t) { return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); };
    var t0 = new Date(s.start).getTime();
    label(3, "start", hm(t0));
    label(300, "middle", "peak " + maxF + " inputs, " + maxP + " POSTs per " + (s.step < 60 ? s.step + " s" : s.step / 60 + " min"));
    label(597, "end", hm(t0 + n * s.step * 1000));
    var pts = posts.map(function (v, i) { return (i * bw + bw / 2).toFixed(1) + "," + (115 - v / maxP * H).toFixed(1); });
    var pl = document.createElementNS(ns, "polyline");
    pl.setAttribute("class", "post");
    pl.setAttribute("points", pts.join(" "));
    svg.appendChild(pl);
  }

  function groups() {
    var box = $("groups");
    box.replaceChildren();
    $("no-failures").hidden = D.failures.length > 0;
    D.failures.forEach(function (g, i) {
      var li = el("li", "group");
      li.dataset.group = i;
      var head = el("div", "head");
      head.appendChild(el("span", "count", g.count + (g.count === 1 ? " file" : " files")));
      head.appendChild(el("span", "", "failed at " + g.stage + (g.status ? ", HTTP " + g.status : "")));
      if (g.code) { head.appendChild(document.createTextNode(", code ")); head.appendChild(el("code", "", g.code)); }
      li.appendChild(head);
      li.appendChild(el("div", "msg", g.message));
      if (g.hint) li.appendChild(el("div", "hint", "Hint: " + g.hint));
      if (D.retry) li.appendChild(el("pre", "retry", D.retry));
      var b = el("button", "", "Show these files");
      b.type = "button";
      b.addEventListener("click", function () { setGroup(i); list.scrollIntoView(); });
      li.appendChild(b);
      box.appendChild(li);
    });
  }

  function options(sel, values) {
    var keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    values.forEach(function (v) { var o = el("option", "", v || "(top)"); o.value = v || "/"; sel.appendChild(o); });
    sel.value = keep;
    if (sel.selectedIndex < 0) sel.value = "";
  }

  function filters() {
    var folders = {}, ops = {};
    hay = D.items.map(function (it) { folders[folderOf(it.n)] = 1; if (it.o) ops[it.o] = 1; return it.n.toLowerCase(); });
    options($("f-folder"), Object.keys(folders).sort());
    options($("f-op"), Object.keys(ops).sort());
  }

  function setGroup(g) {
    filt.group = g;
    var b = $("f-group");
    b.hidden = g < 0;
    if (g >= 0) b.textContent = "Failure group " + (g + 1) + " ×";
    apply();
  }

  function apply() {
    var q = filt.q.toLowerCase(), f = filt.folder, items = D.items;
    view = [];
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      if (filt.status && it.s !== filt.status) continue;
      if (filt.op && it.o !== filt.op) continue;
      if (filt.group >= 0 && it.g !== filt.group) continue;
      if (f && (f === "/" ? folderOf(it.n) !== "" : folderOf(it.n) !== f)) continue;
      if (q && hay[i].indexOf(q) < 0) continue;
      view.push(i);
    }
    $("shown").textContent = view.length === items.length ? items.length.toLocaleString("en") + " results" : view.length.toLocaleString("en") + " of " + items.length.toLocaleString("en") + " results";
    layout();
  }

  // The list is virtual: only the rows in sight (and one either side)
  // have cards, recycled as it scrolls; a spacer holds the scrollbar.
  function layout() {
    cols = Math.max(1, Math.floor(list.clientWidth / cellW));
    spacer.style.height = Math.ceil(view.length / cols) * cellH + "px";
    render();
  }

  function render() {
    var first = Math.max(0, Math.floor(list.scrollTop / cellH) - 1);
    var last = Math.min(Math.ceil(view.length / cols), Math.ceil((list.scrollTop + list.clientHeight) / cellH) + 1);
    var need = Math.max(0, (last - first) * cols);
    while (pool.length < need) { var c = card(); pool.push(c); list.appendChild(c); }
    for (var k = 0; k < pool.length; k++) {
      var c2 = pool[k], v = first * cols + k;
      if (k >= need || v >= view.length) { c2.hidden = true; c2.dataset.v = ""; continue; }
      c2.hidden = false;
      c2.style.transform = "translate(" + (v % cols) * cellW + "px," + Math.floor(v / cols) * cellH + "px)";
      c2.dataset.pos = v;
      if (c2.dataset.v !== String(view[v]) || c2.dataset.ver !== String(D.v)) fill(c2, view[v]);
    }
  }

  function card() {
    var c = el("div", "card");
    c.tabIndex = 0;
    c.setAttribute("role", "button");
    var pair = el("div", "pair");
    pair.appendChild(el("div", "before checker"));
    pair.appendChild(el("div", "after checker"));
    c.appendChild(pair);
    c.appendChild(el("div", "name"));
    c.appendChild(el("div", "meta"));
    c.appendChild(el("div", "meta err"));
    c.addEventListener("click", function () { open(+c.dataset.pos); });
    c.addEventListener("keydown", function (e) { if (e.key === "Enter") open(+c.dataset.pos); });
    return c;
  }

  function thumb(box, name, what) {
    box.replaceChildren();
    if (!name) { box.appendChild(el("div", "ph", what)); return; }
    var img = el("img");
    img.alt = what;
    img.src = thumbURL(name);
    box.appendChild(img);
  }

  function fill(c, i) {
    var it = D.items[i];
    c.dataset.v = i; c.dataset.ver = D.v;
    c.dataset.status = it.s;
    var pair = c.firstChild;
    thumb(pair.children[0], it.b, it.s === "pending" ? "not yet uploaded" : "no preview (format, or unreadable)");
    thumb(pair.children[1], it.a, it.s === "failed" ? "no output" : it.s === "pending" ? "not done yet" : "no preview of this format");
    var name = c.children[1], meta = c.children[2], err = c.children[3];
    name.textContent = it.n;
    name.title = it.n;
    meta.replaceChildren(el("span", "st " + it.s, it.s), document.createTextNode((it.o || "") + (it.m ? " · +" + it.m + " renditions" : "")));
    var g = it.g >= 0 ? D.failures[it.g] : null;
    err.textContent = g ? g.stage + ": " + (it.e || g.message) : "";
  }

  // The viewer walks the filtered list, not the DOM.
  function open(pos) {
    if (!(pos >= 0 && pos < view.length)) return;
    cur = pos;
    var it = D.items[view[pos]], dlg = $("viewer");
    $("v-name").textContent = it.n;
    var local = location.protocol === "file:";
    var bsrc = local ? fileURL(D.in, it.n) : "", asrc = local ? fileURL(D.out, it.out) : "";
    var note = $("v-note");
    note.textContent = local ? "" : "Thumbnails: the live page serves nothing outside the state folder.";
    setImg($("v-b"), bsrc, it.b, note);
    setImg($("v-a"), it.s === "done" ? asrc : "", it.a, note);
    setMode(mode);
    if (!dlg.open) dlg.showModal();
  }

  function setImg(img, full, th, note) {
    img.onerror = null;
    if (full) {
      img.onerror = function () {
        img.onerror = null;
        note.textContent = "The full-size file is not reachable from here (moved, or the folder was mailed): showing the thumbnail.";
        img.src = thumbURL(th);
      };
      img.src = full;
    } else if (th) {
      img.src = thumbURL(th);
    } else {
      img.removeAttribute("src");
    }
  }

  function setMode(m) {
    mode = m;
    var st = $("v-stage");
    st.className = m;
    document.querySelectorAll(".modes button").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.mode === m)); });
    $("v-range").hidden = m !== "slider";
    document.querySelector(".v-after").classList.remove("hide");
    slide();
  }
  function slide() {
    var a = document.querySelector(".v-after");
    a.style.clipPath = mode === "slider" ? "inset(0 0 0 " + $("v-range").value + "%)" : "";
  }

  window.hfLoad = function (d) {
    var scroll = list.scrollTop;
    D = d;
    D.items = D.items || [];
    D.failures = D.failures || [];
    glance(); groups(); filters(); apply();
    list.scrollTop = scroll;
    window.hfReadyAt = window.hfReadyAt || performance.now();
    document.body.dataset.ready = String(D.v);
  };

  // Live: poll data.json; it answers only {"v":N} while nothing changed.
  function poll() {
    if (!/^https?:$/.test(location.protocol)) return;
    setInterval(function () {
      if (!D) return;
      fetch("data.json?v=" + D.v, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (d) {
        if (d.items) window.hfLoad(d);
      }).catch(function () { $("updated").textContent = "live: the run has ended or cannot be reached"; });
    }, 1000);
  }

  function wire() {
    var raf = 0;
    list.addEventListener("scroll", function () { if (!raf) raf = requestAnimationFrame(function () { raf = 0; render(); }); });
    window.addEventListener("resize", function () { if (D) layout(); });
    $("q").addEventListener("input", function (e) { filt.q = e.target.value; apply(); });
    $("f-folder").addEventListener("change", function (e) { filt.folder = e.target.value; apply(); });
    $("f-status").addEventListener("change", function (e) { filt.status = e.target.value; apply(); });
    $("f-op").addEventListener("change", function (e) { filt.op = e.target.value; apply(); });
    $("f-group").addEventListener("click", function () { setGroup(-1); });
    document.querySelectorAll(".modes button").forEach(function (b) { b.addEventListener("click", function () { setMode(b.dataset.mode); }); });
    $("v-range").addEventListener("input", slide);
    $("v-prev").addEventListener("click", function () { open(cur - 1); });
    $("v-next").addEventListener("click", function () { open(cur + 1); });
    $("v-close").addEventListener("click", function () { $("viewer").close(); });
    document.addEventListener("keydown", function (e) {
      var t = e.target.tagName;
      if (t === "INPUT" || t === "SELECT" || t === "TEXTAREA") return;
      var dlg = $("viewer");
      if (dlg.open) {
        if (e.key === "ArrowRight" || e.key === "l") open(cur + 1);
        else if (e.key === "ArrowLeft" || e.key === "h") open(cur - 1);
        else if (e.key === "t" || e.key === "\\") {
          if (mode !== "toggle") setMode("toggle");
          else document.querySelector(".v-after").classList.toggle("hide");
        }
      } else if (e.key === "/") { e.preventDefault(); $("q").focus(); }
    });
  }

  // A blocked resource is a bug of the page: say so where tests look.
  document.addEventListener("securitypolicyviolation", function (e) {
    console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
  });
  wire();
  poll();
})();
