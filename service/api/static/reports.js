/* 周报 Weekly reports: generate now (POST /api/reports/weekly) and the list of reports written so far. */
"use strict";

(() => {
  const { el, api, problems, fmtTime, fmtMinutes, data } = FL;
  const $ = (id) => document.getElementById(id);
  const WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
  const errorBox = $("reports-error");
  const status = $("report-status");
  const button = $("generate-report");

  function showError(messages) {
    errorBox.textContent = messages.join("；");
    errorBox.hidden = !messages.length;
  }

  const siteNames = new Map(); // site code → name: reports are filed by code, people know sites by name
  const scopeLabel = (code) => (code ? siteNames.get(code) || code : "全辖区 District");
  const fileLinks = (files) => el("span", { class: "cl-files" }, ...files.map((f) =>
    el("a", { href: f.url, target: "_blank", rel: "noopener", text: f.format.toUpperCase(), dataset: { name: f.name } })));

  async function loadSites() {
    const select = $("report-site");
    const options = [];
    if (data.district) options.push(el("option", { value: "", text: "全辖区及各站点 District and every site" }));
    const result = await api("GET", "/api/sites");
    if (result.ok) {
      for (const site of result.data) {
        siteNames.set(site.code, site.name);
        options.push(el("option", { value: String(site.id), text: site.name }));
      }
    }
    select.replaceChildren(...options);
  }

  async function loadList() {
    const result = await api("GET", "/api/reports");
    if (!result.ok) {
      showError(problems(result.data));
      return;
    }
    const rows = [];
    for (const week of result.data) {
      const groups = new Map();
      for (const file of week.files) {
        const key = file.site_code || "";
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(file);
      }
      for (const [code, files] of groups) {
        rows.push(el("tr", { dataset: { week: week.week, site: code } }, el("td", { text: week.week }),
          el("td", { text: scopeLabel(code) }), el("td", {}, fileLinks(files)),
          el("td", { text: fmtTime(files[0].modified_at) })));
      }
    }
    $("report-list").tBodies[0].replaceChildren(...rows);
    $("reports-empty").hidden = rows.length > 0;
  }

  async function generate(event) {
    event.preventDefault();
    const week = $("report-week").value;
    const siteId = $("report-site").value;
    const body = { week };
    if (siteId) body.site_id = Number(siteId);
    button.disabled = true;
    status.textContent = "正在生成… Generating…";
    const result = await api("POST", "/api/reports/weekly", body);
    button.disabled = false;
    if (!result.ok) {
      status.textContent = "";
      showError(problems(result.data));
      return;
    }
    showError([]);
    status.textContent = `已生成 ${result.data.week} Done`;
    const byCode = new Map();
    for (const file of result.data.files) {
      const key = file.site_code || "";
      if (!byCode.has(key)) byCode.set(key, []);
      byCode.get(key).push(file);
    }
    $("report-numbers").tBodies[0].replaceChildren(...result.data.numbers.map((n) => el("tr", { dataset: { site: n.site || "" } },
      el("td", { text: scopeLabel(n.site) }), el("td", { class: "num", text: n.violations }),
      el("td", { class: "num", text: fmtMinutes(n.blocked_minutes) }),
      el("td", { class: "num", text: fmtMinutes(n.median_clear_minutes) }),
      el("td", { class: "num", text: n.escalations }), el("td", { class: "num", text: n.confirmations }),
      el("td", { text: n.repeat_offenders.join("、") || "—" }), el("td", {}, fileLinks(byCode.get(n.site || "") || [])))));
    $("report-result").hidden = false;
    loadList();
  }

  $("report-week").value = data.last_week;
  const s = data.schedule || {};
  $("report-schedule").textContent = s.enabled
    ? `每${WEEKDAYS[s.weekday]} ${s.time}（${s.timezone}）自动生成本周及上周周报。Generated automatically every week.`
    : "自动生成已关闭。Scheduled generation is off.";
  $("report-form").addEventListener("submit", generate);
  loadSites().then(loadList);
})();
