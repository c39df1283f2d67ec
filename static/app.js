/* Keyhold — progressive enhancement only.
 * Every page works without this file: forms post, links navigate. This script
 * only adds (1) confirmation before destructive submits, (2) copy-to-clipboard
 * buttons, and (3) a reserved hook for chat streaming (not implemented yet).
 * No dependencies, no inline handlers (the CSP forbids them), no globals
 * except the documented `window.Keyhold` namespace.
 */
(function () {
  "use strict";

  /* ------------------------------------------------------------------ *
   * 1. Confirmation: <form data-confirm="Remove this key?"> asks before
   *    submitting and cancels if refused. A submit button may carry its own
   *    data-confirm (wins over the form's), for forms with several buttons.
   * ------------------------------------------------------------------ */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var submitter = event.submitter;
    var message =
      (submitter && submitter.getAttribute("data-confirm")) ||
      form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  });

  /* ------------------------------------------------------------------ *
   * 2. Copy: <button type="button" data-copy="#token" hidden>Copy</button>
   *    copies the text of #token. Mark such buttons `hidden` in the HTML:
   *    they are revealed here, so no-JS users never see a dead button.
   * ------------------------------------------------------------------ */
  var live = null;
  function announce(text) {
    if (!live) {
      live = document.createElement("div");
      live.className = "visually-hidden";
      live.setAttribute("role", "status");
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function fallbackCopy(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    if (ok) sel.removeAllRanges(); /* else leave it selected for Ctrl+C */
    return ok;
  }

  function flashLabel(button, text) {
    if (!button.hasAttribute("data-label")) {
      button.setAttribute("data-label", button.textContent);
    }
    button.textContent = text;
    window.clearTimeout(button._khTimer);
    button._khTimer = window.setTimeout(function () {
      button.textContent = button.getAttribute("data-label");
    }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("[data-copy]");
    if (!button) return;
    event.preventDefault();
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    var isField = target.tagName === "INPUT" || target.tagName === "TEXTAREA";
    var text = isField ? target.value : target.textContent;
    text = (text || "").trim();

    function done(ok) {
      flashLabel(button, ok ? "Copied" : "Press Ctrl+C");
      announce(ok ? "Copied to clipboard" : "Text selected: press Ctrl+C to copy");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { done(true); },
        function () { done(fallbackCopy(target)); }
      );
    } else {
      done(fallbackCopy(target));
    }
  });

  function revealCopyButtons() {
    var buttons = document.querySelectorAll("[data-copy][hidden]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
  }

  /* ------------------------------------------------------------------ *
   * 3. Chat streaming — RESERVED HOOK, intentionally empty.
   *
   *    Today the chat form (/w/<slug>) posts normally and the server renders
   *    the answer; that path must keep working without JavaScript.
   *
   *    A later engineer fills `initChat` to stream answers instead:
   *      - find `form.chat-form[data-stream-url]` inside `root`;
   *      - on submit: preventDefault, POST the same form fields (csrf_token
   *        included, same-origin `fetch`, `credentials: "same-origin"`) to
   *        data-stream-url, read the response body as a stream (SSE lines);
   *      - append <li class="msg msg-user"><div class="msg-text"> with the
   *        prompt, then <li class="msg msg-assistant" aria-busy="true"> whose
   *        .msg-text grows with each delta (set textContent, never innerHTML);
   *      - on the final event, set the <span class="msg-meta"> text sent by
   *        the server ("Answered with your workspace key" / "... platform
   *        key"), remove aria-busy; on error add class msg-error and the
   *        server's plain message;
   *      - on any failure before the stream starts, fall back to
   *        `form.submit()` so the server-rendered path still answers.
   *    Must stay CSP-clean: no eval, no inline styles, same-origin only.
   * ------------------------------------------------------------------ */
  function initChat(root) {
    /* intentionally empty — see the contract above */
    void root;
  }

  /* ------------------------------------------------------------------ */
  function init() {
    revealCopyButtons();
    initChat(document);
  }

  window.Keyhold = { initChat: initChat };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
