/* Property alerts: the site's open alerts with the still to find the vehicle; acknowledge, then report cleared. */
"use strict";

(() => {
  const { el, api, labels, fmtTime, fmtClock, fmtDuration, secondsBetween } = FL;
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 30000;
  const showSite = FL.data.user.role === "operator"; // property staff only ever see their own site
  let alerts = [];
  const handledHere = new Map(); // alert id → the alert as last changed on this page (kept across refreshes)

  function fact(term, value) {
    return [el("dt", { text: term }), el("dd", { text: value })];
  }

  /** The state to show: an open alert whose vehicle the camera saw leave, with nobody having acted, is "left"
   * already (the server's job closes it so within a minute). */
  const shownStatus = (a) => (a.status === "open" && a.ended_at && !a.claimed_cleared_at ? "left" : a.status);

  function deadline(a) {
    if (a.status === "cleared" || shownStatus(a) === "left") return null;
    if (a.ended_at) return `${fmtTime(a.due_at)}（车辆已于 ${fmtClock(a.ended_at)} 离开，请点“已清理”确认）`;
    const left = secondsBetween(new Date(), a.due_at);
    return left > 0 ? `${fmtTime(a.due_at)}（剩余 ${fmtDuration(left)}）` : `${fmtTime(a.due_at)}（已超时 overdue）`;
  }

  function badges(a) {
    const status = shownStatus(a);
    const list = [el("span", { class: `badge alert-status ${status}`, text: labels.ALERT[status] || status })];
    if (status !== "cleared" && status !== "left" && a.claimed_cleared_at) {
      list.push(el("span", { class: "badge claim", text: "已报清理 · 待摄像头确认" }));
    }
    if (a.escalated_at) list.push(el("span", { class: "badge escalated", text: "已移交交警" }));
    return el("div", { class: "badges" }, ...list);
  }

  function card(a) {
    const ongoing = !a.ended_at;
    const duration = ongoing ? secondsBetween(a.started_at, new Date()) : a.duration_s;
    const claimed = Boolean(a.claimed_cleared_at);
    const status = shownStatus(a);
    const closed = status === "cleared" || status === "left";
    const thumb = a.still_url
      ? el("a", { class: "thumb", href: a.still_url, target: "_blank", rel: "noopener" },
        el("img", { src: a.still_url, alt: "超时时的画面 (still at the grace time)", loading: "lazy" }))
      : el("div", { class: "thumb none", text: "无画面 (no still)" });
    return el("article", { class: `alert-card status-${status}`, dataset: { id: a.id, status } },
      thumb,
      el("div", { class: "alert-body" },
        el("div", { class: "alert-head" },
          el("h2", { text: `${a.camera_name || a.camera_id} · ${a.zone_name}` }),
          badges(a)),
        el("dl", { class: "facts" },
          showSite ? fact("站点 Site", a.site_name) : null,
          fact("区域类型 Kind", labels.KIND[a.zone_kind] || a.zone_kind),
          fact("对象 Object", labels.CLASS[a.object_class] || a.object_class),
          fact("开始占用 Since", fmtTime(a.started_at)),
          fact("超时时刻 Violation", fmtTime(a.violation_at)),
          fact("持续 Duration", ongoing ? `${fmtDuration(duration)}（仍在占用 ongoing）` : fmtDuration(duration)),
          deadline(a) ? fact("清理期限 Clear by", deadline(a)) : null,
          a.acknowledged_at ? fact("确认收到 Acknowledged", fmtTime(a.acknowledged_at)) : null,
          claimed && a.status !== "cleared" ? fact("报告清理 Reported", fmtTime(a.claimed_cleared_at)) : null,
          a.escalated_at ? fact("移交交警 Escalated", fmtTime(a.escalated_at)) : null,
          a.ended_at && status !== "cleared" ? fact("车辆离开 Left", fmtTime(a.ended_at)) : null,
          a.cleared_at && status === "cleared" ? fact("已清理 Cleared", fmtTime(a.cleared_at)) : null),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "ack", disabled: status !== "open", onclick: () => act(a, "ack") },
            "确认收到 ", el("small", { text: "Acknowledge" })),
          el("button", {
            type: "button", class: "clear primary", disabled: closed || claimed,
            title: claimed && !closed ? "已报告，等待摄像头确认车辆离开" : "",
            onclick: () => act(a, "cleared"),
          },
            "已清理 ", el("small", { text: "Lane cleared" }))),
        el("p", { class: a.messageKind ? `card-message ${a.messageKind}` : "card-message", role: "status", text: a.message || "" })));
  }

  function render() {
    $("alert-list").replaceChildren(...alerts.map(card));
    $("alerts-empty").replaceChildren($("alert-filter").value === "all"
      ? "没有告警。" : "当前没有未处理的告警。", el("small", { text: $("alert-filter").value === "all" ? "No alerts." : "No open alerts." }));
    FL.show($("alerts-empty"), alerts.length === 0);
  }

  async function load() {
    const all = $("alert-filter").value === "all";
    const query = all ? "?status=open&status=acknowledged&status=cleared&status=left" : "";
    const response = await api("GET", `/api/board/alerts${query}`);
    if (!response.ok) {
      $("alerts-error").textContent = FL.problems(response.data).join("；");
      FL.show($("alerts-error"), true);
      return;
    }
    FL.show($("alerts-error"), false);
    const fresh = response.data;
    const ids = new Set(fresh.map((a) => a.id));
    // alerts handled here that left the list (cleared) stay on it, as they are now
    const gone = [...handledHere.keys()].filter((id) => !ids.has(id));
    if (gone.length) {
      const more = await api("GET", `/api/board/alerts?${gone.map((id) => `id=${id}`).join("&")}`);
      if (more.ok) fresh.push(...more.data);
    }
    fresh.sort((a, b) => b.id - a.id);
    alerts = fresh.map((a) => (handledHere.has(a.id) ? withMessage(a, handledHere.get(a.id)) : a));
    for (const a of alerts) if (handledHere.has(a.id)) handledHere.set(a.id, a);
    render();
    $("alerts-updated").textContent = `更新于 ${fmtClock(new Date())}`;
  }

  /** Keep the message of the last action here, unless the server moved the alert on since. */
  function withMessage(fresh, before) {
    if (fresh.status === before.status) return { ...fresh, message: before.message, messageKind: before.messageKind };
    if (fresh.status === "left") {
      return { ...fresh, message: "车辆已离开，告警关闭。The vehicle left; the alert is closed.", messageKind: "ok" };
    }
    if (fresh.status === "cleared" && before.claimed_cleared_at) {
      return { ...fresh, message: "摄像头已确认通道畅通，告警关闭。The camera confirmed the lane is clear.", messageKind: "ok" };
    }
    return fresh;
  }

  async function act(alert, action) {
    const response = await api("POST", `/api/alerts/${alert.id}/${action}`);
    if (response.ok) {
      Object.assign(alert, response.data);
      if (action === "ack") alert.message = "已确认收到，请尽快通知车主挪车。Acknowledged.";
      else if (alert.status === "cleared") alert.message = "已清理：摄像头已确认通道畅通。Cleared.";
      else {
        alert.message = "已报告清理；摄像头确认车辆离开后自动关闭。Reported; closes when the camera sees the lane clear.";
        alert.claim_unconfirmed = !alert.ended_at;
      }
      alert.messageKind = "ok";
    } else {
      alert.message = FL.problems(response.data).join("；");
      alert.messageKind = "bad";
      if (response.status === 409) {
        // someone else changed it first: show its real state
        const fresh = await api("GET", `/api/alerts/${alert.id}`);
        if (fresh.ok) Object.assign(alert, fresh.data);
      }
    }
    handledHere.set(alert.id, alert);
    render();
  }

  $("alert-filter").addEventListener("change", load);
  $("refresh-alerts").addEventListener("click", load);
  setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
  load();
})();
