/* Cameras: source (with a test that shows a frame at once), sampling rate, site, enabled; and how each is doing. */
"use strict";

(() => {
  const { el, api } = FL;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const form = $("camera-form");
  const STATES = {
    starting: "启动中", running: "运行中", reconnecting: "重新连接中", error: "出错", finished: "录像已播完",
    stopped: "已停止",
  };
  const STATUS_EVERY_MS = 3000;
  const state = { cameras: [], sites: [], live: {}, editing: null };

  const siteName = (id) => (state.sites.find((s) => s.id === id) || { name: `#${id}` }).name;

  async function load() {
    const [cameras, sites] = await Promise.all([api("GET", "/api/cameras"), api("GET", "/api/sites")]);
    if (!cameras.ok) {
      FLF.showRefusals($("camera-problems"), cameras);
      return;
    }
    state.cameras = cameras.data;
    state.sites = sites.ok ? sites.data : [];
    const siteSelect = $("camera-site");
    const chosen = siteSelect.value;
    FLF.options(siteSelect, state.sites.map((s) => [s.id, `${s.name}（${s.code}）`]), chosen || undefined,
      state.sites.length ? null : "请先新增小区 (add a site first)");
    render();
    refreshStatus();
  }

  async function refreshStatus() {
    const answers = await Promise.all(state.cameras.map((c) => api("GET", `/api/cameras/${enc(c.id)}/live`)));
    answers.forEach((answer, i) => { if (answer.ok) state.live[state.cameras[i].id] = answer.data; });
    render();
  }

  function statusOf(camera) {
    if (!camera.enabled) return el("span", { class: "badge", text: "已停用 disabled" });
    const live = state.live[camera.id];
    if (!live) return el("span", { class: "muted", text: "—" });
    if (!live.running) {
      return el("span", {}, el("span", { class: "badge", text: "未运行" }),
        live.problem ? el("small", { class: "en", text: live.problem_zh || live.problem }) : "");
    }
    const label = STATES[live.state] || live.state || "";
    return el("span", { class: "camera-state" },
      el("span", { class: `badge state-${live.state}`, text: label }),
      el("small", { class: "en", text: `${live.frames} 帧 · 最后一帧 ${FL.fmtClock(live.last_frame_at)}` }),
      live.error ? el("small", { class: "en", text: live.error_zh || live.error }) : "");
  }

  function render() {
    FL.show($("no-cameras"), !state.cameras.length);
    $("camera-rows").replaceChildren(...state.cameras.map((camera) => el("tr", {
      class: state.editing && state.editing.id === camera.id ? "selected" : "", dataset: { camera: camera.id },
    },
    el("td", {}, el("strong", { text: camera.name }), el("code", { class: "en", text: camera.id })),
    el("td", { text: siteName(camera.site_id) }),
    el("td", { class: "source" }, el("code", { text: camera.source_url }),
      camera.frame_width ? el("small", { class: "en", text: `${camera.frame_width}×${camera.frame_height}` }) : ""),
    el("td", { text: `${camera.fps} 帧/秒` }),
    el("td", { class: "status-cell" }, statusOf(camera)),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "secondary", text: "编辑 Edit", onclick: () => edit(camera) }),
      el("a", { class: "button secondary", href: `/ui/zones?camera=${enc(camera.id)}`, text: "区域 Zones" })))));
  }

  function showPicture(src, width, height) {
    $("preview-image").src = src;
    $("preview-size").textContent = `画面尺寸 ${width}×${height} px（frame size）`;
    FL.show($("preview"), true);
  }

  function edit(camera) {
    state.editing = camera;
    $("camera-form-title").replaceChildren(camera ? `编辑摄像头：${camera.name} ` : "新增摄像头 ",
      el("small", { text: camera ? "Edit camera" : "New camera" }));
    $("camera-name").value = camera ? camera.name : "";
    $("camera-id").value = camera ? camera.id : "";
    $("camera-id").disabled = Boolean(camera);
    if (camera) $("camera-site").value = String(camera.site_id);
    $("camera-source").value = camera ? camera.source_url : "";
    $("camera-fps").value = camera ? camera.fps : 2;
    $("camera-enabled").checked = camera ? camera.enabled : true;
    for (const id of ["take-snapshot", "draw-zones", "delete-camera"]) FL.show($(id), Boolean(camera));
    if (camera) $("draw-zones").href = `/ui/zones?camera=${enc(camera.id)}`;
    FL.show($("preview"), false);
    if (camera) {
      const img = $("preview-image");
      img.onload = () => showPicture(img.src, img.naturalWidth, img.naturalHeight);
      img.src = `/api/cameras/${enc(camera.id)}/snapshot?t=${Date.now()}`;
    }
    FLF.showRefusals($("camera-problems"), null);
    $("camera-status").textContent = "";
    render();
    $("camera-name").focus();
  }

  $("test-connection").addEventListener("click", async () => {
    const button = $("test-connection");
    button.disabled = true;
    FLF.say($("camera-status"), true, "正在连接…", "Connecting…");
    const response = await api("POST", "/api/cameras/probe", { source_url: $("camera-source").value });
    button.disabled = false;
    if (!response.ok) {
      FL.show($("preview"), false);
      FLF.showRefusals($("camera-problems"), response);
      FLF.say($("camera-status"), false, "连接失败", "Connection failed");
      return;
    }
    FLF.showRefusals($("camera-problems"), null);
    showPicture(response.data.image, response.data.width, response.data.height);
    FLF.say($("camera-status"), true, "连接成功", "Connected");
  });

  /** Grab a frame now and show it: a new camera's zones are drawn on it before the camera ever runs. */
  async function takeSnapshot(camera) {
    const response = await api("POST", `/api/cameras/${enc(camera.id)}/snapshot`);
    if (!response.ok) {
      FLF.showRefusals($("camera-problems"), response);
      return false;
    }
    showPicture(`/api/cameras/${enc(camera.id)}/snapshot?t=${Date.now()}`, response.data.width, response.data.height);
    return true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: $("camera-name").value, site_id: FLF.numberOr($("camera-site").value),
      source_url: $("camera-source").value, fps: FLF.numberOr($("camera-fps").value), enabled: $("camera-enabled").checked,
    };
    const camera = state.editing;
    if (!camera) body.id = $("camera-id").value.trim();
    $("save-camera").disabled = true;
    const response = camera ? await api("PATCH", `/api/cameras/${enc(camera.id)}`, body)
      : await api("POST", "/api/cameras", body);
    if (!response.ok) {
      $("save-camera").disabled = false;
      FLF.showRefusals($("camera-problems"), response);
      FLF.say($("camera-status"), false, "未保存", "Not saved");
      return;
    }
    FLF.showRefusals($("camera-problems"), null);
    await load();
    const saved = state.cameras.find((c) => c.id === response.data.id);
    edit(saved);
    $("save-camera").disabled = false;
    if (!camera || camera.source_url !== saved.source_url) {
      FLF.say($("camera-status"), true, "已保存，正在拍摄快照…", "Saved; taking a snapshot…");
      const pictured = await takeSnapshot(saved);
      await load();
      FLF.say($("camera-status"), pictured, pictured ? `已保存：${saved.name}，快照已拍摄` : "已保存，但无法拍摄快照",
        pictured ? "Saved, snapshot taken" : "Saved, but no snapshot");
    } else {
      FLF.say($("camera-status"), true, `已保存：${saved.name}`, "Saved");
    }
  });

  $("take-snapshot").addEventListener("click", async () => {
    if (!state.editing) return;
    const pictured = await takeSnapshot(state.editing);
    FLF.say($("camera-status"), pictured, pictured ? "快照已更新" : "无法拍摄快照", pictured ? "Snapshot taken" : "No snapshot");
    load();
  });

  $("delete-camera").addEventListener("click", async () => {
    const camera = state.editing;
    if (!camera || !window.confirm(`删除摄像头 ${camera.name}？有违法记录的摄像头会被归档。Delete (archived if it has violations)?`)) return;
    const response = await api("DELETE", `/api/cameras/${enc(camera.id)}`);
    if (!response.ok) {
      FLF.showRefusals($("camera-problems"), response);
      return;
    }
    await load();
    edit(null);
    FLF.say($("camera-status"), true, `已删除：${camera.name}`, "Deleted");
  });
  $("new-camera").addEventListener("click", () => edit(null));
  $("refresh-cameras").addEventListener("click", load);

  load();
  setInterval(() => { if (!document.hidden && state.cameras.length) refreshStatus(); }, STATUS_EVERY_MS);
})();
