/* Login: post the form with fetch so a wrong password is shown here, then go to the page asked for. */
"use strict";

(() => {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const submit = document.getElementById("login-submit");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    const body = new FormData(form);
    const next = body.get("next") || "/ui";
    body.delete("next"); // without it the server answers with the user (JSON) instead of a redirect
    try {
      const response = await fetch("/login", { method: "POST", body, credentials: "same-origin" });
      if (response.ok) {
        location.assign(next);
        return;
      }
      // a lockout (429) says how long to wait, in the Chinese the server sends beside its English
      const answer = await response.json().catch(() => null);
      const chinese = answer && Array.isArray(answer.detail_zh) ? answer.detail_zh.join("；") : "";
      error.textContent = response.status === 401
        ? "用户名或密码错误。Wrong username or password."
        : `${chinese || "登录失败"} (${response.status})。Login failed.`;
    } catch (e) {
      error.textContent = "无法连接服务器。Cannot reach the server.";
    }
    error.hidden = false;
    submit.disabled = false;
  });
})();
