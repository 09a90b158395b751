/* Zhidu console: small enhancements over server-rendered pages. Everything works
   without it; with it, countdowns tick, the complaint form checks itself as it is
   typed, and forms show or hide the parts that apply. */
(function () {
  "use strict";

  var zh = document.documentElement.lang === "zh-CN";

  function duration(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
        m = Math.floor((s % 3600) / 60);
    var parts = [];
    if (d) parts.push(zh ? d + "天" : d + " d");
    if (h) parts.push(zh ? h + "小时" : h + " h");
    if (m && !d) parts.push(zh ? m + "分钟" : m + " min");
    if (!parts.length) return zh ? "不到1分钟" : "under a minute";
    return parts.join(zh ? "" : " ");
  }

  // Countdowns: data-remaining is seconds left when the page was drawn (working
  // time for working-day clocks); data-ticking says whether the clock runs now.
  var drawn = Date.now();
  function tick() {
    var elapsed = (Date.now() - drawn) / 1000;
    document.querySelectorAll(".countdown[data-remaining]").forEach(function (el) {
      var left = parseFloat(el.dataset.remaining);
      if (el.dataset.ticking === "1") left -= elapsed;
      var text = left >= 0 ? (zh ? "剩余 " : "") + duration(left) + (zh ? "" : " left")
                           : (zh ? "已超时 " : "overdue ") + duration(-left);
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("breached", left < 0);
    });
  }
  document.addEventListener("htmx:afterSettle", function () { drawn = Date.now(); tick(); });
  setInterval(tick, 30000);

  // The complaint form: remember which fields were touched, so the live check
  // speaks only about what the clerk has already filled in.
  function touch(el) {
    var form = el.form;
    if (!form || !el.name || el.name === "touched" || !form.matches("[data-live-check]")) return;
    if (!form.querySelector('input[name="touched"][value="' + el.name + '"]')) {
      var mark = document.createElement("input");
      mark.type = "hidden"; mark.name = "touched"; mark.value = el.name;
      form.appendChild(mark);
    }
  }
  document.addEventListener("input", function (e) { touch(e.target); });
  document.addEventListener("change", function (e) { touch(e.target); toggle(); });

  // Parts of a form that apply only to some answers: data-show-when="field=value".
  function toggle() {
    document.querySelectorAll("[data-show-when]").forEach(function (part) {
      var rule = part.dataset.showWhen.split("="), form = part.closest("form");
      if (!form) return;
      var chosen = form.querySelector('[name="' + rule[0] + '"]:checked') ||
                   form.querySelector('select[name="' + rule[0] + '"]');
      var value = chosen ? (chosen.type === "checkbox" ? (chosen.checked ? "1" : "") : chosen.value) : "";
      part.hidden = value !== rule[1];
    });
  }

  // A form posts once: a second click while it is on its way does nothing.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset.sent === "1") { e.preventDefault(); return; }
    form.dataset.sent = "1";
    setTimeout(function () { form.dataset.sent = ""; }, 8000);
  });

  // Choosing a language or a month submits its form at once.
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-autosubmit]")) e.target.form.requestSubmit();
  });

  document.addEventListener("DOMContentLoaded", function () { toggle(); tick(); });
})();
