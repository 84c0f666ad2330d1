// wxgate admin page: everything goes through the admin API (/admin/api/), with the session
// cookie and the session's CSRF token on every change. No HTML is built from data: text only.
"use strict";
(function () {
  const T = JSON.parse(document.getElementById("admin-text").textContent);
  const errorBox = document.getElementById("admin-error");
  const results = document.getElementById("results");
  const section = document.getElementById("user");
  let csrf = "";

  async function api(method, path) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    const response = await fetch("/admin/api" + path, { method, headers, credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) {
      errorBox.textContent = body.error_description || body.error || String(response.status);
      errorBox.hidden = false;
      throw new Error(body.error || "request failed");
    }
    errorBox.hidden = true;
    return body;
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  function button(text, attrs, onClick) {
    const b = el("button", text, Object.assign({ type: "button" }, attrs));
    b.addEventListener("click", () => onClick().catch(() => {}));
    return b;
  }

  function when(epoch) {
    return epoch ? new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC" : T.never;
  }

  async function search(q) {
    const found = await api("GET", "/users?q=" + encodeURIComponent(q));
    results.replaceChildren();
    for (const user of found.users) {
      const item = el("li", null, { "data-sub": user.sub });
      const link = el("a", user.sub + (user.nickname ? " (" + user.nickname + ")" : ""), { href: "#", class: "open-user" });
      link.addEventListener("click", (event) => { event.preventDefault(); show(user.sub).catch(() => {}); });
      item.append(link);
      if (user.disabled) item.append(" ", el("span", T.disabled, { class: "badge-disabled" }));
      results.append(item);
    }
  }

  function render(user) {
    const path = "/users/" + encodeURIComponent(user.sub);
    section.replaceChildren();
    const heading = el("h2", user.sub + (user.nickname ? " — " + user.nickname : ""), { id: "user-sub" });
    if (user.disabled) heading.append(" ", el("span", T.disabled, { class: "badge-disabled", id: "user-disabled" }));
    section.append(heading);
    const ids = el("ul", null, { id: "user-identities" });
    for (const i of user.identities) ids.append(el("li", i.app + " " + i.openid));
    section.append(el("h3", T.identities), ids);

    const roles = el("p", null, { id: "user-roles" });
    for (const role of user.roles) {
      const chip = el("span", role + " ", { class: "role", "data-role": role });
      chip.append(button(T.remove, { class: "remove-role", "data-role": role },
        async () => render(await api("DELETE", path + "/roles/" + encodeURIComponent(role)))));
      roles.append(chip);
    }
    if (!user.roles.length) roles.append(T.none);
    const input = el("input", null, { id: "grant-role", placeholder: T.roles });
    const grant = button(T.grant, { id: "grant" },
      async () => render(await api("POST", path + "/roles/" + encodeURIComponent(input.value.trim()))));
    section.append(el("h3", T.roles), roles, input, " ", grant);

    const toggle = button(user.disabled ? T.enable : T.disable, { id: "toggle-disabled" },
      async () => render(await api(user.disabled ? "DELETE" : "POST", path + "/disabled")));
    section.append(el("p"), toggle);

    const table = el("table", null, { id: "user-sessions" });
    const head = el("tr");
    for (const name of [T.created, T.refreshed, T.flow, T.client, ""]) head.append(el("th", name));
    table.append(head);
    for (const s of user.sessions) {
      const row = el("tr", null, { "data-sid": s.sid });
      row.append(el("td", when(s.created_at)), el("td", when(s.refreshed_at)), el("td", s.flow),
        el("td", s.client_ip + " " + s.user_agent.slice(0, 80)));
      const cell = el("td");
      cell.append(button(T.revoke, { class: "revoke", "data-sid": s.sid }, async () => {
        await api("DELETE", path + "/sessions/" + encodeURIComponent(s.sid));
        await show(user.sub);
      }));
      row.append(cell);
      table.append(row);
    }
    const all = button(T.revoke_all, { id: "revoke-all" }, async () => {
      await api("DELETE", path + "/sessions");
      await show(user.sub);
    });
    section.append(el("h3", T.sessions), table, el("p"), all);
    section.hidden = false;
  }

  async function show(sub) {
    render(await api("GET", "/users/" + encodeURIComponent(sub)));
  }

  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search(document.getElementById("search-q").value.trim()).catch(() => {});
  });
  api("GET", "/csrf").then((body) => {
    csrf = body.csrf_token;
    document.body.dataset.ready = "1";
  }).catch(() => {});
})();
