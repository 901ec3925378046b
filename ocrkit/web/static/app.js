// The ocrkit web page: submit a file, follow the job, read it beside the page image,
// download it, chat with it. Plain JavaScript against the public JSON API; the token
// stays in this browser (localStorage) and goes out only as a Bearer header to this
// server. Nothing is loaded from anywhere else.
"use strict";

(function () {
  const TOKEN_KEY = "ocrkit.token";
  const $ = (id) => document.getElementById(id);
  const S = {
    options: null,
    job: null,
    page: 0,
    images: new Map(), // page index -> object URL
    markdown: new Map(), // "uuid/index" -> the page's Markdown as HTML (from the server)
    conversation: null,
    cited: null, // {page, snippet} to highlight
    pollTimer: null,
  };

  // -- small helpers ---------------------------------------------------------------------

  function token() {
    try {
      return localStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const t = token();
    if (t) h["Authorization"] = "Bearer " + t;
    return h;
  }

  function make(tag, attrs, content) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") {
        node.setAttribute(k, v === true ? "" : String(v));
      } else node[k] = v;
    }
    if (content !== undefined && content !== null) {
      for (const c of Array.isArray(content) ? content : [content]) {
        node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
      }
    }
    return node;
  }

  function setStatus(msg) {
    $("status").textContent = msg || "";
  }

  function showError(msg) {
    const box = $("error");
    box.textContent = msg || "";
    box.hidden = !msg;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(describe(status, body));
      this.status = status;
      this.body = body;
    }
  }

  // A readable message for an API error body.
  function describe(status, body) {
    const b = body && typeof body === "object" ? body : {};
    const detail = b.detail ? String(b.detail) : "";
    switch (status) {
      case 400:
        return "The server could not use this request: " + (detail || "bad request") + ".";
      case 401:
        return (
          "The API token was refused" + (detail ? " (" + detail + ")" : "") +
          ". Check it under \u201cAPI token\u201d, or forget it to work anonymously."
        );
      case 402: {
        const unit = b.unit || "pages";
        const used = b.used !== undefined ? b.used : "?";
        const cap = b.cap !== undefined ? b.cap : "?";
        return "Out of " + unit + ": " + used + " of " + cap + " " + unit + " used. " + detail;
      }
      case 404:
        return "Not found" + (detail ? ": " + detail : "") + ".";
      case 409:
        return "Not ready: " + (detail || "the job is not done") + ".";
      case 413:
        return "The file is too large" + (detail ? ": " + detail : "") + ".";
      case 429: {
        const wait = b.retry_after !== undefined ? " Try again in " + b.retry_after + " s." : "";
        return "Too many requests" + (detail ? ": " + detail : "") + "." + wait;
      }
      case 0:
        return "The server could not be reached. Is `ocrkit serve` still running?";
      default:
        return "The server answered " + status + (detail ? ": " + detail : "") + ".";
    }
  }

  async function parseBody(resp) {
    const type = resp.headers.get("content-type") || "";
    if (type.includes("json")) {
      try {
        return await resp.json();
      } catch (e) {
        return null;
      }
    }
    return { detail: (await resp.text()).slice(0, 300) };
  }

  async function api(path, init) {
    let resp;
    const opts = Object.assign({}, init || {});
    opts.headers = headers(opts.headers);
    try {
      resp = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, null);
    }
    const body = await parseBody(resp);
    if (!resp.ok) {
      if (resp.headers.get("retry-after") && body && body.retry_after === undefined) {
        body.retry_after = resp.headers.get("retry-after");
      }
      throw new ApiError(resp.status, body);
    }
    return body;
  }

  // -- token -----------------------------------------------------------------------------

  function showTokenState() {
    const t = token();
    $("token-state").textContent = t ? "(saved: " + t.slice(0, 7) + "\u2026)" : "(anonymous)";
    $("token").value = t;
    $("recent").hidden = !t;
    if (t) loadRecent();
  }

  function saveToken() {
    const t = $("token").value.trim();
    try {
      if (t) localStorage.setItem(TOKEN_KEY, t);
      else localStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      showError("This browser does not let the page keep the token (storage is blocked).");
    }
    showTokenState();
    setStatus(t ? "Token saved in this browser." : "Working anonymously.");
  }

  // -- options ---------------------------------------------------------------------------

  function fill(select, items, keep) {
    const first = keep ? Array.from(select.options).slice(0, keep) : [];
    select.replaceChildren(...first);
    for (const it of items) select.appendChild(make("option", { value: it.value }, it.label));
  }

  async function loadOptions() {
    const o = await api("/api/v1/options");
    S.options = o;
    fill(
      $("tier"),
      o.tiers.map((t) => ({
        value: t.name,
        label: t.name + (t.note ? " (" + t.note + ")" : "") + (t.available ? "" : " \u2013 unavailable"),
      })),
    );
    Array.from($("tier").options).forEach((opt, i) => (opt.disabled = !o.tiers[i].available));
    fill(
      $("language"),
      o.languages.map((l) => ({
        value: l.code,
        label: l.iso && l.iso !== l.code ? l.iso + " \u2013 " + l.code : l.code,
      })),
      1,
    );
    fill(
      $("tool"),
      o.tools.map((t) => ({ value: t.name, label: t.name + (t.available ? "" : " (unavailable)") })),
      1,
    );
    fill($("translate_to"), o.translate_targets.map((c) => ({ value: c, label: c })), 1);
    $("file").accept = o.inputs.map((i) => i.media_type).join(",");
    $("file-types").textContent = o.inputs.map((i) => i.kind.toUpperCase()).join(", ");
    toolChanged();
  }

  function toolChanged() {
    const name = $("tool").value;
    const tool = S.options && S.options.tools.find((t) => t.name === name);
    const translating = name === "translate";
    $("translate_to").disabled = !translating;
    $("translate_to").required = translating;
    $("tool-hint").textContent = tool ? tool.description || "" : "";
    if (tool && tool.preset && tool.preset.tier) $("tier").value = tool.preset.tier;
  }

  // -- submit and progress ---------------------------------------------------------------

  function submit(ev) {
    ev.preventDefault();
    showError("");
    const file = $("file").files[0];
    if (!file) {
      showError("Choose a file first.");
      $("file").focus();
      return;
    }
    if ($("tool").value === "translate" && !$("translate_to").value) {
      showError("Choose the language to translate to.");
      $("translate_to").focus();
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("tier", $("tier").value);
    form.append("language", $("language").value || "auto");
    if ($("tool").value) form.append("tool", $("tool").value);
    if ($("tool").value === "translate" && $("translate_to").value) {
      form.append("translate_to", $("translate_to").value);
    }
    stopPolling();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/ocr/");
    const t = token();
    if (t) xhr.setRequestHeader("Authorization", "Bearer " + t);
    const bar = $("progress");
    bar.hidden = false;
    bar.removeAttribute("value");
    $("go").disabled = true;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        bar.max = e.total;
        bar.value = e.loaded;
        const pct = Math.round((100 * e.loaded) / e.total);
        setStatus(pct < 100 ? "Uploading " + pct + "%" : "Uploaded; reading the document\u2026");
      }
    };
    xhr.onerror = () => {
      $("go").disabled = false;
      bar.hidden = true;
      showError(describe(0, null));
    };
    xhr.onload = () => {
      $("go").disabled = false;
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        body = { detail: xhr.responseText.slice(0, 300) };
      }
      if (xhr.status !== 200 && xhr.status !== 202) {
        bar.hidden = true;
        setStatus("");
        if (xhr.status === 429 && body && body.retry_after === undefined) {
          body.retry_after = xhr.getResponseHeader("Retry-After");
        }
        showError(describe(xhr.status, body));
        return;
      }
      openJob(body);
    };
    setStatus("Uploading\u2026");
    xhr.send(form);
  }

  function stopPolling() {
    if (S.pollTimer) clearTimeout(S.pollTimer);
    S.pollTimer = null;
  }

  function progressOf(job) {
    const bar = $("progress");
    const total = job.page_count || 0;
    const done = job.pages_done || 0;
    bar.hidden = false;
    if (total) {
      bar.max = total;
      bar.value = done;
    } else bar.removeAttribute("value");
    setStatus(
      job.status === "pending"
        ? "Waiting in the queue (" + total + " page" + (total === 1 ? "" : "s") + ")\u2026"
        : "Reading: " + done + " of " + total + " pages done",
    );
  }

  async function poll(uuid, delay) {
    try {
      const job = await api("/api/v1/ocr/" + encodeURIComponent(uuid) + "/");
      if (job.status === "pending" || job.status === "processing") {
        progressOf(job);
        S.pollTimer = setTimeout(() => poll(uuid, Math.min(2000, delay * 1.3)), delay);
        return;
      }
      openJob(job);
    } catch (e) {
      showError(e.message);
      if (e.status === 0 || e.status === 429 || e.status >= 500) {
        S.pollTimer = setTimeout(() => poll(uuid, 3000), 3000);
      }
    }
  }

  function openJob(job) {
    history.replaceState(null, "", "#job=" + job.uuid);
    if (job.status === "pending" || job.status === "processing") {
      progressOf(job);
      S.pollTimer = setTimeout(() => poll(job.uuid, 700), 700);
      return;
    }
    $("progress").hidden = true;
    if (job.status === "failed") {
      setStatus("");
      showError("The job failed: " + (job.error || "no reason given") + ".");
      return;
    }
    setStatus(
      "Done: " + job.page_count + " page" + (job.page_count === 1 ? "" : "s") +
      (job.mean_confidence !== null && job.mean_confidence !== undefined
        ? ", mean confidence " + Math.round(job.mean_confidence * 100) + "%" : "") + ".",
    );
    showJob(job);
  }

  // -- result view -----------------------------------------------------------------------

  function showJob(job) {
    for (const url of S.images.values()) URL.revokeObjectURL(url);
    S.images.clear();
    S.job = job;
    S.page = 0;
    S.conversation = null;
    S.cited = null;
    $("result").hidden = false;
    const name = job.filename || job.uuid;
    $("job-meta").textContent =
      name + " \u00b7 " + job.tier + (job.engine ? " (" + job.engine + ")" : "") +
      " \u00b7 " + (job.detected_languages || []).join(", ") +
      (job.warnings && job.warnings.length ? " \u00b7 " + job.warnings.join("; ") : "");
    renderDownloads();
    showPage(0);
    $("chat-log").replaceChildren();
    loadHistory();
  }

  function renderDownloads() {
    const box = $("downloads");
    box.replaceChildren();
    for (const f of (S.options && S.options.formats) || []) {
      const b = make("button", { type: "button", class: "small", title: f.description || "" }, f.name.toUpperCase());
      b.addEventListener("click", () => download(f));
      box.appendChild(b);
    }
  }

  async function download(fmt) {
    showError("");
    const url = "/api/v1/ocr/" + S.job.uuid + "/download/?format=" + encodeURIComponent(fmt.name);
    try {
      const resp = await fetch(url, { headers: headers() });
      if (!resp.ok) throw new ApiError(resp.status, await parseBody(resp));
      const blob = await resp.blob();
      const cd = resp.headers.get("content-disposition") || "";
      const m = /filename="([^"]+)"/.exec(cd);
      const a = make("a", { href: URL.createObjectURL(blob), download: m ? m[1] : "result." + fmt.extension });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      setStatus("Downloaded " + a.download + ".");
    } catch (e) {
      showError(e instanceof ApiError ? e.message : describe(0, null));
    }
  }

  function pageOf(index) {
    return (S.job.pages || []).find((p) => p.index === index) || S.job.pages[index];
  }

  function pageCount() {
    return Math.max(S.job.page_count || 0, (S.job.pages || []).length);
  }

  function showPage(index) {
    const n = pageCount();
    if (!n) return;
    S.page = Math.max(0, Math.min(n - 1, index));
    $("page-no").value = S.page + 1;
    $("page-no").max = n;
    $("page-count").textContent = "of " + n;
    $("prev").disabled = S.page === 0;
    $("next").disabled = S.page >= n - 1;
    const page = pageOf(S.page);
    if (!page) return;
    drawPage(page);
    renderLines(page);
    renderMarkdown(page);
    $("view-text").textContent = page.text || "";
    loadImage(page);
    if (S.cited && S.cited.page === S.page + 1) highlightSnippet(page, S.cited.snippet);
  }

  async function loadImage(page) {
    const img = $("page-img");
    const idx = page.index;
    img.alt = "Page " + (idx + 1) + " of the document";
    if (S.images.has(idx)) {
      img.src = S.images.get(idx);
      return;
    }
    img.removeAttribute("src");
    try {
      const resp = await fetch("/api/v1/ocr/" + S.job.uuid + "/pages/" + idx + "/image", { headers: headers() });
      if (!resp.ok) throw new ApiError(resp.status, await parseBody(resp));
      const url = URL.createObjectURL(await resp.blob());
      S.images.set(idx, url);
      if (S.page === idx) img.src = url;
    } catch (e) {
      $("page-caption").textContent = "The page image is not available (" + e.message + ")";
    }
  }

  function drawPage(page) {
    const w = page.width || 1000;
    const h = page.height || 1400;
    const box = $("page-box");
    box.style.aspectRatio = w + " / " + h;
    const svg = $("boxes");
    const ns = svg.namespaceURI;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.replaceChildren();
    let low = 0;
    (page.blocks || []).forEach((b, i) => {
      if (!Array.isArray(b.bbox) || b.bbox.length !== 4) return;
      const [x0, y0, x1, y1] = b.bbox;
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", x0);
      r.setAttribute("y", y0);
      r.setAttribute("width", Math.max(1, x1 - x0));
      r.setAttribute("height", Math.max(1, y1 - y0));
      r.setAttribute("data-i", i);
      r.setAttribute("vector-effect", "non-scaling-stroke");
      const flags = b.flags || [];
      r.setAttribute("class", "box" + (flags.includes("low_confidence") ? " low" : ""));
      if (flags.includes("low_confidence")) low++;
      const title = document.createElementNS(ns, "title");
      title.textContent = b.text + " (" + Math.round((b.confidence || 0) * 100) + "%)";
      r.appendChild(title);
      svg.appendChild(r);
    });
    const shown = svg.childElementCount;
    $("page-caption").textContent =
      "Page " + (page.index + 1) + ": " + shown + " line" + (shown === 1 ? "" : "s") + " boxed" +
      (low ? ", " + low + " low-confidence (dashed)" : "") +
      (page.rotation ? ", turned " + page.rotation + "\u00b0" : "") + ".";
  }

  function renderLines(page) {
    const list = $("view-lines");
    list.replaceChildren();
    (page.blocks || []).forEach((b, i) => {
      const flags = b.flags || [];
      const li = make("li", { tabIndex: 0, "data-i": i, class: "line" + (b.type ? " t-" + b.type : "") });
      li.appendChild(document.createTextNode(b.text));
      if (flags.includes("low_confidence")) {
        li.classList.add("low");
        li.appendChild(make("span", { class: "flag" }, " low confidence"));
      }
      if (!Array.isArray(b.bbox)) li.appendChild(make("span", { class: "flag" }, " no position"));
      list.appendChild(li);
    });
    if (!list.childElementCount) list.appendChild(make("li", { class: "hint" }, "No text found on this page."));
  }

  function renderTables(tables) {
    const frag = document.createDocumentFragment();
    for (const t of tables) {
      const cells = t.cells || [];
      const rows = Math.max(0, ...cells.map((c) => c.row + (c.row_span || 1)));
      const grid = [];
      for (let r = 0; r < rows; r++) grid.push([]);
      for (const c of cells) grid[c.row].push(c);
      const table = make("table");
      const tbody = make("tbody");
      grid.forEach((row) => {
        const tr = make("tr");
        row.sort((a, b) => a.col - b.col).forEach((c) => {
          tr.appendChild(make("td", { rowSpan: c.row_span || 1, colSpan: c.col_span || 1 }, c.text || ""));
        });
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      frag.appendChild(make("div", { class: "scroll-x" }, table));
    }
    return frag;
  }

  // The server renders the Markdown (markdown-it-py: raw HTML shown as text, links and
  // images reduced to their text), so the page needs no Markdown parser; DOMParser
  // builds the nodes without running anything.
  async function renderMarkdown(page) {
    const box = $("view-md");
    const idx = page.index;
    const key = S.job.uuid + "/" + idx;
    let html = S.markdown.get(key);
    if (html === undefined) {
      box.replaceChildren();
      try {
        const resp = await fetch("/web/render/" + S.job.uuid + "/" + idx, { headers: headers() });
        if (!resp.ok) throw new ApiError(resp.status, await parseBody(resp));
        html = await resp.text();
        S.markdown.set(key, html);
      } catch (e) {
        html = null;
      }
      if (!S.job || S.job.uuid + "/" + S.page !== key) return; // moved on meanwhile
    }
    if (html === null) {
      box.textContent = page.markdown || page.text || "";
    } else {
      const doc = new DOMParser().parseFromString(html, "text/html");
      box.replaceChildren(...doc.body.childNodes);
    }
    if (page.tables && page.tables.length && !box.querySelector("table")) {
      box.appendChild(renderTables(page.tables));
    }
  }

  function mark(i, on) {
    document.querySelectorAll('[data-i="' + i + '"]').forEach((n) => n.classList.toggle("hot", on));
  }

  function hover(ev) {
    const t = ev.target.closest ? ev.target.closest("[data-i]") : null;
    if (!t) return;
    const on = ev.type === "mouseover" || ev.type === "focusin";
    mark(t.getAttribute("data-i"), on);
    if (on && t.tagName.toLowerCase() === "rect") {
      const li = $("view-lines").querySelector('[data-i="' + t.getAttribute("data-i") + '"]');
      if (li && !$("view-lines").hidden) li.scrollIntoView({ block: "nearest" });
    }
  }

  // -- citations -------------------------------------------------------------------------

  const norm = (s) => String(s || "").toLowerCase().replace(/\s+/g, " ").trim();

  // The blocks of the page that the snippet covers (whitespace- and case-insensitive).
  function blocksFor(page, snippet) {
    const want = norm(snippet).replace(/(\u2026|\.\.\.)$/, "").trim();
    if (!want) return [];
    const blocks = page.blocks || [];
    let joined = "";
    const spans = [];
    blocks.forEach((b, i) => {
      const t = norm(b.text);
      if (!t) return;
      if (joined) joined += " ";
      spans.push([joined.length, joined.length + t.length, i]);
      joined += t;
    });
    const at = joined.indexOf(want);
    if (at >= 0) {
      return spans.filter(([s, e]) => e > at && s < at + want.length).map((x) => x[2]);
    }
    // Not verbatim (hyphenation, OCR noise): lines sharing a long run with the snippet.
    return spans
      .filter(([s, e]) => e - s >= 8 && (want.includes(joined.slice(s, e)) || joined.slice(s, e).includes(want)))
      .map((x) => x[2]);
  }

  function highlightSnippet(page, snippet) {
    document.querySelectorAll(".cited").forEach((n) => n.classList.remove("cited"));
    const hits = blocksFor(page, snippet);
    hits.forEach((i) => document.querySelectorAll('[data-i="' + i + '"]').forEach((n) => n.classList.add("cited")));
    if (hits.length) {
      selectTab("tab-lines");
      const first = $("view-lines").querySelector('[data-i="' + hits[0] + '"]');
      if (first) {
        first.scrollIntoView({ block: "center" });
        first.focus({ preventScroll: true });
      }
      setStatus("Page " + (page.index + 1) + ": " + hits.length + " line(s) of the citation highlighted.");
    } else {
      setStatus("The cited text was not found line by line on page " + (page.index + 1) + ".");
    }
  }

  function followCitation(c) {
    S.cited = { page: c.page, snippet: c.snippet };
    showPage(c.page - 1);
    $("page-box").scrollIntoView({ block: "nearest" });
  }

  // -- chat ------------------------------------------------------------------------------

  function chatTurn(msg) {
    const li = make("li", { class: "turn " + (msg.role === "user" ? "me" : "bot") });
    li.appendChild(make("span", { class: "sr-only" }, msg.role === "user" ? "You: " : "Answer: "));
    li.appendChild(make("p", null, msg.content || ""));
    const cites = msg.citations || [];
    if (cites.length) {
      const ul = make("ul", { class: "cites", "aria-label": "Citations" });
      cites.forEach((c) => {
        const b = make("button", { type: "button", class: "cite" }, [
          make("strong", null, "p. " + c.page),
          " \u201c" + String(c.snippet || "").slice(0, 120) + "\u201d",
        ]);
        b.addEventListener("click", () => followCitation(c));
        ul.appendChild(make("li", null, b));
      });
      li.appendChild(ul);
    }
    $("chat-log").appendChild(li);
    return li;
  }

  // History answers may list messages directly or per conversation.
  function messagesOf(body) {
    if (!body) return [];
    if (Array.isArray(body)) return body.flatMap((x) => (x && x.role ? [x] : messagesOf(x)));
    if (Array.isArray(body.messages)) return body.messages;
    if (Array.isArray(body.conversations)) {
      const convs = body.conversations;
      if (convs.length) S.conversation = convs[convs.length - 1].id || convs[convs.length - 1].conversation || null;
      return convs.flatMap((c) => messagesOf(c));
    }
    if (Array.isArray(body.history)) return messagesOf(body.history);
    return [];
  }

  async function loadHistory() {
    const chatOn = S.options && S.options.chat;
    $("chat").hidden = !chatOn;
    if (!chatOn) return;
    $("chat-note").textContent = token() ? "" : "Chat needs an account token (see \u201cAPI token\u201d above).";
    if (!token()) return;
    try {
      const body = await api("/api/v1/chat/" + S.job.uuid + "/history/");
      if (body && body.conversation) S.conversation = body.conversation;
      messagesOf(body).forEach(chatTurn);
    } catch (e) {
      if (e.status !== 404) $("chat-note").textContent = e.message;
    }
  }

  async function ask(ev) {
    ev.preventDefault();
    const q = $("chat-q").value.trim();
    if (!q || !S.job) return;
    if (!token()) {
      $("chat-note").textContent = "Chat needs an account token (see \u201cAPI token\u201d above).";
      return;
    }
    const body = { message: q };
    if (S.conversation) body.conversation = S.conversation;
    chatTurn({ role: "user", content: q });
    $("chat-q").value = "";
    $("ask").disabled = true;
    $("chat-note").textContent = "Thinking\u2026";
    try {
      const r = await api("/api/v1/chat/" + S.job.uuid + "/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      S.conversation = r.conversation || S.conversation;
      chatTurn(r.message || { role: "assistant", content: "" });
      $("chat-note").textContent = "";
    } catch (e) {
      $("chat-note").textContent = e.message;
    } finally {
      $("ask").disabled = false;
    }
  }

  // -- tabs, pager, recent jobs, drop ------------------------------------------------------

  function selectTab(id) {
    document.querySelectorAll('[role="tab"]').forEach((tab) => {
      const on = tab.id === id;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !on;
    });
  }

  function tabKeys(ev) {
    const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
    const i = tabs.indexOf(ev.target);
    if (i < 0) return;
    let j = null;
    if (ev.key === "ArrowRight") j = (i + 1) % tabs.length;
    if (ev.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
    if (ev.key === "Home") j = 0;
    if (ev.key === "End") j = tabs.length - 1;
    if (j === null) return;
    ev.preventDefault();
    selectTab(tabs[j].id);
    tabs[j].focus();
  }

  async function loadRecent() {
    try {
      const body = await api("/api/v1/ocr/?limit=10");
      const list = $("recent-list");
      list.replaceChildren();
      for (const j of body.jobs || []) {
        const b = make("button", { type: "button", class: "linkish" }, (j.filename || j.uuid) + " \u00b7 " + j.status);
        b.addEventListener("click", () => openUuid(j.uuid));
        list.appendChild(make("li", null, [b, make("span", { class: "hint" }, " " + String(j.created_at || "").slice(0, 16).replace("T", " "))]));
      }
      if (!list.childElementCount) list.appendChild(make("li", { class: "hint" }, "No jobs yet."));
    } catch (e) {
      $("recent-list").replaceChildren(make("li", { class: "error" }, e.message));
    }
  }

  async function openUuid(uuid) {
    showError("");
    stopPolling();
    try {
      openJob(await api("/api/v1/ocr/" + encodeURIComponent(uuid) + "/"));
      $("result").scrollIntoView({ block: "start" });
    } catch (e) {
      showError(e.message);
    }
  }

  function fileChosen() {
    const f = $("file").files[0];
    $("file-name").textContent = f ? f.name + " (" + Math.ceil(f.size / 1024) + " KB)" : "";
  }

  function setupDrop() {
    const zone = $("drop");
    ["dragenter", "dragover"].forEach((t) =>
      zone.addEventListener(t, (e) => {
        e.preventDefault();
        zone.classList.add("over");
      }),
    );
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) {
        $("file").files = e.dataTransfer.files;
        fileChosen();
      }
    });
  }

  function init() {
    $("token-save").addEventListener("click", saveToken);
    $("token").addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        saveToken();
      }
    });
    $("token-forget").addEventListener("click", () => {
      $("token").value = "";
      saveToken();
    });
    $("upload-form").addEventListener("submit", submit);
    $("tool").addEventListener("change", toolChanged);
    $("file").addEventListener("change", fileChosen);
    setupDrop();
    $("prev").addEventListener("click", () => showPage(S.page - 1));
    $("next").addEventListener("click", () => showPage(S.page + 1));
    $("page-no").addEventListener("change", () => showPage(parseInt($("page-no").value, 10) - 1));
    ["mouseover", "mouseout", "focusin", "focusout"].forEach((t) => {
      $("boxes").addEventListener(t, hover);
      $("view-lines").addEventListener(t, hover);
    });
    document.querySelectorAll('[role="tab"]').forEach((tab) => {
      tab.addEventListener("click", () => selectTab(tab.id));
      tab.addEventListener("keydown", tabKeys);
    });
    $("chat-form").addEventListener("submit", ask);
    showTokenState();
    loadOptions()
      .catch((e) => showError("Could not load the choices: " + e.message))
      .then(() => {
        const m = /job=([0-9a-fA-F-]{36})/.exec(location.hash);
        if (m) openUuid(m[1]);
      });
  }

  // For tests in a real browser (tests/test_web_browser.py).
  window.ocrkitPage = { blocksFor: blocksFor, describe: describe, showJob: showJob };
  document.addEventListener("DOMContentLoaded", init);
})();
