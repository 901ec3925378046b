fetch("/api/v1/openapi.json").then(r => r.json()).then(doc => {
  const root = document.getElementById("ops");
  root.textContent = "";
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const h = document.createElement("h2");
      const m = document.createElement("span");
      m.className = "m " + method; m.textContent = method.toUpperCase();
      const p = document.createElement("code"); p.textContent = path;
      h.append(m, p); root.append(h);
      const d = document.createElement("p");
      d.textContent = (op.summary || "") + (op.description ? " — " + op.description : "");
      root.append(d);
      const t = document.createElement("table");
      for (const [code, resp] of Object.entries(op.responses || {})) {
        const tr = t.insertRow();
        tr.insertCell().textContent = code;
        tr.insertCell().textContent = resp.description || "";
      }
      root.append(t);
    }
  }
}).catch(e => { document.getElementById("ops").textContent = "Could not load the document: " + e; });
