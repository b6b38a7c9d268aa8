/* Dashboard: violation counts per site and camera; per zone, an SVG timeline of occupancy (grace, then violation). */
"use strict";

(() => {
  const { el, api, labels, fmtTime, fmtClock, fmtDuration } = FL;
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 60000;

  function countCells(counts) {
    return [
      el("td", { class: counts.open ? "num open hot" : "num open", text: counts.open }),
      el("td", { class: "num pending", text: counts.pending }),
      el("td", { class: "num total", text: counts.total }),
    ];
  }

  function siteLabel(site) {
    return site.site_id === null ? "未登记摄像头 (unregistered)" : site.site_name;
  }

  async function loadCounts() {
    const response = await api("GET", "/api/stats/counts");
    if (!response.ok) {
      $("dashboard-error").textContent = FL.problems(response.data).join("；");
      FL.show($("dashboard-error"), true);
      return;
    }
    FL.show($("dashboard-error"), false);
    const sites = response.data;
    const siteRows = sites.map((site) => el("tr", { dataset: { site: site.site_code || "unregistered" } },
      el("th", { scope: "row", text: siteLabel(site) }), ...countCells(site.counts)));
    if (!siteRows.length) siteRows.push(el("tr", {}, el("td", { colSpan: 4, class: "muted", text: "还没有站点。No sites yet." })));
    $("site-table").tBodies[0].replaceChildren(...siteRows);
    const cameraRows = sites.flatMap((site) => site.cameras.map((camera) =>
      el("tr", { dataset: { camera: camera.camera_id } },
        el("th", { scope: "row" }, camera.camera_name || camera.camera_id, " ", el("code", { text: camera.camera_id })),
        el("td", { text: site.site_id === null ? "—" : site.site_name }),
        ...countCells(camera.counts))));
    if (!cameraRows.length) cameraRows.push(el("tr", {}, el("td", { colSpan: 5, class: "muted", text: "还没有摄像头。No cameras yet." })));
    $("camera-table").tBodies[0].replaceChildren(...cameraRows);
  }

  // --- timeline ---

  const MINUTE = 60000;
  const HOUR = 60 * MINUTE;
  const STEPS = [10 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 168 * HOUR];

  /** Offset of the display time zone from UTC at ``ms`` (ticks fall on whole local hours). */
  function zoneOffset(ms) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: FL.timezone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms));
    const get = (type) => Number(parts.find((p) => p.type === type).value);
    const local = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
    return local - Math.floor(ms / 1000) * 1000;
  }

  /** HH:mm, the date at midnight (with the time where there is room for it), the date alone for steps of days. */
  function tickLabel(ms, step, narrow) {
    const [day, time] = FL.fmtShort(ms).split(" "); // MM/DD HH:mm
    if (step >= 24 * HOUR || (narrow && time === "00:00")) return day;
    return time === "00:00" ? `${day} ${time}` : time;
  }

  /* Drawn at the width of its card in real pixels, so its text is the page's size at every width: on a wide screen
     the lane names sit left of the bars (a quarter of the width, at most 250 px); below NARROW px (a phone) each
     name sits on its own line above its bar, with fewer ticks. Drawn again whenever the card changes width. */
  const NARROW = 760;
  let drawn = { data: null, width: 0 };

  /** Geometry in viewBox units: W wide; bars from LABEL to W - RIGHT; a lane's name at NAME_X, NAME_Y in its ROW,
   * at most NAME_ROOM long; its bars BAR high from BAR_Y; a tick every TICK_PX at most. */
  function layout(width) {
    const W = Math.max(120, Math.floor(width));
    if (width >= NARROW) {
      const LABEL = Math.min(250, Math.round(W / 4));
      return { narrow: false, W, LABEL, RIGHT: 12, TOP: 28, ROW: 34, BAR: 18, NAME_X: 8, NAME_Y: 22,
        NAME_ROOM: LABEL - 16, BAR_Y: 8, TICK_PX: 100 };
    }
    return { narrow: true, W, LABEL: 6, RIGHT: 10, TOP: 24, ROW: 46, BAR: 16, NAME_X: 6, NAME_Y: 15,
      NAME_ROOM: W - 12, BAR_Y: 22, TICK_PX: 64 };
  }

  /** Shorten the lane names that would run into the bars (wide) or out of the card (narrow), "…" at the end. */
  function fitNames(svg, room) {
    for (const name of svg.querySelectorAll(".lane-label")) {
      const full = name.textContent;
      let keep = full.length;
      while (keep > 1 && name.getComputedTextLength() > room) {
        keep -= 1;
        name.textContent = full.slice(0, keep) + "…";
      }
    }
  }

  function drawTimeline(data) {
    const chart = $("timeline-chart");
    drawn = { data, width: chart.clientWidth };
    const since = Date.parse(data.since);
    const until = Date.parse(data.until);
    const now = Date.parse(data.now);
    const hours = $("timeline-hours").selectedOptions[0].textContent;
    $("timeline-note").textContent = data.fitted
      ? `过去 ${hours}内没有违停；显示最近记录的时间范围 ${fmtTime(since)} – ${fmtTime(until)}。Nothing in the window: showing the latest records.`
      : `${fmtTime(since)} – ${fmtTime(until)}（北京时间）`;
    if (!data.lanes.length) {
      chart.replaceChildren(el("p", { class: "empty", text: "这段时间没有违停记录。No violations in this range." }));
      return;
    }
    const { narrow, W, LABEL, RIGHT, TOP, ROW, BAR, NAME_X, NAME_Y, NAME_ROOM, BAR_Y, TICK_PX } = layout(drawn.width);
    const H = TOP + data.lanes.length * ROW + 8;
    const span = Math.max(until - since, MINUTE);
    const x = (ms) => LABEL + ((Math.min(until, Math.max(since, ms)) - since) / span) * (W - LABEL - RIGHT);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: narrow ? "timeline-svg narrow" : "timeline-svg",
      role: "img", "aria-label": "区域占用时间线 (zone occupancy timeline)" });

    const ticks = Math.max(2, Math.min(10, Math.floor((W - LABEL - RIGHT) / TICK_PX)));
    const step = STEPS.find((s) => span / s <= ticks) || STEPS[STEPS.length - 1];
    const offset = zoneOffset(since);
    const axis = el("g", { class: "axis" });
    for (let t = Math.ceil((since + offset) / step) * step - offset; t <= until; t += step) {
      const anchor = x(t) < LABEL + 20 ? "start" : x(t) > W - RIGHT - 20 ? "end" : "middle"; // labels stay inside
      axis.append(el("line", { x1: x(t), x2: x(t), y1: TOP - 6, y2: H - 8 }));
      axis.append(el("text", { x: x(t), y: TOP - 10, "text-anchor": anchor, text: tickLabel(t, step, narrow) }));
    }
    svg.append(axis);

    data.lanes.forEach((lane, i) => {
      const y = TOP + i * ROW;
      const row = el("g", { class: "lane", dataset: { camera: lane.camera_id, zone: lane.zone_id } });
      row.append(el("rect", { class: i % 2 ? "stripe odd" : "stripe", x: 0, y, width: W, height: ROW }));
      row.append(el("g", { class: "lane-head" },
        el("title", { text: `${lane.site_name || "未登记"} / ${lane.camera_id} / ${lane.zone_id} (${labels.KIND[lane.zone_kind] || lane.zone_kind})` }),
        el("text", { class: "lane-label", x: NAME_X, y: y + NAME_Y,
          text: `${lane.camera_name || lane.camera_id} · ${lane.zone_name}` })));
      for (const s of lane.spans) {
        const start = Date.parse(s.started_at);
        const violation = Date.parse(s.violation_at);
        const end = s.ended_at ? Date.parse(s.ended_at) : Math.min(now, until);
        const by = y + BAR_Y;
        const tip = `${labels.CLASS[s.object_class] || s.object_class} · 开始 ${fmtTime(start)} · 违停 ${fmtTime(violation)} · `
          + (s.ended_at ? `结束 ${fmtTime(end)}（共 ${fmtDuration((end - start) / 1000)}）` : "仍在占用 (ongoing)")
          + ` · ${labels.REVIEW[s.review_status] || s.review_status}`;
        const g = el("g", { class: "span", dataset: { violation: s.violation_id } }, el("title", { text: tip }));
        const graceEnd = Math.min(violation, end);
        if (graceEnd > since && start < until) {
          g.append(el("rect", { class: "grace", x: x(start), y: by, width: Math.max(1.5, x(graceEnd) - x(start)), height: BAR }));
        }
        if (end > violation && end > since && violation < until) {
          g.append(el("rect", { class: s.ended_at ? "violation" : "violation ongoing", x: x(violation), y: by,
            width: Math.max(1.5, x(end) - x(violation)), height: BAR }));
        }
        row.append(g);
      }
      svg.append(row);
    });
    if (now >= since && now <= until) {
      svg.append(el("line", { class: "now", x1: x(now), x2: x(now), y1: TOP - 4, y2: H - 4 }));
    }
    chart.replaceChildren(svg);
    fitNames(svg, NAME_ROOM);
  }

  // any change of the card's width (the window, a scroll bar appearing): drawn again at the new width
  new ResizeObserver(() => {
    if (drawn.data && $("timeline-chart").clientWidth !== drawn.width) drawTimeline(drawn.data);
  }).observe($("timeline-chart"));

  async function loadTimeline() {
    const hours = $("timeline-hours").value;
    const response = await api("GET", `/api/stats/timeline?hours=${encodeURIComponent(hours)}`);
    if (!response.ok) {
      $("timeline-chart").replaceChildren(el("p", { class: "error", text: FL.problems(response.data).join("；") }));
      return;
    }
    drawTimeline(response.data);
  }

  async function refresh() {
    await Promise.all([loadCounts(), loadTimeline()]);
    $("dashboard-updated").textContent = `更新于 ${fmtClock(new Date())}`;
  }

  $("refresh-dashboard").addEventListener("click", refresh);
  $("timeline-hours").addEventListener("change", loadTimeline);
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  refresh();
})();
