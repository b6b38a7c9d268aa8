/* Police review: pending violations oldest first; evidence of the selected one; confirm (plate) or reject (reason). */
"use strict";

(() => {
  const { el, api, labels, fmtTime, fmtShort, fmtDuration, secondsBetween } = FL;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const canDecide = Boolean(FL.data.can_decide);
  const STILLS = ["before", "begin", "grace", "latest", "last"];
  const STILL_LABELS = {
    before: "⓪ 空闲时参照 (empty lane)", begin: "① 开始占用 (begin)", grace: "② 超过允许停留时间 (grace)", latest: "③ 最新画面 (latest)", last: "③ 最后画面 (last)",
  };
  const state = { queue: [], current: null, loading: 0 };

  function queueTitle(v) {
    return `${v.camera_name || v.camera_id} · ${v.zone_name || v.zone_id}`;
  }

  function renderQueue() {
    $("queue-list").replaceChildren(...state.queue.map((v) => el("li", {},
      el("button", {
        type: "button", class: v.id === state.current ? "queue-item selected" : "queue-item",
        dataset: { id: v.id }, onclick: () => select(v.id),
      },
      el("strong", { text: queueTitle(v) }),
      v.escalated ? el("span", { class: "badge escalated", text: `超时未清理 · 已移交交警 ${fmtShort(v.escalated_at)}` }) : null,
      el("span", { class: "muted", text: `${labels.CLASS[v.object_class] || v.object_class} · ${v.site_name || v.site_code || "未登记摄像头"}` +
        (v.plate_read ? ` · 识别 ${v.plate_read}（待确认）` : "") }),
      el("span", { class: "muted", text: `开始 ${fmtShort(v.started_at)} · ${v.ended_at ? "持续 " + fmtDuration(v.duration_s) : "仍在占用"}` })))));
    $("queue-count").textContent = `${state.queue.length} 条待审核 (pending)`;
    FL.show($("queue-empty"), state.queue.length === 0);
  }

  async function loadQueue(preferred) {
    const response = await api("GET", "/api/reviews/queue?limit=200");
    if (!response.ok) {
      setOutcome(FL.problems(response.data).join("；"), "bad");
      return;
    }
    state.queue = response.data;
    const next = state.queue.find((v) => v.id === preferred) || state.queue[0];
    state.current = next ? next.id : null;
    renderQueue();
    if (next) await select(next.id);
    else FL.show($("detail"), false);
  }

  async function select(id) {
    const token = ++state.loading;
    state.current = id;
    renderQueue();
    const response = await api("GET", `/api/violations/${enc(id)}`);
    if (token !== state.loading) return;
    if (!response.ok) {
      setOutcome(FL.problems(response.data).join("；"), "bad");
      return;
    }
    renderDetail(response.data);
  }

  function fact(term, value) {
    return [el("dt", { text: term }), el("dd", { text: value })];
  }

  function renderTimeline(v) {
    const end = v.ended_at || new Date().toISOString();
    const grace = Math.max(0, secondsBetween(v.started_at, v.violation_at));
    const after = Math.max(0, secondsBetween(v.violation_at, end));
    const bar = el("div", { class: "tl-bar" },
      el("div", { class: "tl-grace", text: `允许停留 ${fmtDuration(grace)}` }),
      el("div", { class: v.ended_at ? "tl-violation" : "tl-violation ongoing", text: `违停 ${fmtDuration(after)}` }));
    // widths in proportion, but never so thin that the label disappears
    const total = grace + after || 1;
    bar.children[0].style.flexGrow = String(Math.max(0.2, grace / total));
    bar.children[1].style.flexGrow = String(Math.max(0.2, after / total));
    const points = el("ol", { class: "tl-points" },
      el("li", { dataset: { point: "started" } }, el("strong", { text: "开始占用" }), el("small", { text: " started" }),
        el("br"), fmtTime(v.started_at)),
      el("li", { dataset: { point: "violation" } }, el("strong", { text: "超时违停" }), el("small", { text: " violation" }),
        el("br"), fmtTime(v.violation_at)),
      el("li", { dataset: { point: "ended" } }, el("strong", { text: v.ended_at ? "驶离结束" : "仍在占用" }),
        el("small", { text: v.ended_at ? " ended" : " ongoing" }), el("br"), v.ended_at ? fmtTime(v.ended_at) : "—"));
    const summary = el("p", { class: "muted", text:
      `总占用 ${fmtDuration(grace + after)}（记录时长 duration_s ${fmtDuration(v.duration_s)}）` });
    $("detail-timeline").replaceChildren(bar, points, summary);
  }

  /* Evidence recorded before the installation signed evidence and sealed afterwards (`firelane seal`): its
     signature vouches for the files from the sealing on, not from when they were recorded. */
  function sealedLater(v) {
    if (!v.sealed_later_at) return null;
    return el("span", {
      class: "sealed-later", dataset: { sealedAt: v.sealed_later_at },
      title: "录制时本系统尚未启用证据签名，补签时核对了文件与清单一致；签名只能证明补签之后未被改动。" +
        " Recorded before evidence was signed: its files were checked against the manifest when sealed, not when recorded.",
      text: `事后补签 · sealed later at ${fmtTime(v.sealed_later_at)}`,
    });
  }

  function renderDetail(v) {
    FL.show($("detail"), true);
    $("detail-title").replaceChildren(queueTitle(v), " ", el("code", { text: v.id }));
    const intact = v.integrity.length === 0;
    $("integrity").className = `integrity ${intact ? "ok" : "failed"}`;
    $("integrity").replaceChildren(...(intact
      ? [el("strong", { text: "✓ 证据完整，已签名 Evidence intact and signed" }), sealedLater(v)]
      : [el("strong", { text: "⚠ 证据校验失败，不可导出 Evidence failed its check:" }), sealedLater(v),
        el("ul", {}, v.integrity.map((problem, i) => el("li", {}, [
          v.integrity_zh[i], v.integrity_zh[i] !== problem ? el("small", { text: ` ${problem}` }) : null,
        ].filter(Boolean))))]).filter(Boolean));
    $("detail-facts").replaceChildren(
      ...fact("站点 Site", v.site_name || v.site_code || "未登记摄像头"),
      ...fact("摄像头 Camera", `${v.camera_name || ""} (${v.camera_id})`),
      ...fact("区域 Zone", `${v.zone_name} · ${labels.KIND[v.zone_kind] || v.zone_kind}`),
      ...fact("对象 Object", `${labels.CLASS[v.object_class] || v.object_class} (${v.object_class}) · ` +
        `${labels.CLASS[v.category] || v.category}`),
      ...fact("状态 Status", labels.REVIEW[v.review_status] || v.review_status),
    );
    if (v.clear_width_m !== null && v.clear_width_m !== undefined) {
      const verdict = v.severity === "blocked" ? "堵塞 blocked" : "变窄 narrowed";
      $("detail-facts").append(...fact("剩余通行宽度 Clear width", `${v.clear_width_m.toFixed(1)} m · ${verdict}`));
    }
    if (v.evidence_complete === false) {
      $("detail-facts").append(...fact("证据 Evidence", `不完整 incomplete: ${v.evidence_problem || ""}`));
    }
    const queued = state.queue.find((q) => q.id === v.id);
    if (queued && queued.escalated) {
      $("detail-facts").append(...fact("移交 Escalated", `物业未在期限内清理，${fmtTime(queued.escalated_at)} 移交交警`));
    }
    renderTimeline(v);

    const byRole = (role) => v.evidence.find((f) => f.role === role);
    const stills = v.evidence
      .filter((f) => STILLS.includes(f.role))
      .sort((a, b) => (a.captured_at || "").localeCompare(b.captured_at || "") || a.name.localeCompare(b.name));
    $("stills").replaceChildren(...stills.map((f) => {
      const clean = byRole(`${f.role}_clean`);
      return el("figure", { class: "still", dataset: { role: f.role, captured: f.captured_at || "" } },
        el("a", { href: f.url, target: "_blank", rel: "noopener" }, el("img", { src: f.url, alt: STILL_LABELS[f.role] || f.role })),
        el("figcaption", {},
          el("strong", { text: STILL_LABELS[f.role] || f.role }), el("br"),
          el("time", { dateTime: f.captured_at || "", text: fmtTime(f.captured_at) }),
          clean ? [" · ", el("a", { href: clean.url, target: "_blank", rel: "noopener", text: "原图 (clean)" })] : null));
    }));
    if (!stills.length) $("stills").replaceChildren(el("p", { class: "muted", text: "没有证据画面。No stills." }));

    const clip = byRole("clip");
    const video = $("clip");
    if (clip) {
      if (video.getAttribute("src") !== clip.url) video.src = clip.url;
      $("clip-caption").textContent = clip.captured_at ? fmtTime(clip.captured_at) : "";
    } else {
      video.removeAttribute("src");
      video.load();
      $("clip-caption").textContent = "没有视频 (no clip)";
    }
    FL.show(video, Boolean(clip));
    const crop = byRole("crop");
    if (crop) $("crop").src = crop.url;
    else $("crop").removeAttribute("src");
    FL.show($("crop").parentElement, Boolean(crop));

    $("export-link").href = `/api/violations/${enc(v.id)}/export`;
    $("export-link").hidden = v.integrity.length > 0;
    FL.show($("decision"), canDecide && v.review_status === "pending");
    renderPlateReading(v);
    $("reason").value = "";
    FL.show($("decision-error"), false);
  }

  const PLATE_COLOURS = { blue: "蓝牌 blue", yellow: "黄牌 yellow", green: "绿牌 green", white: "白牌 white",
    black: "黑牌 black" };

  /* The reader's plate prefills the form, with its confidence and the crop it read; the officer confirms it or
     types the correction (both are kept: plate_read beside the confirmed plate_text). */
  function renderPlateReading(v) {
    const read = v.plate_read;
    const crop = v.evidence.find((f) => f.role === "plate");
    FL.show($("plate-reading"), Boolean(read));
    FL.show($("plate-unread"), !read && v.review_status === "pending");
    if (crop) $("plate-crop").src = crop.url;
    else $("plate-crop").removeAttribute("src");
    FL.show($("plate-crop"), Boolean(crop));
    $("plate-read").textContent = read || "";
    $("plate-read-meta").textContent = read
      ? ` · ${PLATE_COLOURS[v.plate_read_colour] || v.plate_read_colour || ""} · 置信度 confidence ` +
        `${Math.round((v.plate_read_confidence || 0) * 100)}%` +
        ((v.plate_read_confidence || 0) < 0.8 ? " · 请核对 please check" : "")
      : "";
    $("plate").value = v.plate_text || read || "";
    $("plate").dataset.read = read || "";
    markCorrection();
  }

  function markCorrection() {
    const read = $("plate").dataset.read;
    const typed = $("plate").value.replace(/[\s·•.\-]/g, "").toUpperCase();
    FL.show($("plate-corrected"), Boolean(read) && Boolean(typed) && typed !== read);
  }

  function setOutcome(text, kind) {
    const node = $("outcome");
    node.textContent = text;
    node.className = `status outcome ${kind || ""}`;
  }

  function decisionError(messages) {
    const node = $("decision-error");
    node.textContent = messages.join("；");
    FL.show(node, true);
  }

  async function decide(decision) {
    const id = state.current;
    if (!id) return;
    const plate = $("plate").value.trim();
    const reason = $("reason").value.trim();
    if (decision === "confirmed" && !plate) {
      decisionError(["确认违法需要填写车牌号。A plate is required to confirm."]);
      $("plate").focus();
      return;
    }
    if (decision === "rejected" && !reason) {
      decisionError(["驳回需要填写理由。A reason is required to reject."]);
      $("reason").focus();
      return;
    }
    const body = decision === "confirmed" ? { decision, plate_text: plate } : { decision, reason };
    $("confirm").disabled = $("reject").disabled = true;
    const response = await api("POST", `/api/violations/${enc(id)}/review`, body);
    $("confirm").disabled = $("reject").disabled = false;
    if (response.status === 409) {
      setOutcome(`${id}：已被其他警员处理（already decided）`, "bad");
      await loadQueue();
      return;
    }
    if (!response.ok) {
      decisionError(FL.problems(response.data));
      return;
    }
    const review = response.data;
    const read = $("plate").dataset.read;
    const corrected = read && review.plate_text !== read ? `，更正自机器识别 ${read}（corrected）` : "";
    const text = review.decision === "confirmed"
      ? `已确认违法：${id}，车牌 ${review.plate_text}（confirmed）${corrected}`
      : `已驳回：${id}，理由：${review.reason}（rejected）`;
    setOutcome(text, review.decision === "confirmed" ? "ok" : "warn");
    $("outcomes").prepend(el("li", { dataset: { id, decision: review.decision } },
      el("span", { class: `badge ${review.decision}`, text: labels.REVIEW[review.decision] }), " ",
      el("code", { text: id }), " ", review.plate_text || review.reason,
      " · ", el("a", { href: `/api/violations/${enc(id)}/export`, download: "", text: "导出 ZIP" })));
    const index = state.queue.findIndex((v) => v.id === id);
    state.queue.splice(index, 1);
    const next = state.queue[Math.min(index, state.queue.length - 1)];
    state.current = next ? next.id : null;
    renderQueue();
    if (next) await select(next.id);
    else FL.show($("detail"), false);
  }

  $("confirm").addEventListener("click", () => decide("confirmed"));
  $("reject").addEventListener("click", () => decide("rejected"));
  $("plate").addEventListener("keydown", (event) => { if (event.key === "Enter") decide("confirmed"); });
  $("plate").addEventListener("input", markCorrection);
  $("refresh-queue").addEventListener("click", () => loadQueue(state.current));
  loadQueue(new URLSearchParams(location.search).get("violation"));
})();
