/* 占用台账 Ledger: every occupation of a site in a period with its status and response times; CSV and PDF of the
 * same period from the API (GET /api/sites/{id}/ledger?format=csv|pdf). Property staff only ever see their site. */
"use strict";

(() => {
  const { el, api, problems, fmtShort, fmtDuration, labels } = FL;
  const $ = (id) => document.getElementById(id);
  const STATUS = FL.data.statuses; // service/closed_loop.py STATUS_LABELS, in ledger order
  let latest = 0;

  function showError(messages) {
    $("ledger-error").textContent = messages.join("；");
    $("ledger-error").hidden = !messages.length;
  }

  /** A cell that says what it is when the table is stacked on a phone. */
  const cell = (label, value, cls) => el("td", { class: cls || null, dataset: { label }, text: value });

  function query(format) {
    const params = new URLSearchParams();
    if ($("ledger-since").value) params.set("since", $("ledger-since").value);
    if ($("ledger-until").value) params.set("until", $("ledger-until").value);
    if (format) params.set("format", format);
    const text = params.toString();
    return `/api/sites/${encodeURIComponent($("ledger-site").value)}/ledger${text ? "?" + text : ""}`;
  }

  function render(data) {
    const wanted = $("ledger-status").value;
    const rows = data.rows.filter((r) => !wanted || r.status === wanted);
    $("ledger-table").tBodies[0].replaceChildren(...rows.map((r) => el("tr", { dataset: { violation: r.violation_id, status: r.status } },
      cell("开始", fmtShort(r.started_at)),
      cell("摄像头 · 区域", `${r.camera_name || r.camera_id} · ${r.zone_name}`),
      cell("对象", labels.CLASS[r.object_class] || r.object_class),
      cell("告警", fmtShort(r.alerted_at)),
      cell("确认收到", fmtShort(r.acknowledged_at)),
      cell("车辆离开", r.ended_at ? fmtShort(r.ended_at) : "仍在占用"),
      cell("清理期限", fmtShort(r.due_at)),
      el("td", { dataset: { label: "状态" } }, el("span", { class: `badge ${r.status}`, text: STATUS[r.status] || r.status_label })),
      cell("车牌", r.plate_text || "—"),
      cell("响应", fmtDuration(r.time_to_ack_s), "num"),
      cell("清理", fmtDuration(r.time_to_clear_s), "num"),
      cell("占用", fmtDuration(r.blocked_s), "num"))));
    $("ledger-empty").hidden = rows.length > 0;
    $("ledger-table").hidden = rows.length === 0;
    const counts = Object.entries(data.counts).map(([status, n]) => `${STATUS[status] || status} ${n}`).join("，");
    $("ledger-summary").textContent = `${data.site_name}：共 ${data.rows.length} 起${counts ? "（" + counts + "）" : ""}`;
    $("ledger-limit").textContent = `清理时限 ${fmtDuration(data.clear_limit_s)}（告警发出时确定）。`
      + "Clear-by deadlines are fixed when the alert is sent.";
  }

  async function load(event) {
    if (event) event.preventDefault();
    if (!$("ledger-site").value) return;
    $("ledger-csv").href = query("csv");
    $("ledger-pdf").href = query("pdf");
    const request = ++latest;
    const result = await api("GET", query());
    if (request !== latest) return;
    if (!result.ok) {
      showError(problems(result.data));
      return;
    }
    showError([]);
    render(result.data);
  }

  async function start() {
    for (const [value, text] of Object.entries(STATUS)) $("ledger-status").append(el("option", { value, text }));
    const result = await api("GET", "/api/sites");
    if (!result.ok) {
      showError(problems(result.data));
      return;
    }
    $("ledger-site").replaceChildren(...result.data.map((s) => el("option", { value: String(s.id), text: s.name })));
    if (!result.data.length) {
      showError(["还没有站点。No sites yet."]);
      return;
    }
    const today = new Date();
    const monthAgo = new Date(today.getTime() - 30 * 86400000);
    const isoDay = (d) => new Intl.DateTimeFormat("en-CA", { timeZone: FL.data.report_timezone || FL.timezone }).format(d);
    $("ledger-since").value = isoDay(monthAgo);
    $("ledger-until").value = isoDay(today);
    load();
  }

  $("ledger-form").addEventListener("submit", load);
  $("ledger-site").addEventListener("change", load);
  $("ledger-status").addEventListener("change", load);
  start();
})();
