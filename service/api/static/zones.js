/* Zone editor: draw each zone's polygon on the camera's latest snapshot, in the snapshot's pixels.
 * The SVG over the image has viewBox = the image's natural size, so its coordinates are frame pixels. */
"use strict";

(() => {
  const { el, api, problems: problemsOf, labels } = FL;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const CATEGORIES = ["vehicle", "obstacle", "obstruction"];
  const FIELDS = ["camera_id", "frame_size", "units", "zones"];
  const LIVE_EVERY_MS = 2000;
  const SNAPSHOT_EVERY_MS = 10000;

  const cameraSelect = $("camera-select");
  const stage = $("stage");
  const img = $("snapshot");
  const svg = $("overlay");
  const form = $("zone-form");
  const saveStatus = $("save-status");

  const state = {
    cameras: [],
    sites: {},
    camera: null,
    frame: [1280, 720],
    extra: {}, // fields of the loaded document the editor does not change (camera_name, timezone, imgsz)
    version: null,
    zones: [], // {id, name, kind, polygon: [[x, y]], grace_s, leave_s, min_overlap, active, classes, closed}
    selected: -1,
    live: null,
    problems: [],
    dirty: false,
    generation: 0,
    snapshotAt: 0,
  };
  let drag = null;
  let suppressClick = false;
  let liveTimer = null;

  const selectedZone = () => state.zones[state.selected] || null;

  // --- loading ---

  async function init() {
    const [cams, sites] = await Promise.all([api("GET", "/api/cameras"), api("GET", "/api/sites")]);
    if (!cams.ok) {
      showProblems(problemsOf(cams.data));
      return;
    }
    for (const site of sites.ok ? sites.data : []) state.sites[site.id] = site;
    state.cameras = cams.data;
    if (!state.cameras.length) {
      cameraSelect.replaceChildren(el("option", { value: "", text: "还没有摄像头 (no cameras)" }));
      cameraSelect.disabled = true;
      return;
    }
    cameraSelect.replaceChildren(...state.cameras.map((c) => {
      const site = state.sites[c.site_id];
      return el("option", { value: c.id, text: `${c.name} (${c.id})${site ? " · " + site.name : ""}` });
    }));
    const wanted = new URLSearchParams(location.search).get("camera");
    const first = state.cameras.find((c) => c.id === wanted) || state.cameras[0];
    cameraSelect.value = first.id;
    await loadCamera(first.id);
  }

  function scaleFromDocument(doc, frame) {
    if (doc.units === "relative") return [frame[0], frame[1]];
    const [fw, fh] = Array.isArray(doc.frame_size) ? doc.frame_size : frame;
    return [frame[0] / (fw || frame[0]), frame[1] / (fh || frame[1])];
  }

  function zoneFromDocument(z, scale) {
    const classes = Array.isArray(z.classes) ? z.classes : [...CATEGORIES];
    return {
      id: z.id ?? "",
      name: z.name ?? "",
      kind: z.kind ?? "fire_lane",
      polygon: (z.polygon || []).map(([x, y]) => [x * scale[0], y * scale[1]]),
      grace_s: z.grace_s ?? 180,
      leave_s: z.leave_s ?? 30,
      min_overlap: z.min_overlap ?? 0.3,
      active: z.active ?? "00:00-24:00",
      classes,
      closed: true,
    };
  }

  function newZone() {
    const taken = new Set(state.zones.map((z) => z.id));
    let n = state.zones.length + 1;
    while (taken.has(`zone-${n}`)) n += 1;
    return {
      id: `zone-${n}`, name: "", kind: "fire_lane", polygon: [], grace_s: 180, leave_s: 30, min_overlap: 0.3,
      active: "00:00-24:00", classes: [...CATEGORIES], closed: false,
    };
  }

  function loadSnapshot(cameraId) {
    return new Promise((resolve) => {
      img.onload = () => {
        img.hidden = false;
        state.snapshotAt = Date.now();
        FL.show($("snapshot-notice"), false);
        resolve([img.naturalWidth, img.naturalHeight]);
      };
      img.onerror = () => {
        img.hidden = true;
        const notice = $("snapshot-notice");
        notice.textContent = "该摄像头还没有画面快照（摄像头运行后每 10 秒保存一次），可先按画面尺寸绘制。"
          + " No snapshot yet: the running camera saves one every 10 s.";
        FL.show(notice, true);
        resolve(null);
      };
      img.src = `/api/cameras/${enc(cameraId)}/snapshot?t=${Date.now()}`;
    });
  }

  function setFrame([w, h]) {
    state.frame = [w, h];
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    stage.style.aspectRatio = `${w} / ${h}`;
    $("frame-size").textContent = `画面尺寸 ${w}×${h} px`;
  }

  async function loadCamera(cameraId) {
    const generation = ++state.generation;
    stopLive();
    state.camera = state.cameras.find((c) => c.id === cameraId);
    history.replaceState(null, "", `?camera=${enc(cameraId)}`);
    saveStatus.textContent = "加载中… Loading…";
    const [current, size] = await Promise.all([api("GET", `/api/cameras/${enc(cameraId)}/zones`), loadSnapshot(cameraId)]);
    if (generation !== state.generation) return;
    let doc = null;
    state.version = null;
    if (current.ok) {
      doc = current.data.document;
      state.version = current.data.version;
    } else if (current.status !== 404) {
      showProblems(problemsOf(current.data));
    }
    const cam = state.camera;
    const frame = size
      || (doc && Array.isArray(doc.frame_size) && doc.units !== "relative" ? doc.frame_size : null)
      || (cam.frame_width && cam.frame_height ? [cam.frame_width, cam.frame_height] : [1280, 720]);
    setFrame(frame);
    state.extra = {};
    if (doc) {
      for (const [key, value] of Object.entries(doc)) if (!FIELDS.includes(key)) state.extra[key] = value;
      const scale = scaleFromDocument(doc, frame);
      state.zones = (doc.zones || []).map((z) => zoneFromDocument(z, scale));
    } else {
      state.extra = { camera_name: cam.name };
      state.zones = [];
    }
    if (!state.zones.length) state.zones.push(newZone()); // ready to draw at once
    state.selected = 0;
    state.dirty = false;
    state.live = null;
    clearProblems();
    saveStatus.textContent = state.version
      ? `当前版本 v${state.version}（Current version ${state.version}）`
      : "该摄像头尚未保存过区域。No zones saved yet.";
    showVersion();
    render();
    startLive(generation);
  }

  function showVersion() {
    $("zones-version").textContent = state.version ? `版本 v${state.version}` : "未保存";
  }

  // --- drawing ---

  /** Image pixels per screen pixel: keeps handles and labels the same size on screen at any zoom. */
  function pixelScale() {
    const width = svg.getBoundingClientRect().width;
    return width ? state.frame[0] / width : 1;
  }

  function toImage(event) {
    const r = svg.getBoundingClientRect();
    const x = ((event.clientX - r.left) * state.frame[0]) / r.width;
    const y = ((event.clientY - r.top) * state.frame[1]) / r.height;
    const clamp = (v, max) => Math.min(max, Math.max(0, Math.round(v)));
    return [clamp(x, state.frame[0]), clamp(y, state.frame[1])];
  }

  function liveZone(id) {
    return state.live && state.live.running ? (state.live.zones || []).find((z) => z.id === id) : null;
  }

  function zoneHasProblem(zone, index) {
    return state.problems.some((p) => p.includes(`zone '${zone.id}'`) || p.includes(`zone #${index + 1}`));
  }

  function zoneShape(zone, index, k) {
    const selected = index === state.selected;
    const live = liveZone(zone.id);
    const classes = ["zone", `kind-${zone.kind}`];
    if (selected) classes.push("selected");
    if (live && live.occupied) classes.push("occupied");
    if (zoneHasProblem(zone, index)) classes.push("problem");
    const g = el("g", { class: classes.join(" "), dataset: { index } });
    const points = zone.polygon.map((p) => p.join(",")).join(" ");
    if (zone.polygon.length >= 2) {
      g.append(el(zone.closed ? "polygon" : "polyline", { class: "shape", points }));
    }
    if (zone.polygon.length) {
      const [x, y] = zone.polygon[0];
      g.append(el("text", {
        class: "zone-label", x: x + 10 * k, y: Math.max(18 * k, y - 10 * k), "font-size": 16 * k,
        text: `${zone.name || zone.id}${live && live.occupied ? " · 占用" : ""}`,
      }));
    }
    if (selected) {
      zone.polygon.forEach(([x, y], j) => {
        const first = j === 0 && !zone.closed && zone.polygon.length >= 3;
        g.append(el("circle", {
          class: first ? "vertex first" : "vertex", cx: x, cy: y, r: (first ? 9 : 7) * k, dataset: { vertex: j },
        }, el("title", { text: first ? "点击闭合 (click to close)" : `顶点 ${j + 1}：拖动移动 (drag)` })));
      });
    }
    return g;
  }

  function liveLayer(k) {
    const g = el("g", { class: "live" });
    if (!state.live || !state.live.running) return g;
    for (const obj of state.live.objects || []) {
      const [x1, y1, x2, y2] = obj.box;
      const inZone = (obj.zones || []).length > 0;
      g.append(el("rect", {
        class: inZone ? "live-box in-zone" : "live-box", x: x1, y: y1, width: x2 - x1, height: y2 - y1,
      }));
      const label = `${labels.CLASS[obj.class] || obj.class} ${Math.round(obj.score * 100)}%`
        + (inZone ? ` → ${obj.zones.join(", ")}` : "");
      g.append(el("text", { class: "live-label", x: x1 + 3 * k, y: Math.max(14 * k, y1 - 5 * k), "font-size": 14 * k, text: label }));
    }
    return g;
  }

  function renderOverlay() {
    const k = pixelScale();
    const shapes = state.zones.map((z, i) => (i === state.selected ? null : zoneShape(z, i, k))).filter(Boolean);
    if (selectedZone()) shapes.push(zoneShape(selectedZone(), state.selected, k)); // on top, handles grabbable
    svg.replaceChildren(...shapes, liveLayer(k));
  }

  function renderZoneList() {
    const list = $("zone-list");
    list.replaceChildren(...state.zones.map((zone, index) => {
      const live = liveZone(zone.id);
      const badges = [];
      if (!zone.closed) badges.push(el("span", { class: "badge drawing", text: "绘制中" }));
      if (live && live.occupied) badges.push(el("span", { class: "badge occupied", text: "占用中" }));
      if (zoneHasProblem(zone, index)) badges.push(el("span", { class: "badge problem", text: "有错误" }));
      return el("li", {},
        el("button", {
          type: "button", class: index === state.selected ? "zone-item selected" : "zone-item",
          dataset: { index }, onclick: () => select(index),
        },
        el("span", { class: `swatch kind-${zone.kind}` }),
        el("span", { class: "zone-title", text: zone.name || "（未命名）" }),
        el("code", { text: zone.id || "?" }),
        el("span", { class: "muted", text: `${labels.KIND[zone.kind] || zone.kind} · ${zone.polygon.length} 点` }),
        ...badges));
    }));
  }

  function renderForm() {
    const zone = selectedZone();
    FL.show(form, Boolean(zone));
    FL.show($("no-zone-selected"), !zone);
    if (!zone) return;
    $("zone-id").value = zone.id;
    $("zone-name").value = zone.name;
    $("zone-kind").value = zone.kind;
    $("zone-grace").value = zone.grace_s;
    $("zone-leave").value = zone.leave_s;
    $("zone-overlap").value = zone.min_overlap;
    $("zone-active").value = zone.active;
    for (const category of CATEGORIES) $(`class-${category}`).checked = zone.classes.includes(category);
    const others = zone.classes.filter((c) => !CATEGORIES.includes(c));
    $("other-classes").textContent = others.length ? `另含类别 (also): ${others.join(", ")}` : "";
  }

  function render() {
    renderOverlay();
    renderZoneList();
    renderForm();
  }

  function select(index) {
    state.selected = index;
    render();
  }

  function markDirty() {
    state.dirty = true;
  }

  function hint(text) {
    saveStatus.textContent = text;
  }

  // --- editing ---

  svg.addEventListener("pointerdown", (event) => {
    suppressClick = false; // a drag whose vertex was redrawn under the pointer gets no click to swallow
    const vertex = event.target.closest("circle.vertex");
    if (!vertex || event.button !== 0) return;
    event.preventDefault();
    drag = { index: Number(vertex.dataset.vertex), moved: false };
    svg.setPointerCapture(event.pointerId);
  });

  svg.addEventListener("pointermove", (event) => {
    const zone = selectedZone();
    if (!drag || !zone) return;
    zone.polygon[drag.index] = toImage(event);
    drag.moved = true;
    markDirty();
    renderOverlay();
  });

  function endDrag() {
    if (!drag) return;
    suppressClick = drag.moved;
    drag = null;
    if (suppressClick) renderZoneList();
  }
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);

  svg.addEventListener("click", (event) => {
    if (suppressClick) {
      suppressClick = false;
      return;
    }
    const zone = selectedZone();
    const vertex = event.target.closest("circle.vertex");
    if (zone && !zone.closed) {
      if (vertex) {
        if (Number(vertex.dataset.vertex) === 0 && zone.polygon.length >= 3) closePolygon();
        return;
      }
      zone.polygon.push(toImage(event));
      markDirty();
      render();
      return;
    }
    const shape = event.target.closest("g.zone");
    if (shape && Number(shape.dataset.index) !== state.selected) {
      select(Number(shape.dataset.index));
      return;
    }
    if (!zone) {
      addZone();
      selectedZone().polygon.push(toImage(event));
      render();
      return;
    }
    if (!vertex) hint("多边形已闭合：拖动顶点调整，或“清除多边形”后重画。Closed: drag vertices, or Clear to redraw.");
  });

  function closePolygon() {
    const zone = selectedZone();
    if (!zone) return;
    if (zone.polygon.length < 3) {
      hint("至少需要 3 个点才能闭合。A polygon needs at least 3 points.");
      return;
    }
    zone.closed = true;
    markDirty();
    render();
  }

  function addZone() {
    state.zones.push(newZone());
    state.selected = state.zones.length - 1;
    markDirty();
    render();
    $("zone-id").focus();
  }

  $("close-polygon").addEventListener("click", closePolygon);
  $("undo-point").addEventListener("click", () => {
    const zone = selectedZone();
    if (!zone || !zone.polygon.length) return;
    zone.polygon.pop();
    zone.closed = false;
    markDirty();
    render();
  });
  $("clear-polygon").addEventListener("click", () => {
    const zone = selectedZone();
    if (!zone) return;
    zone.polygon = [];
    zone.closed = false;
    markDirty();
    render();
  });
  $("add-zone").addEventListener("click", addZone);
  $("delete-zone").addEventListener("click", () => {
    if (!selectedZone()) return;
    state.zones.splice(state.selected, 1);
    state.selected = Math.min(state.selected, state.zones.length - 1);
    markDirty();
    render();
  });

  /** Numbers as numbers; anything else is sent as typed, so the server names the fault. */
  function numberOr(raw) {
    const text = String(raw).trim();
    return text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
  }

  form.addEventListener("input", () => {
    const zone = selectedZone();
    if (!zone) return;
    zone.id = $("zone-id").value.trim();
    zone.name = $("zone-name").value;
    zone.kind = $("zone-kind").value;
    zone.grace_s = numberOr($("zone-grace").value);
    zone.leave_s = numberOr($("zone-leave").value);
    zone.min_overlap = numberOr($("zone-overlap").value);
    zone.active = $("zone-active").value.trim();
    const others = zone.classes.filter((c) => !CATEGORIES.includes(c));
    zone.classes = [...CATEGORIES.filter((c) => $(`class-${c}`).checked), ...others];
    markDirty();
    renderZoneList();
    renderOverlay();
  });
  form.addEventListener("submit", (event) => event.preventDefault());

  // --- saving ---

  function clearProblems() {
    state.problems = [];
    $("problem-list").replaceChildren();
    FL.show($("problems"), false);
  }

  function showProblems(problems) {
    state.problems = problems;
    $("problem-list").replaceChildren(...problems.map((p) => el("li", { text: p })));
    FL.show($("problems"), problems.length > 0);
  }

  const round1 = (v) => Math.round(v * 10) / 10;

  function documentToSave() {
    return {
      ...state.extra,
      camera_id: state.camera.id,
      frame_size: state.frame.map(Math.round),
      units: "px",
      zones: state.zones.map((z) => ({
        id: z.id, name: z.name, kind: z.kind, polygon: z.polygon.map(([x, y]) => [round1(x), round1(y)]),
        grace_s: z.grace_s, leave_s: z.leave_s, classes: z.classes, min_overlap: z.min_overlap, active: z.active,
      })),
    };
  }

  $("save-zones").addEventListener("click", async () => {
    if (!state.camera) return;
    const button = $("save-zones");
    button.disabled = true;
    hint("保存中… Saving…");
    const response = await api("PUT", `/api/cameras/${enc(state.camera.id)}/zones`, documentToSave());
    button.disabled = false;
    if (response.ok) {
      state.version = response.data.version;
      state.dirty = false;
      for (const zone of state.zones) if (zone.polygon.length >= 3) zone.closed = true;
      clearProblems();
      saveStatus.replaceChildren(el("strong", { class: "ok", text: `已保存：版本 v${state.version}` }),
        `（Saved as version ${state.version}）`);
      showVersion();
    } else {
      showProblems(problemsOf(response.data));
      saveStatus.replaceChildren(el("strong", { class: "bad", text: "未保存" }),
        state.version ? `（仍为版本 v${state.version}）` : "（尚无已保存的版本）");
    }
    render();
  });

  // --- live preview ---

  function stopLive() {
    if (liveTimer) clearInterval(liveTimer);
    liveTimer = null;
  }

  function showLiveStatus() {
    const node = $("live-status");
    const live = state.live;
    if (!$("live-toggle").checked || !live) {
      node.textContent = "";
      return;
    }
    if (!live.running) {
      const why = live.problem ? labels.CAMERA_PROBLEM[live.problem] || live.problem : "";
      node.textContent = `检测未运行${why ? "：" + why : ""}`;
      return;
    }
    const boxes = (live.objects || []).length;
    const origin = { given: "摄像头设置", "file name": "取自文件名", "file time": "取自文件时间，可能不准" };
    const recording = live.recording_start
      ? ` · 录像起点 ${FL.fmtTime(live.recording_start)}（${origin[live.recording_start_origin] || ""}）` : "";
    node.textContent = `${labels.CAMERA_STATE[live.state] || live.state} · ${boxes} 个目标 · `
      + `最后一帧 ${FL.fmtClock(live.last_frame_at)}${recording}${live.error ? " · " + live.error : ""}`;
  }

  async function reloadSnapshot(generation) {
    const size = await loadSnapshot(state.camera.id);
    if (generation !== state.generation || !size) return;
    if (size[0] !== state.frame[0] || size[1] !== state.frame[1]) {
      const [sx, sy] = [size[0] / state.frame[0], size[1] / state.frame[1]];
      for (const zone of state.zones) zone.polygon = zone.polygon.map(([x, y]) => [x * sx, y * sy]);
      setFrame(size);
      markDirty();
      renderOverlay();
    }
  }

  function startLive(generation) {
    stopLive();
    if (!$("live-toggle").checked) {
      state.live = null;
      showLiveStatus();
      renderOverlay();
      return;
    }
    const tick = async () => {
      if (generation !== state.generation || document.hidden) return;
      const response = await api("GET", `/api/cameras/${enc(state.camera.id)}/live`);
      if (generation !== state.generation) return;
      state.live = response.ok ? response.data : null;
      showLiveStatus();
      if (!drag) {
        renderOverlay();
        renderZoneList();
      }
      if (state.live && state.live.running && !drag && Date.now() - state.snapshotAt > SNAPSHOT_EVERY_MS) {
        reloadSnapshot(generation);
      }
    };
    tick();
    liveTimer = setInterval(tick, LIVE_EVERY_MS);
  }

  $("live-toggle").addEventListener("change", () => startLive(state.generation));
  $("reload-snapshot").addEventListener("click", () => state.camera && reloadSnapshot(state.generation));

  cameraSelect.addEventListener("change", () => {
    if (state.dirty && !window.confirm("有未保存的修改，确定切换摄像头？Discard unsaved changes?")) {
      cameraSelect.value = state.camera.id;
      return;
    }
    loadCamera(cameraSelect.value);
  });

  window.addEventListener("beforeunload", (event) => {
    if (state.dirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  window.addEventListener("resize", () => renderOverlay());

  init();
})();
