/* Keyhold — progressive enhancement only.
 * Every page works without this file: forms post, links navigate. This script
 * only adds (1) confirmation before destructive submits, (2) copy-to-clipboard
 * buttons, and (3) streaming chat answers.
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
   * 3. Chat streaming. Without JavaScript the chat form posts normally and
   *    the server renders the answer. With it, the same fields go to the
   *    form's data-stream-url and the answer grows as server-sent events
   *    arrive: {"text": …} pieces, then {"done": true, "meta": …} or
   *    {"error": …}. Text is set with textContent only (never innerHTML).
   * ------------------------------------------------------------------ */
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function initChat(root) {
    var form = root.querySelector("form.chat-form[data-stream-url]");
    var log = root.querySelector("#chat-log");
    if (!form || !log || !window.fetch || !window.TextDecoder) return;
    form.addEventListener("submit", function (event) {
      var prompt = form.querySelector("[name=prompt]");
      if (!prompt || !prompt.value.trim()) return;
      event.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      var user = el("li", "msg msg-user");
      user.appendChild(el("div", "msg-text", prompt.value));
      var answer = el("li", "msg msg-assistant");
      answer.setAttribute("aria-busy", "true");
      var text = el("div", "msg-text", "");
      var meta = el("span", "msg-meta", "");
      answer.appendChild(text);
      answer.appendChild(meta);
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      var started = false;

      function finish(metaText, isError) {
        answer.removeAttribute("aria-busy");
        if (isError) answer.classList.add("msg-error");
        meta.textContent = metaText;
        if (button) button.disabled = false;
        answer.scrollIntoView({ block: "nearest" });
      }

      function handle(line) {
        if (line.indexOf("data:") !== 0) return;
        var data;
        try { data = JSON.parse(line.slice(5)); } catch (e) { return; }
        if (data.text) text.textContent += data.text;
        if (data.done) finish(data.meta || "", false);
        if (data.error) { text.textContent = data.error; finish("No answer", true); }
      }

      fetch(form.getAttribute("data-stream-url"), {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "Accept": "text/event-stream" }
      }).then(function (response) {
        if (!response.ok && response.status !== 400) throw new Error("status " + response.status);
        started = true;
        log.appendChild(user);
        log.appendChild(answer);
        prompt.value = "";
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) {
              if (answer.hasAttribute("aria-busy")) finish("", false);
              return;
            }
            buffer += decoder.decode(chunk.value, { stream: true });
            var parts = buffer.split("\n\n");
            buffer = parts.pop();
            parts.forEach(function (part) { part.split("\n").forEach(handle); });
            return pump();
          });
        }
        return pump();
      }).catch(function () {
        if (!started) {
          form.submit();
        } else {
          finish("The connection broke off. Reload the page to see what was saved.", true);
        }
      });
    });
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
