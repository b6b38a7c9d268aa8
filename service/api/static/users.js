/* Users: role, site (property staff), active, password reset; the last active operator stays one (the API says so). */
"use strict";

(() => {
  const { el, api, data } = FL;
  const $ = (id) => document.getElementById(id);
  const form = $("user-form");
  const ROLES = data.roles || {};
  const state = { users: [], sites: [], editing: null };

  const siteName = (id) => (id === null ? "—" : (state.sites.find((s) => s.id === id) || { name: `#${id}` }).name);

  async function load() {
    const [users, sites] = await Promise.all([api("GET", "/api/users"), api("GET", "/api/sites")]);
    if (!users.ok) {
      FLF.showRefusals($("user-problems"), users);
      return;
    }
    state.users = users.data;
    state.sites = sites.ok ? sites.data : [];
    FLF.options($("user-site"), state.sites.map((s) => [s.id, `${s.name}（${s.code}）`]), $("user-site").value || undefined,
      "（无 none）");
    render();
  }

  function render() {
    $("user-rows").replaceChildren(...state.users.map((user) => el("tr", {
      class: state.editing && state.editing.id === user.id ? "selected" : "", dataset: { username: user.username },
    },
    el("td", {}, el("strong", { text: user.username })),
    el("td", {}, el("span", { class: `role role-${user.role}`, text: ROLES[user.role] || user.role })),
    el("td", { text: siteName(user.site_id) }),
    el("td", {}, el("span", { class: user.active ? "badge cleared" : "badge problem", text: user.active ? "启用" : "已停用" })),
    el("td", { class: "actions" }, el("button", { type: "button", class: "secondary", text: "编辑 Edit",
      onclick: () => edit(user) })))));
  }

  function siteFollowsRole() {
    const property = $("user-role").value === "property";
    $("user-site").disabled = !property;
    if (!property) $("user-site").value = "";
  }

  function edit(user) {
    state.editing = user;
    $("user-form-title").replaceChildren(user ? `编辑用户：${user.username} ` : "新增用户 ",
      el("small", { text: user ? "Edit user" : "New user" }));
    $("user-name").value = user ? user.username : "";
    $("user-name").disabled = Boolean(user);
    $("user-password").value = "";
    $("password-label").replaceChildren(user ? "重置密码 " : "密码 ",
      el("small", { text: user ? "New password (leave empty to keep)" : "Password (at least 10 characters)" }));
    $("user-role").value = user ? user.role : "property";
    $("user-site").value = user && user.site_id !== null ? String(user.site_id) : "";
    $("user-active").checked = user ? user.active : true;
    siteFollowsRole();
    FLF.showRefusals($("user-problems"), null);
    $("user-status").textContent = "";
    render();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const site = $("user-site").value;
    const body = {
      role: $("user-role").value, site_id: site === "" ? null : FLF.numberOr(site), active: $("user-active").checked,
    };
    const password = $("user-password").value;
    const user = state.editing;
    if (!user) {
      body.username = $("user-name").value.trim();
      body.password = password;
    } else if (password) {
      body.password = password;
    }
    $("save-user").disabled = true;
    const response = user ? await api("PATCH", `/api/users/${user.id}`, body) : await api("POST", "/api/users", body);
    $("save-user").disabled = false;
    if (!response.ok) {
      FLF.showRefusals($("user-problems"), response);
      FLF.say($("user-status"), false, "未保存", "Not saved");
      return;
    }
    await load();
    edit(state.users.find((u) => u.id === response.data.id) || null);
    FLF.say($("user-status"), true, `已保存：${response.data.username}${password && user ? "（密码已重置）" : ""}`, "Saved");
  });

  $("user-role").addEventListener("change", siteFollowsRole);
  $("new-user").addEventListener("click", () => edit(null));

  // The first load only applies the link's preset (?role=&site=): what the user typed meanwhile stays.
  const wanted = new URLSearchParams(location.search);
  load().then(() => {
    if (wanted.get("role")) $("user-role").value = wanted.get("role");
    if (wanted.get("site")) $("user-site").value = wanted.get("site");
    siteFollowsRole();
  });
})();
