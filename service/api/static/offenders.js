/* 反复违停 Repeat offenders: plates with several police-confirmed violations in a window, each with its violations
 * and evidence; CSV and PDF of the same query from the API (GET /api/offenders?format=csv|pdf). */
"use strict";

(() => {
  const { el, api, problems, fmtShort, fmtTime, fmtDuration, secondsBetween } = FL;
  const $ = (id) => document.getElementById(id);
  let latest = 0;

  function showError(messages) {
    $("offenders-error").textContent = messages.join("；");
    $("offenders-error").hidden = !messages.length;
  }

  function query(format) {
    const params = new URLSearchParams({ window_days: $("offenders-days").value, min_count: $("offenders-min").value });
    if ($("offenders-until").value) params.set("until", $("offenders-until").value);
    if ($("offenders-site").value) params.set("site_id", $("offenders-site").value);
    if (format) params.set("format", format);
    return `/api/offenders?${params}`;
  }

  const ROLE = { begin: "开始", grace: "超时", latest: "最新", last: "最后", crop: "特写", clip: "视频" };

  function offenderCard(o) {
    return el("article", { class: "card offender", dataset: { plate: o.plate } },
      el("div", { class: "card-head" },
        el("h2", {}, el("span", { class: "plate", text: o.plate }), " ",
          el("span", { class: "badge escalated", text: `${o.count} 次` })),
        el("span", { class: "muted", text: `${fmtShort(o.first_at)} — ${fmtShort(o.last_at)}` })),
      el("table", { class: "counts stack-table" },
        el("thead", {}, el("tr", {}, ...["开始", "站点", "摄像头 · 区域", "占用", "证据"].map((t) => el("th", { text: t })))),
        el("tbody", {}, ...o.violations.map((v) => el("tr", { dataset: { violation: v.violation_id } },
          el("td", { dataset: { label: "开始" }, text: fmtTime(v.started_at) }),
          el("td", { dataset: { label: "站点" }, text: v.site_name || "未登记" }),
          el("td", { dataset: { label: "摄像头 · 区域" }, text: `${v.camera_name || v.camera_id} · ${v.zone_name}` }),
          el("td", { dataset: { label: "占用" }, text: v.ended_at ? fmtDuration(secondsBetween(v.started_at, v.ended_at)) : "仍在占用" }),
          el("td", { dataset: { label: "证据" } }, ...v.evidence.filter((e) => ROLE[e.role]).map((e) =>
            el("a", { class: "evidence-link", href: e.url, target: "_blank", rel: "noopener", text: ROLE[e.role] }))))))));
  }

  async function load(event) {
    if (event) event.preventDefault();
    if (!$("offenders-form").reportValidity()) return;
    $("offenders-csv").href = query("csv");
    $("offenders-pdf").href = query("pdf");
    const request = ++latest;
    const result = await api("GET", query());
    if (request !== latest) return;
    if (!result.ok) {
      showError(problems(result.data));
      return;
    }
    showError([]);
    const data = result.data;
    $("offender-list").replaceChildren(...data.offenders.map(offenderCard));
    $("offenders-empty").hidden = data.offenders.length > 0;
    $("offenders-summary").textContent = `${fmtShort(data.since)} — ${fmtShort(data.until)}：`
      + `${data.offenders.length} 辆车确认违停 ${data.min_count} 次及以上`;
  }

  async function start() {
    $("offenders-days").value = FL.data.window_days;
    $("offenders-min").value = FL.data.min_count;
    const sites = await api("GET", "/api/sites");
    if (sites.ok) $("offenders-site").append(...sites.data.map((s) => el("option", { value: String(s.id), text: s.name })));
    load();
  }

  $("offenders-form").addEventListener("submit", load);
  $("offenders-site").addEventListener("change", load);
  start();
})();
