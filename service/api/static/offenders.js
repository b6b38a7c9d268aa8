/* 反复违停 Repeat offenders: plates with several police-confirmed violations in a window, each with its violations
 * and evidence; CSV and PDF of the same query from the API (GET /api/offenders?format=csv|pdf). Apart from them,
 * clearly labelled, the API's suggestions: plates the reader read on unreviewed violations that would make repeat
 * offenders once confirmed, each violation linked to the review page (they are in no export). */
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

  const UNSURE = 0.8; // below it the review page asks the officer to check the reading too

  function confidence(value) {
    if (value === null || value === undefined) return el("span", { class: "confidence", text: "—" });
    const unsure = value < UNSURE;
    return el("span", { class: unsure ? "confidence unsure" : "confidence",
      text: `${Math.round(value * 100)}%${unsure ? " 请核对" : ""}` });
  }

  function suggestionCard(s) {
    const total = s.count + s.confirmed_count;
    return el("article", { class: "card suggestion", dataset: { plate: s.plate } },
      el("div", { class: "card-head" },
        el("h3", {}, el("span", { class: "plate", text: s.plate }), " ",
          el("span", { class: "badge unconfirmed", text: "机器识别 未经确认" })),
        el("span", { class: "muted", dataset: { counts: "" },
          text: `识别 ${s.count} 次（待审核）+ 已确认 ${s.confirmed_count} 次 = ${total} 次 · ` +
            `${fmtShort(s.first_at)} — ${fmtShort(s.last_at)}` })),
      el("table", { class: "counts stack-table" },
        el("thead", {}, el("tr", {}, ...["开始", "站点", "摄像头 · 区域", "识别置信度", "审核"].map((t) => el("th", { text: t })))),
        el("tbody", {}, ...s.violations.map((v) => el("tr", { dataset: { violation: v.violation_id } },
          el("td", { dataset: { label: "开始" }, text: fmtTime(v.started_at) }),
          el("td", { dataset: { label: "站点" }, text: v.site_name || "未登记" }),
          el("td", { dataset: { label: "摄像头 · 区域" }, text: `${v.camera_name || v.camera_id} · ${v.zone_name}` }),
          el("td", { dataset: { label: "识别置信度" } }, confidence(v.plate_read_confidence)),
          el("td", { dataset: { label: "审核" } },
            el("a", { class: "review-link", href: `/ui/review?violation=${encodeURIComponent(v.violation_id)}`,
              text: "核对证据 Review" })))))));
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
    $("suggestion-list").replaceChildren(...data.suggestions.map(suggestionCard));
    $("suggestions").hidden = data.suggestions.length === 0;
    $("offenders-summary").textContent = `${fmtShort(data.since)} — ${fmtShort(data.until)}：`
      + `${data.offenders.length} 辆车确认违停 ${data.min_count} 次及以上`
      + (data.suggestions.length ? `；另有 ${data.suggestions.length} 个车牌的识别结果未经确认` : "");
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
