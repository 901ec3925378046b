// A tiny Markdown renderer for OCR output: headings, paragraphs, lists, pipe tables,
// block quotes, code, rules; inline code, bold, italics and link text. It builds DOM
// nodes (never innerHTML), so text from a document can never become markup. Links are
// shown as their text only: the page makes no request the user did not ask for.
"use strict";

(function () {
  const ESC = "\\`*_{}[]()#+-.!|>~$";
  const BASE = 0xe000;

  // "\*" -> a private-use character that the inline parser does not treat as syntax.
  function hideEscapes(s) {
    return s.replace(/\\(.)/g, (all, ch) =>
      ESC.includes(ch) ? String.fromCharCode(BASE + ESC.indexOf(ch)) : all,
    );
  }
  function showEscapes(s) {
    return s.replace(/[\ue000-\ue0ff]/g, (ch) => ESC[ch.charCodeAt(0) - BASE] || ch);
  }

  function text(s) {
    return document.createTextNode(showEscapes(s));
  }

  const INLINE =
    /(`+)([\s\S]+?)\1|\*\*([\s\S]+?)\*\*|__([\s\S]+?)__|\*(?=\S)([\s\S]*?\S)\*|(?<![A-Za-z0-9])_(?=\S)([\s\S]*?\S)_(?![A-Za-z0-9])|!?\[([^\]]*)\]\([^)]*\)|<br\s*\/?>/g;

  function inline(src, parent) {
    const re = new RegExp(INLINE.source, "g");
    let last = 0;
    let m;
    while ((m = re.exec(src)) !== null) {
      if (m.index > last) parent.appendChild(text(src.slice(last, m.index)));
      if (m[2] !== undefined) {
        const code = document.createElement("code");
        code.textContent = showEscapes(m[2]);
        parent.appendChild(code);
      } else if (m[3] !== undefined || m[4] !== undefined) {
        const strong = document.createElement("strong");
        inline(m[3] !== undefined ? m[3] : m[4], strong);
        parent.appendChild(strong);
      } else if (m[5] !== undefined || m[6] !== undefined) {
        const em = document.createElement("em");
        inline(m[5] !== undefined ? m[5] : m[6], em);
        parent.appendChild(em);
      } else if (m[7] !== undefined) {
        inline(m[7], parent);
      } else {
        parent.appendChild(document.createElement("br"));
      }
      last = re.lastIndex;
    }
    if (last < src.length) parent.appendChild(text(src.slice(last)));
    return parent;
  }

  function el(tag, content) {
    const node = document.createElement(tag);
    if (content !== undefined) inline(content, node);
    return node;
  }

  function cells(row) {
    let s = row.trim();
    if (s.startsWith("|")) s = s.slice(1);
    if (s.endsWith("|")) s = s.slice(0, -1);
    return s.split("|").map((c) => c.trim());
  }

  const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;
  const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
  const ULIST = /^\s*[-*+]\s+(.*)$/;
  const OLIST = /^\s*(\d{1,9})[.)]\s+(.*)$/;
  const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
  const FENCE = /^\s*(```|~~~)/;

  function table(lines) {
    const wrap = document.createElement("div");
    wrap.className = "scroll-x";
    const t = document.createElement("table");
    const head = cells(lines[0]);
    const align = cells(lines[1]).map((c) =>
      c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : "",
    );
    const thead = document.createElement("thead");
    const tr = document.createElement("tr");
    head.forEach((c, i) => {
      const th = el("th", c);
      th.scope = "col";
      if (align[i]) th.style.textAlign = align[i];
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    t.appendChild(thead);
    const tbody = document.createElement("tbody");
    for (const line of lines.slice(2)) {
      const row = document.createElement("tr");
      const cs = cells(line);
      for (let i = 0; i < head.length; i++) {
        const td = el("td", cs[i] || "");
        if (align[i]) td.style.textAlign = align[i];
        row.appendChild(td);
      }
      tbody.appendChild(row);
    }
    t.appendChild(tbody);
    wrap.appendChild(t);
    return wrap;
  }

  function render(source) {
    const frag = document.createDocumentFragment();
    const lines = hideEscapes(String(source || "").replace(/\r\n?/g, "\n")).split("\n");
    let i = 0;
    let para = [];
    const flush = () => {
      if (para.length) frag.appendChild(el("p", para.join("\n").replace(/ {2,}\n/g, "<br>")));
      para = [];
    };
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (!line.trim()) {
        flush();
        i++;
      } else if (FENCE.test(line)) {
        flush();
        const fence = line.trim().slice(0, 3);
        const body = [];
        i++;
        while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
        i++;
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        code.textContent = showEscapes(body.join("\n"));
        pre.appendChild(code);
        frag.appendChild(pre);
      } else if ((m = HEADING.exec(line))) {
        flush();
        frag.appendChild(el("h" + m[1].length, m[2]));
        i++;
      } else if (RULE.test(line) && !para.length) {
        frag.appendChild(document.createElement("hr"));
        i++;
      } else if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
        flush();
        const rows = [line, lines[i + 1]];
        i += 2;
        while (i < lines.length && lines[i].includes("|") && lines[i].trim()) rows.push(lines[i++]);
        frag.appendChild(table(rows));
      } else if (ULIST.test(line) || OLIST.test(line)) {
        flush();
        const ordered = OLIST.test(line);
        const list = document.createElement(ordered ? "ol" : "ul");
        if (ordered) {
          const start = parseInt(OLIST.exec(line)[1], 10);
          if (start !== 1) list.start = start;
        }
        const re = ordered ? OLIST : ULIST;
        while (i < lines.length && (m = re.exec(lines[i]))) {
          let item = ordered ? m[2] : m[1];
          i++;
          // continuation lines (indented, not a new item) belong to the item
          while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !ULIST.test(lines[i]) &&
                 !OLIST.test(lines[i])) {
            item += "\n" + lines[i++].trim();
          }
          list.appendChild(el("li", item));
        }
        frag.appendChild(list);
      } else if (/^\s*>/.test(line)) {
        flush();
        const quoted = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) {
          quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
        }
        const bq = document.createElement("blockquote");
        bq.appendChild(render(showEscapes(quoted.join("\n"))));
        frag.appendChild(bq);
      } else {
        para.push(line);
        i++;
      }
    }
    flush();
    return frag;
  }

  window.ocrkitMarkdown = render;
})();
