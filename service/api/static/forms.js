/* Operator forms (sites, cameras, users, zones): the server's refusals in Chinese, forms read and filled.
 * Every error body carries detail_zh (service/api/messages.py) beside the English detail: the Chinese is shown,
 * the English under it for whoever reports the problem. Text is only ever inserted as text. */
"use strict";

const FLF = (() => {
  const { el } = FL;

  /** [{zh, en}] for an error answer: Chinese from detail_zh, English from detail. */
  function refusals(response) {
    const english = FL.english(response.data);
    const chinese = (response.data && Array.isArray(response.data.detail_zh)) ? response.data.detail_zh : [];
    if (response.status === 0) return [{ zh: "网络错误，无法连接服务器", en: "network error" }];
    return english.map((en, i) => ({ zh: chinese[i] || "服务器拒绝了请求", en }));
  }

  /** Show a refusal (or clear the box with null) in a .problems box holding a <ul>. */
  function showRefusals(box, response) {
    const list = box.querySelector("ul");
    if (!response) {
      list.replaceChildren();
      FL.show(box, false);
      return;
    }
    list.replaceChildren(...refusals(response).map(({ zh, en }) =>
      el("li", {}, el("span", { class: "zh", text: zh }), el("small", { class: "en", text: en }))));
    FL.show(box, true);
  }

  /** One status line: ok (green) or bad (red), Chinese then English. */
  function say(node, ok, zh, en) {
    node.replaceChildren(el("strong", { class: ok ? "ok" : "bad", text: zh }), en ? el("small", { text: ` ${en}` }) : "");
  }

  /** Numbers as numbers; anything else as typed, so the server names the fault. */
  function numberOr(raw) {
    const text = String(raw).trim();
    return text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
  }

  function options(select, items, selected, blank) {
    select.replaceChildren(...(blank ? [el("option", { value: "", text: blank })] : []),
      ...items.map(([value, text]) => el("option", { value: String(value), text })));
    if (selected !== undefined && selected !== null) select.value = String(selected);
  }

  return { refusals, showRefusals, say, numberOr, options };
})();
