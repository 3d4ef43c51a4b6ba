/* Overt consent widget: an accessible dialog, per-purpose choices, no consent by scroll,
   timeout or dismissal. CSP-safe: no eval, no inline script or style; DOM built with
   createElement. <script src="https://HOST/consent/widget.js" data-site="ID"></script>
   Reopen it with window.overtConsent.open() or any element with data-overt-preferences.
   With the snippet on the same page it needs no site code: every decision (and, on each
   page, the stored one) is handed to the snippet as overt('consent', {analytics, token}),
   queued if the snippet has not loaded yet. With Google's gtag / dataLayer (or the
   data-consent-mode attribute) it sets Consent Mode defaults (denied) when it runs and sends
   an update with the server's answer after each decision: put this tag first in <head>,
   without defer, so the defaults come before any other tag. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !window.fetch) return;
  var site = me.getAttribute("data-site");
  var base = new URL(me.src).origin;
  var api = base + "/consent/sites/" + encodeURIComponent(site);
  var key = "overt_consent_" + site;
  var stored = read();
  var purposes = null;
  var dialog = null;
  var backdrop = null;
  var opener = null;
  var consentMode = me.hasAttribute("data-consent-mode") || !!window.dataLayer || !!window.gtag;

  function read() {
    try { return JSON.parse(localStorage.getItem(key)); } catch (e) { return null; }
  }
  function write(value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }
  // The snippet's page API (WIRE.md), queued until the snippet loads: order does not matter.
  function tellSnippet() {
    var overt = window.overt = window.overt || function () {
      (overt.q = overt.q || []).push(arguments);
    };
    var granted = (stored && stored.granted) || {};
    overt("consent", { analytics: !!granted.analytics, token: (stored && stored.token) || null });
  }
  // Google Consent Mode v2: the page's gtag, or the dataLayer command gtag would push.
  function gtag() {
    if (!consentMode) return;
    if (typeof window.gtag === "function") { window.gtag.apply(window, arguments); return; }
    (window.dataLayer = window.dataLayer || []).push(arguments);
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs) node.setAttribute(name, attrs[name]);
    if (text) node.textContent = text;
    return node;
  }
  function undecided() {
    if (!stored || !stored.hashes || (stored.expires && stored.expires < Date.now())) return true;
    for (var i = 0; i < purposes.length; i++) {
      if (stored.hashes[purposes[i].purpose] !== purposes[i].notice_sha256) return true;
    }
    return false;
  }
  function focusables() {
    return Array.prototype.filter.call(
      dialog.querySelectorAll("button, input, a[href]"),
      function (node) { return !node.disabled; }
    );
  }
  function onKey(event) {
    if (event.key === "Escape") { event.preventDefault(); close(); return; }
    if (event.key !== "Tab") return;
    var items = focusables();
    var first = items[0];
    var last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault(); last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault(); first.focus();
    } else if (items.indexOf(document.activeElement) < 0) {
      event.preventDefault(); first.focus();
    }
  }
  function close() {
    if (!dialog) return;
    document.removeEventListener("keydown", onKey, true);
    backdrop.parentNode.removeChild(backdrop);
    dialog = backdrop = null;
    if (opener && opener.focus) opener.focus();
  }
  function decide(choices, retried) {
    var body = { choices: choices, method: "widget" };
    var where = me.getAttribute("data-jurisdiction");
    if (where) body.jurisdiction = where;
    if (stored && stored.credential) body.credential = stored.credential;
    return fetch(api + "/decisions", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body),
      credentials: "omit"
    }).then(function (response) {
      if (response.status === 401 && !retried) {
        // Erased (or unknown) subject: start again as a new one.
        stored = null;
        try { localStorage.removeItem(key); } catch (e) { /* ignore */ }
        return decide(choices, true).then(function () { return null; });
      }
      if (!response.ok) throw new Error("consent: HTTP " + response.status);
      return response.json();
    }).then(function (state) {
      if (!state) return;
      var hashes = {};
      var granted = {};
      var expires = Infinity;
      state.purposes.forEach(function (p) {
        hashes[p.purpose] = p.notice_sha256;
        granted[p.purpose] = p.granted;
        if (p.expires_at) {
          expires = Math.min(expires, Date.parse(p.expires_at.slice(0, 23) + "Z"));
        }
      });
      stored = {
        credential: state.credential || (stored && stored.credential),
        subject: state.subject_id,
        hashes: hashes,
        granted: granted,
        expires: expires === Infinity ? null : expires,
        consent_mode: state.consent_mode,
        token: state.token
      };
      write(stored);
      tellSnippet();
      refresh();
      gtag("consent", "update", state.consent_mode);
      window.dispatchEvent(new CustomEvent("overt:consent", { detail: stored }));
      close();
    });
  }
  function all(value) {
    var choices = {};
    purposes.forEach(function (p) { choices[p.purpose] = value; });
    return choices;
  }
  function open() {
    if (dialog || !purposes) return;
    opener = document.activeElement;
    var gpc = navigator.globalPrivacyControl === true;
    backdrop = el("div", { "class": "ovc-backdrop" });
    dialog = el("div", {
      "class": "ovc-dialog", role: "dialog", "aria-modal": "true",
      "aria-labelledby": "ovc-title", "aria-describedby": "ovc-intro", tabindex: "-1"
    });
    dialog.appendChild(el("h2", { id: "ovc-title" }, "Your privacy choices"));
    dialog.appendChild(el("p", { id: "ovc-intro" },
      "Nothing that identifies you is stored unless you allow it. You can change this any time."));
    var boxes = {};
    purposes.forEach(function (p) {
      var id = "ovc-" + p.purpose;
      var row = el("div", { "class": "ovc-purpose" });
      var box = el("input", { type: "checkbox", id: id, name: p.purpose });
      box.checked = !!(stored && stored.granted && stored.granted[p.purpose]);
      if (gpc && p.gpc_opt_out) { box.checked = false; box.disabled = true; }
      boxes[p.purpose] = box;
      var label = el("label", { "for": id });
      label.appendChild(el("strong", {}, p.title));
      row.appendChild(box);
      row.appendChild(label);
      row.appendChild(el("p", {}, p.description +
        (gpc && p.gpc_opt_out ? " (Refused: your browser sends Global Privacy Control.)" : "")));
      dialog.appendChild(row);
    });
    var actions = el("div", { "class": "ovc-actions" });
    var reject = el("button", { type: "button", "class": "ovc-choice", "data-choice": "reject" },
      "Reject all");
    var accept = el("button", { type: "button", "class": "ovc-choice", "data-choice": "accept" },
      "Accept all");
    var save = el("button", { type: "button", "class": "ovc-save" }, "Save my choices");
    reject.addEventListener("click", function () { decide(all(false)); });
    accept.addEventListener("click", function () { decide(all(true)); });
    save.addEventListener("click", function () {
      var choices = {};
      for (var name in boxes) choices[name] = boxes[name].checked;
      decide(choices);
    });
    actions.appendChild(reject);
    actions.appendChild(accept);
    actions.appendChild(save);
    dialog.appendChild(actions);
    var more = el("a", { href: api + "/preferences", "class": "ovc-more" },
      "See your history, export or erase");
    if (stored && stored.credential) {
      more.addEventListener("click", function (event) {
        event.preventDefault();
        var form = el("form", { method: "post", action: api + "/preferences/session" });
        var field = el("input", { type: "hidden", name: "credential" });
        field.value = stored.credential;
        form.appendChild(field);
        document.body.appendChild(form);
        form.submit();
      });
    }
    dialog.appendChild(more);
    // On the document, so focus that escaped (a click on the backdrop) is brought back.
    document.addEventListener("keydown", onKey, true);
    backdrop.appendChild(dialog);
    document.body.appendChild(backdrop);
    focusables()[0].focus();
  }

  var css = el("link", { rel: "stylesheet", href: base + "/consent/widget.css" });
  document.head.appendChild(css);
  window.overtConsent = {
    open: open,
    state: function () { return stored; }
  };
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.closest && target.closest("[data-overt-preferences]")) {
      event.preventDefault();
      open();
    }
  });
  var renewal = 0;
  function refresh() {
    // Identification tokens live a day; renew one that ends within the hour, now or (on a
    // page left open) when that hour comes.
    clearTimeout(renewal);
    if (!stored || !stored.token || !stored.credential) return;
    var claims;
    try {
      claims = JSON.parse(atob(stored.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    } catch (e) { return; }
    var due = claims.exp - 3600e3 - Date.now();
    if (due > 0) { renewal = setTimeout(refresh, Math.min(due, 864e5)); return; }
    fetch(api + "/tokens", {
      method: "POST",
      headers: { Authorization: "Bearer " + stored.credential },
      credentials: "omit"
    }).then(function (response) {
      return response.ok ? response.json() : { token: null };
    }).then(function (body) {
      stored.token = body.token;
      write(stored);
      tellSnippet();
      refresh();
    });
  }
  gtag("consent", "default", {
    ad_storage: "denied", ad_user_data: "denied", ad_personalization: "denied",
    analytics_storage: "denied"
  });
  if (stored && stored.credential) {
    if (stored.consent_mode) gtag("consent", "update", stored.consent_mode);
    tellSnippet();
  }
  refresh();
  fetch(api + "/purposes", { credentials: "omit" })
    .then(function (response) { return response.json(); })
    .then(function (body) {
      purposes = body.purposes;
      if (me.getAttribute("data-open") === "manual" || !undecided()) return;
      // A tag in <head> without defer runs before <body> exists.
      if (document.body) open();
      else document.addEventListener("DOMContentLoaded", open);
    });
})();
