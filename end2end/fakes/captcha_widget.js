// The fake captcha widget (see captcha.py): the provider's global with the calls pages make.
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = new URL(script.src).origin;
  var widgets = [];

  function issue(sitekey, action) {
    return fetch(origin + "/_fake/captcha/tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ site_key: sitekey, action: action || null }),
    })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (!answer.token) throw new Error(answer.error || "no token");
        return answer.token;
      });
  }

  function solve(widget) {
    return issue(widget.params.sitekey, widget.params.action).then(function (token) {
      widget.response = token;
      widget.el.setAttribute("data-fake-captcha", "solved");
      if (widget.box) widget.box.checked = true;
      if (typeof widget.params.callback === "function") widget.params.callback(token);
      return token;
    });
  }

  function render(container, params) {
    var el = typeof container === "string" ? document.getElementById(container) : container;
    var widget = { el: el, params: params || {}, response: "" };
    var id = widgets.push(widget) - 1;
    el.setAttribute("data-fake-captcha", "ready");
    if (widget.params.size !== "invisible") {
      var label = document.createElement("label");
      var box = document.createElement("input");
      box.type = "checkbox";
      box.setAttribute("data-testid", "fake-captcha-checkbox");
      box.addEventListener("change", function () { if (box.checked) solve(widget); });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" I'm not a robot"));
      el.appendChild(label);
      widget.box = box;
    }
    return id;
  }

  window.__GLOBAL__ = {
    ready: function (callback) { callback(); },
    render: render,
    // v3: execute(sitekey, {action}) → Promise<token>; v2 invisible: execute(widgetId).
    execute: function (target, options) {
      if (typeof target === "string") return issue(target, options && options.action);
      // Turnstile takes the container element; the others the widget id.
      var widget = target instanceof Element
        ? widgets.filter(function (w) { return w.el === target; }).pop()
        : widgets[target || 0];
      return widget ? solve(widget) : Promise.reject(new Error("no widget"));
    },
    getResponse: function (id) { var w = widgets[id || 0]; return w ? w.response : ""; },
    reset: function (id) { var w = widgets[id || 0]; if (w) { w.response = ""; if (w.box) w.box.checked = false; } },
  };
  var onload = new URL(script.src).searchParams.get("onload");
  if (onload && typeof window[onload] === "function") window[onload]();
})();
