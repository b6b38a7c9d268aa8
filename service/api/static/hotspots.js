/* 热点分析 Hotspots: ranking of sites, zones and cameras, heat maps per camera, blocked minutes per day. */
"use strict";

(() => {
  const { el, api, problems, fmtShort, fmtMinutes } = FL;
  const $ = (id) => document.getElementById(id);
  const daysSelect = $("hotspot-days");
  const errorBox = $("hotspots-error");

  function showError(messages) {
    errorBox.textContent = messages.join("；");
    errorBox.hidden = !messages.length;
  }

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function numCell(value, hot) {
    return el("td", { class: "num" + (hot ? " hot" : ""), text: value });
  }

  function render(data) {
    $("hotspots-period").textContent = `${fmtShort(data.since)} — ${fmtShort(data.until)}`;
    const t = data.total;
    $("hotspot-totals").replaceChildren(
      ...[["违停次数", `${t.violations} 起`], ["占用总时长", fmtMinutes(t.blocked_minutes)],
        ["清理后复发", `${t.rebounds} 起`], ["超时移交交警", `${t.escalations} 起`]].map(([label, value]) =>
        el("div", { class: "cl-fact" }, label, el("b", { text: value }))),
    );
    fill($("site-ranking").tBodies[0], data.sites.map((s) => el("tr", { dataset: { site: s.site_code || "" } },
      numCell(s.rank), el("td", { text: s.site_name || "未登记摄像头" }),
      numCell(s.violations, s.rank === 1 && s.violations > 0), numCell(fmtMinutes(s.blocked_minutes)),
      numCell(s.rebounds), numCell(s.escalations))));
    fill($("zone-ranking").tBodies[0], data.zones.map((z) => el("tr", { dataset: { zone: z.zone_id } },
      numCell(z.rank), el("td", { text: z.zone_name }), el("td", { text: z.camera_name || z.camera_id }),
      numCell(z.violations, z.rank === 1), numCell(fmtMinutes(z.blocked_minutes)), numCell(z.rebounds))));
    fill($("camera-ranking").tBodies[0], data.cameras.map((c) => el("tr", { dataset: { camera: c.camera_id } },
      numCell(c.rank), el("td", { text: c.camera_name || c.camera_id }), el("td", { text: c.site_name || "未登记" }),
      numCell(c.violations, c.rank === 1), numCell(fmtMinutes(c.blocked_minutes)), numCell(c.rebounds))));
    $("heatmaps").replaceChildren(...data.cameras.map((c) => el("figure", { class: "heatmap", dataset: { camera: c.camera_id } },
      el("img", { src: c.heatmap_url, alt: `热力图 ${c.camera_name || c.camera_id}`, loading: "lazy" }),
      el("figcaption", { text: `${c.rank}. ${c.camera_name || c.camera_id} · ${c.violations} 起 · 占用 ${fmtMinutes(c.blocked_minutes)}` }))));
    $("heatmaps-empty").hidden = data.cameras.length > 0;
    $("blocked-chart").src = data.chart_url;
  }

  let latest = 0;

  async function load() {
    const request = ++latest;
    const days = daysSelect.value;
    const result = await api("GET", `/api/hotspots?days=${encodeURIComponent(days)}`);
    if (request !== latest) return; // a newer choice is on its way: never show an older answer over it
    if (!result.ok) {
      showError(problems(result.data));
      return;
    }
    showError([]);
    render(result.data);
    $("hotspots-period").dataset.days = days;
  }

  daysSelect.addEventListener("change", load);
  $("refresh-hotspots").addEventListener("click", load);
  load();
})();
