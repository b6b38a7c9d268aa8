/* Sites: name, code, clear limit and the property staff of each; the same API (validation, audit) as clients use. */
"use strict";

(() => {
  const { el, api } = FL;
  const $ = (id) => document.getElementById(id);
  const form = $("site-form");
  const state = { sites: [], users: [], cameras: [], editing: null };

  const staffOf = (site) => state.users.filter((u) => u.role === "property" && u.site_id === site.id);
  const minutes = (seconds) => `${Math.round(seconds / 60)} 分钟`;

  async function load() {
    const [sites, users, cameras] = await Promise.all([api("GET", "/api/sites"), api("GET", "/api/users"),
      api("GET", "/api/cameras")]);
    if (!sites.ok) {
      FLF.showRefusals($("site-problems"), sites);
      return;
    }
    state.sites = sites.data;
    state.users = users.ok ? users.data : [];
    state.cameras = cameras.ok ? cameras.data : [];
    render();
  }

  function render() {
    FL.show($("no-sites"), !state.sites.length);
    $("site-rows").replaceChildren(...state.sites.map((site) => {
      const staff = staffOf(site);
      const cams = state.cameras.filter((c) => c.site_id === site.id).length;
      return el("tr", { class: state.editing && state.editing.id === site.id ? "selected" : "", dataset: { code: site.code } },
        el("td", {}, el("strong", { text: site.name }), site.address ? el("small", { class: "en", text: site.address }) : ""),
        el("td", {}, el("code", { text: site.code })),
        el("td", { text: minutes(site.clear_limit_s) }),
        el("td", {}, el("span", { class: "staff" }, staff.length
          ? staff.map((u) => el("span", { class: u.active ? "badge" : "badge problem", text: u.username }))
          : el("span", { class: "muted", text: "无 (none)" }))),
        el("td", { text: String(cams) }),
        el("td", { class: "actions" }, el("button", { type: "button", class: "secondary", text: "编辑 Edit",
          onclick: () => edit(site) })));
    }));
  }

  function edit(site) {
    state.editing = site;
    $("site-form-title").replaceChildren(site ? `编辑小区：${site.name} ` : "新增小区 ",
      el("small", { text: site ? "Edit site" : "New site" }));
    $("site-name").value = site ? site.name : "";
    $("site-code").value = site ? site.code : "";
    $("site-address").value = site ? site.address : "";
    $("site-limit").value = site ? Math.round(site.clear_limit_s / 60) : 15;
    FL.show($("delete-site"), Boolean(site));
    FL.show($("site-staff"), Boolean(site));
    if (site) {
      const staff = staffOf(site);
      $("site-staff-list").replaceChildren(...(staff.length ? staff.map((u) => el("li", {},
        `${u.username}${u.active ? "" : "（已停用 inactive）"}`)) : [el("li", { class: "muted", text: "还没有物业账号。None yet." })]));
      $("add-staff").href = `/ui/users?role=property&site=${site.id}`;
    }
    FLF.showRefusals($("site-problems"), null);
    $("site-status").textContent = "";
    render();
    $("site-name").focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const limit = FLF.numberOr($("site-limit").value);
    const body = {
      name: $("site-name").value, code: $("site-code").value.trim(), address: $("site-address").value,
      clear_limit_s: typeof limit === "number" ? Math.round(limit * 60) : limit,
    };
    const site = state.editing;
    $("save-site").disabled = true;
    const response = site ? await api("PATCH", `/api/sites/${site.id}`, body) : await api("POST", "/api/sites", body);
    $("save-site").disabled = false;
    if (!response.ok) {
      FLF.showRefusals($("site-problems"), response);
      FLF.say($("site-status"), false, "未保存", "Not saved");
      return;
    }
    await load();
    edit(state.sites.find((s) => s.id === response.data.id) || null);
    FLF.say($("site-status"), true, `已保存：${response.data.name}`, "Saved");
  });

  $("delete-site").addEventListener("click", async () => {
    const site = state.editing;
    if (!site || !window.confirm(`删除小区 ${site.name}？Delete this site?`)) return;
    const response = await api("DELETE", `/api/sites/${site.id}`);
    if (!response.ok) {
      FLF.showRefusals($("site-problems"), response);
      return;
    }
    await load();
    edit(null);
    FLF.say($("site-status"), true, `已删除：${site.name}`, "Deleted");
  });
  $("new-site").addEventListener("click", () => edit(null));

  load();
})();
