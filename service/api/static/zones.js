/* Zone editor: draw each zone's polygon on the camera's latest snapshot, in the snapshot's pixels.
 * The SVG over the image has viewBox = the image's natural size, so its coordinates are frame pixels.
 * A camera without a snapshot gets one grabbed from its source at once (it only runs once it has zones).
 * A fire-lane zone may be calibrated on the ground (a rectangle's 4 corners with its width and length in metres),
 * saved as the zone's `ground` (zones/calibration.py), so violations report the clear width left. */
"use strict";

(() => {
  const { el, api, labels } = FL;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const CATEGORIES = ["vehicle", "obstacle", "obstruction"];
  const FIELDS = ["camera_id", "frame_size", "units", "zones"];
  const LIVE_EVERY_MS = 2000;
  const SNAPSHOT_EVERY_MS = 10000;
  const CLOSE_RADIUS_PX = 12; // a click this close (on screen) to the first point closes the polygon
  const GB50016_MIN_CLEAR_WIDTH_M = 4.0; // GB 50016 §7.1.8

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
    problems: [], // the server's refusals in English (to find the zone each names)
    mode: "polygon", // or "ground": clicks place the selected zone's ground corners
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
      showProblems(cams);
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
      ground: groundFromDocument(z.ground, scale),
    };
  }

  /** A rectangle calibration is edited here; any other (reference points) is kept as it was, untouched. */
  function groundFromDocument(ground, scale) {
    if (!ground || typeof ground !== "object") return null;
    if (!Array.isArray(ground.corners)) return { raw: ground };
    return {
      corners: ground.corners.map(([x, y]) => [x * scale[0], y * scale[1]]),
      width_m: ground.width_m ?? "", length_m: ground.length_m ?? "",
      min_clear_width_m: ground.min_clear_width_m ?? GB50016_MIN_CLEAR_WIDTH_M,
    };
  }

  function newZone() {
    const taken = new Set(state.zones.map((z) => z.id));
    let n = state.zones.length + 1;
    while (taken.has(`zone-${n}`)) n += 1;
    return {
      id: `zone-${n}`, name: "", kind: "fire_lane", polygon: [], grace_s: 180, leave_s: 30, min_overlap: 0.3,
      active: "00:00-24:00", classes: [...CATEGORIES], closed: false, ground: null,
    };
  }

  /** Grab a frame from the camera's source now (stored with its real size); false with the refusal shown. */
  async function grabSnapshot(cameraId) {
    const notice = $("snapshot-notice");
    notice.textContent = "正在从视频源拍摄画面… Taking a snapshot from the source…";
    FL.show(notice, true);
    const response = await api("POST", `/api/cameras/${enc(cameraId)}/snapshot`);
    if (!response.ok) {
      const [first] = FLF.refusals(response);
      notice.textContent = `无法从视频源拍摄画面：${first.zh}（${first.en}）。可先按画面尺寸绘制。`;
      return false;
    }
    return true;
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
    let [current, size] = await Promise.all([api("GET", `/api/cameras/${enc(cameraId)}/zones`), loadSnapshot(cameraId)]);
    if (generation !== state.generation) return;
    if (!size && await grabSnapshot(cameraId)) size = await loadSnapshot(cameraId); // never drawn blind
    if (generation !== state.generation) return;
    let doc = null;
    state.version = null;
    if (current.ok) {
      doc = current.data.document;
      state.version = current.data.version;
    } else if (current.status !== 404) {
      showProblems(current);
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
    state.mode = "polygon";
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
    if (zone.ground && zone.ground.corners) g.append(groundShape(zone.ground, selected, k));
    if (selected && state.mode !== "ground") { // while calibrating, clicks on a zone corner place a ground corner
      zone.polygon.forEach(([x, y], j) => {
        const first = j === 0 && !zone.closed && zone.polygon.length >= 3;
        g.append(el("circle", {
          class: first ? "vertex first" : "vertex", cx: x, cy: y, r: (first ? 9 : 7) * k, dataset: { vertex: j },
        }, el("title", { text: first ? "点击闭合 (click to close)" : `顶点 ${j + 1}：拖动移动 (drag)` })));
      });
    }
    return g;
  }

  /** The calibration rectangle: dashed, corners numbered, its edges labelled with their metres. */
  function groundShape(ground, selected, k) {
    const g = el("g", { class: "ground-layer" });
    const corners = ground.corners;
    if (corners.length >= 2) {
      g.append(el(corners.length === 4 ? "polygon" : "polyline", { class: "ground", points: corners.map((p) => p.join(",")).join(" ") }));
    }
    const mid = (a, b) => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    const edgeLabel = (a, b, text) => {
      const [x, y] = mid(a, b);
      g.append(el("text", { class: "ground-label", x, y, "font-size": 14 * k, "text-anchor": "middle", text }));
    };
    if (corners.length >= 2 && ground.width_m !== "") edgeLabel(corners[0], corners[1], `宽 ${ground.width_m} m`);
    if (corners.length >= 3 && ground.length_m !== "") edgeLabel(corners[1], corners[2], `长 ${ground.length_m} m`);
    corners.forEach(([x, y], j) => {
      if (selected) {
        g.append(el("circle", { class: "ground-corner", cx: x, cy: y, r: 7 * k, dataset: { corner: j } },
          el("title", { text: `地面角点 ${j + 1}：拖动移动 (ground corner, drag)` })));
      }
      g.append(el("text", { class: "ground-label", x: x + 9 * k, y: y - 9 * k, "font-size": 14 * k, text: String(j + 1) }));
    });
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
    renderGround(zone);
  }

  function renderGround(zone) {
    const ground = zone.ground;
    const editable = Boolean(ground && ground.corners);
    FL.show($("ground-fields"), editable);
    FL.show($("remove-ground"), Boolean(ground));
    $("mark-ground").disabled = Boolean(ground && !ground.corners);
    let summary;
    if (!ground) {
      summary = zone.kind === "fire_lane"
        ? "未标定：在画面上标出车道地面上一个矩形的 4 个角，并填写其宽度和长度（米），即可计算剩余净宽。"
          + " Not calibrated: mark a ground rectangle's 4 corners and its size in metres to measure the clear width."
        : "未标定（可选）。Not calibrated (optional).";
    } else if (!editable) {
      summary = "已用参照点标定（在区域文件中编辑）。Calibrated with reference points (edit the zone file).";
    } else {
      summary = `已标角点 ${ground.corners.length}/4 · 最小净宽 ${ground.min_clear_width_m} 米`
        + (state.mode === "ground" ? " · 正在标定：在画面上点击角点" : "");
    }
    $("ground-summary").textContent = summary;
    if (editable) {
      $("ground-width").value = ground.width_m;
      $("ground-length").value = ground.length_m;
      $("ground-min").value = ground.min_clear_width_m;
    }
  }

  function render() {
    renderOverlay();
    renderZoneList();
    renderForm();
  }

  function select(index) {
    state.selected = index;
    state.mode = "polygon";
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
    const handle = event.target.closest("circle.vertex, circle.ground-corner");
    if (!handle || event.button !== 0) return;
    event.preventDefault();
    const corner = handle.dataset.corner !== undefined;
    drag = { index: Number(corner ? handle.dataset.corner : handle.dataset.vertex), corner, moved: false };
    svg.setPointerCapture(event.pointerId);
  });

  svg.addEventListener("pointermove", (event) => {
    const zone = selectedZone();
    if (!drag || !zone) return;
    if (drag.corner) zone.ground.corners[drag.index] = toImage(event);
    else zone.polygon[drag.index] = toImage(event);
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
    const vertex = event.target.closest("circle.vertex, circle.ground-corner");
    if (zone && state.mode === "ground") {
      if (!vertex) addGroundCorner(zone, toImage(event));
      return;
    }
    if (zone && !zone.closed) {
      // The first point closes the shape. Tested by distance, not by the click's target: after a press on a
      // handle the pointer is captured and the click lands on the SVG, which used to add a duplicate point.
      if (zone.polygon.length >= 3 && nearFirstPoint(zone, event)) {
        closePolygon();
        return;
      }
      if (vertex) return;
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

  function nearFirstPoint(zone, event) {
    const [x, y] = zone.polygon[0];
    const r = svg.getBoundingClientRect();
    const dx = event.clientX - (r.left + (x * r.width) / state.frame[0]);
    const dy = event.clientY - (r.top + (y * r.height) / state.frame[1]);
    return Math.hypot(dx, dy) <= CLOSE_RADIUS_PX;
  }

  // --- ground calibration ---

  function addGroundCorner(zone, point) {
    zone.ground.corners.push(point);
    if (zone.ground.corners.length === 4) {
      state.mode = "polygon";
      hint("已标好 4 个角点：请填写宽度和长度（米）。4 corners marked: enter width and length in metres.");
      $("ground-width").focus();
    } else {
      groundHint(zone);
    }
    markDirty();
    render();
  }

  function groundHint(zone) {
    const n = zone.ground.corners.length;
    const which = ["第 1 个角（车道一侧）", "第 2 个角（横跨车道到对侧：1→2 为宽度）", "第 3 个角（沿车道：2→3 为长度）",
      "第 4 个角"][n];
    hint(`地面标定：点击地面矩形的${which}。Ground: click corner ${n + 1} of a rectangle on the ground.`);
  }

  $("mark-ground").addEventListener("click", () => {
    const zone = selectedZone();
    if (!zone) return;
    const kept = zone.ground && zone.ground.corners ? zone.ground : null;
    zone.ground = {
      corners: [], width_m: kept ? kept.width_m : "", length_m: kept ? kept.length_m : "",
      min_clear_width_m: kept ? kept.min_clear_width_m : GB50016_MIN_CLEAR_WIDTH_M,
    };
    state.mode = "ground";
    markDirty();
    render();
    groundHint(zone);
  });

  $("remove-ground").addEventListener("click", () => {
    const zone = selectedZone();
    if (!zone || !zone.ground) return;
    zone.ground = null;
    state.mode = "polygon";
    markDirty();
    render();
    hint("已删除地面标定（保存后生效）。Calibration removed (on save).");
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
    if (zone.ground && zone.ground.corners) {
      zone.ground.width_m = numberOr($("ground-width").value);
      zone.ground.length_m = numberOr($("ground-length").value);
      zone.ground.min_clear_width_m = numberOr($("ground-min").value);
    }
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

  /** A refused answer's problems: Chinese first, the English beneath (and kept to mark the zones they name). */
  function showProblems(response) {
    const refusals = FLF.refusals(response);
    state.problems = refusals.map((r) => r.en);
    $("problem-list").replaceChildren(...refusals.map(({ zh, en }) =>
      el("li", {}, el("span", { class: "zh", text: zh }), el("small", { class: "en", text: en }))));
    FL.show($("problems"), refusals.length > 0);
  }

  function groundToSave(ground) {
    if (!ground) return undefined;
    if (!ground.corners) return ground.raw;
    return {
      corners: ground.corners.map(([x, y]) => [round1(x), round1(y)]),
      width_m: ground.width_m, length_m: ground.length_m, min_clear_width_m: ground.min_clear_width_m,
    };
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
        ...(z.ground ? { ground: groundToSave(z.ground) } : {}),
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
      showProblems(response);
      saveStatus.replaceChildren(el("strong", { class: "bad", text: "未保存" }),
        state.version ? `：当前仍为版本 v${state.version}` : "：该摄像头还没有保存过区域",
        el("small", { text: " Not saved" }));
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
      const why = live.problem ? live.problem_zh || labels.CAMERA_PROBLEM[live.problem] || live.problem : "";
      node.textContent = `检测未运行${why ? "：" + why : ""}`;
      return;
    }
    const boxes = (live.objects || []).length;
    const error = live.error_zh || live.error;
    const origin = { given: "摄像头设置", "file name": "取自文件名", "file time": "取自文件时间，可能不准" };
    const recording = live.recording_start
      ? ` · 录像起点 ${FL.fmtTime(live.recording_start)}（${origin[live.recording_start_origin] || ""}）` : "";
    node.textContent = `${labels.CAMERA_STATE[live.state] || live.state} · ${boxes} 个目标 · `
      + `最后一帧 ${FL.fmtClock(live.last_frame_at)}${recording}${error ? " · " + error : ""}`;
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
  $("reload-snapshot").addEventListener("click", async () => {
    if (!state.camera) return;
    const generation = state.generation;
    if (await grabSnapshot(state.camera.id)) reloadSnapshot(generation);
  });

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
