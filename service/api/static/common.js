/* firelane web UI: helpers shared by every page. No framework, no build step.
 * Text from the server is only ever put into the page as text (textContent), never parsed as HTML. */
"use strict";

const FL = (() => {
  const dataNode = document.getElementById("page-data");
  const data = dataNode ? JSON.parse(dataNode.textContent) : {};
  const timezone = data.timezone || "Asia/Shanghai";

  const KIND = { fire_lane: "消防车通道", rescue_site: "消防救援场地", no_parking: "禁停区" };
  const REVIEW = { pending: "待审核", confirmed: "已确认", rejected: "已驳回" };
  const ALERT = { open: "待处理", acknowledged: "已确认收到", cleared: "已清理" };
  const CLASS = {
    car: "小汽车", truck: "货车", bus: "客车", motorcycle: "摩托车", bicycle: "自行车",
    vehicle: "车辆", obstacle: "障碍物", obstruction: "不明占用物",
  };

  /** Build an element: el("p", {class: "x", dataset: {id: 1}}, "text", child). */
  function el(tag, attrs, ...children) {
    const svg = ["svg", "g", "rect", "line", "text", "polygon", "polyline", "circle", "title", "path"].includes(tag);
    const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (!svg && key in node && key !== "class" && key !== "for") node[key] = value;
      else node.setAttribute(key === "className" ? "class" : key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function loginRedirect() {
    const next = location.pathname + location.search;
    location.assign("/login?next=" + encodeURIComponent(next));
  }

  /** Call the JSON API with the session cookie. Resolves to {ok, status, data}; 401 goes to the login page. */
  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      return { ok: false, status: 0, data: { detail: "网络错误，无法连接服务器 (network error)" } };
    }
    if (response.status === 401) {
      loginRedirect();
      return { ok: false, status: 401, data: { detail: "登录已过期 (not logged in)" } };
    }
    let payload = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("application/json")) {
      try { payload = await response.json(); } catch (error) { payload = null; }
    }
    return { ok: response.ok, status: response.status, data: payload };
  }

  /** The messages of an error body: {detail: "..."} | {detail: {problems: [...]}} | {detail: [{msg, loc}]}. */
  function problems(data) {
    const detail = data && data.detail;
    if (!detail) return ["未知错误 (unknown error)"];
    if (typeof detail === "string") return [detail];
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body").join(".");
        return (where ? where + ": " : "") + (d.msg || JSON.stringify(d));
      });
    }
    if (Array.isArray(detail.problems)) return detail.problems;
    return [JSON.stringify(detail)];
  }

  const dateTime = new Intl.DateTimeFormat("zh-CN", {
    timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const clock = new Intl.DateTimeFormat("zh-CN", {
    timeZone: timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const shortDate = new Intl.DateTimeFormat("zh-CN", {
    timeZone: timezone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
  });

  const toDate = (value) => (value instanceof Date ? value : new Date(value));
  const fmtTime = (value) => (value ? dateTime.format(toDate(value)) : "—");
  const fmtClock = (value) => (value ? clock.format(toDate(value)) : "—");
  const fmtShort = (value) => (value ? shortDate.format(toDate(value)) : "—");

  /** 3小时5分 / 4分12秒 / 8秒 */
  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    let s = Math.max(0, Math.round(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d}天${h}小时`;
    if (h) return `${h}小时${m}分`;
    if (m) return `${m}分${s}秒`;
    return `${s}秒`;
  }

  const secondsBetween = (a, b) => (toDate(b) - toDate(a)) / 1000;

  function show(node, visible) { node.hidden = !visible; }

  return {
    data, timezone, el, api, problems, fmtTime, fmtClock, fmtShort, fmtDuration, secondsBetween, show,
    loginRedirect, labels: { KIND, REVIEW, ALERT, CLASS },
  };
})();
