/* firelane web UI: helpers shared by every page. No framework, no build step.
 * Text from the server is only ever put into the page as text (textContent), never parsed as HTML. */
"use strict";

const FL = (() => {
  const dataNode = document.getElementById("page-data");
  const data = dataNode ? JSON.parse(dataNode.textContent) : {};
  const timezone = data.timezone || "Asia/Shanghai";

  const KIND = { fire_lane: "消防车通道", rescue_site: "消防救援场地", no_parking: "禁停区" };
  const REVIEW = { pending: "待审核", confirmed: "已确认", rejected: "已驳回" };
  const ALERT = { open: "待处理", acknowledged: "已确认收到", cleared: "已清理", left: "车辆已离开" };
  /** A camera worker's state (service/db/models.py CAMERA_STATUSES) as people read it. */
  const CAMERA_STATE = {
    starting: "启动中", running: "检测中", reconnecting: "正在重新连接", error: "出错",
    finished: "录像已播放完毕", stopped: "已停止", stale: "失去联系（超过 30 秒没有报告）",
  };
  /** Why a camera is not running, as the supervisor says it (service/camera/workers.py), in Chinese. */
  const CAMERA_PROBLEM = { "no zones drawn yet": "还没有画区域，画好并保存后开始检测" };
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

  /** The English messages of an error body: {detail: "..."} | {detail: {message?, problems: [...]}} |
   * {detail: [{msg, loc}]}, in the order of its detail_zh (service/api/messages.py). */
  function english(data) {
    const detail = data && data.detail;
    if (!detail) return ["未知错误 (unknown error)"];
    if (typeof detail === "string") return [detail];
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body").join(".");
        return (where ? where + ": " : "") + (d.msg || JSON.stringify(d));
      });
    }
    if (Array.isArray(detail.problems)) {
      return (typeof detail.message === "string" ? [detail.message] : []).concat(detail.problems);
    }
    return [JSON.stringify(detail)];
  }

  /** What the pages show of a refusal: each message in Chinese (detail_zh) with the English after it, for whoever
   * reports the problem; the English alone where the server sent no Chinese. */
  function problems(data) {
    const chinese = data && Array.isArray(data.detail_zh) ? data.detail_zh : [];
    return english(data).map((en, i) => (chinese[i] && chinese[i] !== en ? `${chinese[i]}（${en}）` : en));
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

  /** "8 秒", "1 分 37 秒", "57 小时 44 分": whole units, at most two (as service/humanize.py duration_zh). */
  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    let s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (h) return m ? `${h} 小时 ${m} 分` : `${h} 小时`;
    if (m) return s ? `${m} 分 ${s} 秒` : `${m} 分`;
    return `${s} 秒`;
  }

  /** A tally in minutes (hotspots, reports) said like a duration. */
  const fmtMinutes = (minutes) => (minutes === null || minutes === undefined ? "—" : fmtDuration(minutes * 60));

  const secondsBetween = (a, b) => (toDate(b) - toDate(a)) / 1000;

  function show(node, visible) { node.hidden = !visible; }

  /** The top bar: the phone menu button and the menus (统计台账, 系统管理), with the mouse and the keyboard. */
  function topbar() {
    const bar = document.getElementById("topbar");
    const toggle = document.getElementById("menu-toggle");
    if (!bar) return;
    const groups = [...bar.querySelectorAll(".nav-group")];
    const setGroup = (group, open) => {
      group.classList.toggle("open", open);
      group.querySelector(".nav-group-button").setAttribute("aria-expanded", String(open));
    };
    const closeGroups = (except) => groups.forEach((g) => { if (g !== except) setGroup(g, false); });
    for (const group of groups) {
      const button = group.querySelector(".nav-group-button");
      button.addEventListener("click", () => {
        const open = !group.classList.contains("open");
        closeGroups(group);
        setGroup(group, open);
        if (open && button.matches(":focus-visible")) group.querySelector(".nav-menu a").focus();
      });
      group.addEventListener("focusout", (event) => { if (!group.contains(event.relatedTarget)) setGroup(group, false); });
      group.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && group.classList.contains("open")) {
          setGroup(group, false);
          button.focus();
        }
      });
    }
    document.addEventListener("click", (event) => { if (!event.target.closest(".nav-group")) closeGroups(null); });
    if (toggle) {
      const setMenu = (open) => {
        bar.classList.toggle("menu-open", open);
        toggle.setAttribute("aria-expanded", String(open));
      };
      toggle.addEventListener("click", () => setMenu(!bar.classList.contains("menu-open")));
      bar.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && bar.classList.contains("menu-open") && !event.target.closest(".nav-group.open")) {
          setMenu(false);
          toggle.focus();
        }
      });
    }
  }
  topbar();

  return {
    data, timezone, el, api, english, problems, fmtTime, fmtClock, fmtShort, fmtDuration, fmtMinutes, secondsBetween, show,
    loginRedirect, labels: { KIND, REVIEW, ALERT, CLASS, CAMERA_STATE, CAMERA_PROBLEM },
  };
})();
