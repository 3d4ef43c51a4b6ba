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
  var before = null;
  // Words come on demand in the page's language (data-lang, <html lang>, the browser's),
  // English for any other, with the site's own wording from /purposes over them.
  var lang = (me.getAttribute("data-lang") || document.documentElement.lang ||
    navigator.language || "").slice(0, 2).toLowerCase();
  if (!/^(de|fr|es|it|nl)$/.test(lang)) lang = "en";
  var T = null;
  var who = null;

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
  function valid(p) {
    var until = stored && stored.until && stored.until[p.purpose];
    return !!(stored && stored.hashes && stored.hashes[p.purpose] === p.notice_sha256 &&
      !(until && until < Date.now()));
  }
  function unasked() {
    return purposes.filter(function (p) { return !valid(p); });
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
    var shown = {};
    purposes.forEach(function (p) { if (p.purpose in choices) shown[p.purpose] = p.notice_sha256; });
    var body = { choices: choices, method: "widget", shown: shown };
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
      if (response.status === 409) {
        close();
        load();
        return null;
      }
      if (!response.ok) throw new Error("consent: HTTP " + response.status);
      return response.json();
    }).then(function (state) {
      if (!state) return;
      var hashes = {};
      var granted = {};
      var until = {};
      var expires = Infinity;
      state.purposes.forEach(function (p) {
        if (!p.ask) hashes[p.purpose] = p.notice_sha256;
        granted[p.purpose] = p.granted;
        if (p.expires_at) {
          until[p.purpose] = Date.parse(p.expires_at.slice(0, 23) + "Z");
          expires = Math.min(expires, until[p.purpose]);
        }
      });
      stored = {
        credential: state.credential || (stored && stored.credential),
        subject: state.subject_id,
        hashes: hashes,
        granted: granted,
        until: until,
        version: state.notice_version,
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
  function all(asked, value) {
    var choices = {};
    asked.forEach(function (p) { choices[p.purpose] = value; });
    return choices;
  }
  function open(reask) {
    if (dialog || !purposes) return;
    var asked = reask ? unasked() : purposes;
    var earlier = {};
    if (reask && before) before.purposes.forEach(function (p) { earlier[p.purpose] = p; });
    opener = document.activeElement;
    var gpc = navigator.globalPrivacyControl === true;
    backdrop = el("div", { "class": "ovc-backdrop" });
    dialog = el("div", {
      "class": "ovc-dialog", role: "dialog", "aria-modal": "true",
      "aria-labelledby": "ovc-title", "aria-describedby": "ovc-intro", tabindex: "-1"
    });
    dialog.appendChild(el("h2", { id: "ovc-title" }, T.title));
    dialog.appendChild(el("p", { id: "ovc-intro" }, reask ? T.reask : T.intro));
    var by = el("p", { "class": "ovc-who" }, T.by + who.controller);
    if (who.privacy_url) {
      by.appendChild(document.createTextNode(" · "));
      by.appendChild(el("a", { href: who.privacy_url, rel: "noopener" }, T.policy));
    }
    dialog.appendChild(by);
    var boxes = {};
    var touched = {};
    asked.forEach(function (p) {
      var id = "ovc-" + p.purpose;
      var row = el("div", { "class": "ovc-purpose" });
      var box = el("input", { type: "checkbox", id: id, name: p.purpose });
      box.checked = valid(p) && !!stored.granted[p.purpose];
      if (gpc && p.gpc_opt_out) { box.checked = false; box.disabled = true; }
      box.addEventListener("change", function () { touched[p.purpose] = true; });
      boxes[p.purpose] = box;
      var label = el("label", { "for": id });
      label.appendChild(el("strong", {}, p.title));
      row.appendChild(box);
      row.appendChild(label);
      row.appendChild(el("p", {}, p.description + (gpc && p.gpc_opt_out ? T.gpc : "")));
      var old = earlier[p.purpose];
      if (reask && old && old.notice_sha256 !== p.notice_sha256) {
        row.appendChild(el("p", { "class": "ovc-changed" }, T.changed + old.description));
      }
      dialog.appendChild(row);
    });
    var actions = el("div", { "class": "ovc-actions" });
    var reject = el("button", { type: "button", "class": "ovc-choice", "data-choice": "reject" },
      T.reject);
    var accept = el("button", { type: "button", "class": "ovc-choice", "data-choice": "accept" },
      T.accept);
    var save = el("button", { type: "button", "class": "ovc-save" }, T.save);
    reject.addEventListener("click", function () { decide(all(asked, false)); });
    accept.addEventListener("click", function () { decide(all(asked, true)); });
    save.addEventListener("click", function () {
      var choices = {};
      var any = false;
      for (var name in touched) { choices[name] = boxes[name].checked; any = true; }
      if (any) decide(choices); else close();
    });
    actions.appendChild(reject);
    actions.appendChild(accept);
    actions.appendChild(save);
    dialog.appendChild(actions);
    // The page opens on this visitor's choices through a signed ten-minute hand-over link;
    // it sends this page's origin (whatever the site's Referrer-Policy), which the page checks.
    var more = el("a", {
      href: api + "/preferences?lang=" + lang, "class": "ovc-more", referrerpolicy: "origin"
    }, T.more);
    var ready = stored && stored.credential && fetch(api + "/preferences/handover", {
      method: "POST",
      headers: { Authorization: "Bearer " + stored.credential },
      credentials: "omit"
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      if (body) more.href = base + body.url + "&lang=" + lang;
    }, function () { /* the plain page, then */ }).then(function () { ready = null; });
    more.addEventListener("click", function (event) {
      if (!ready) return;
      event.preventDefault();
      ready.then(function () { more.click(); });
    });
    dialog.appendChild(more);
    // On the document, so focus that escaped (a click on the backdrop) is brought back.
    document.addEventListener("keydown", onKey, true);
    backdrop.appendChild(dialog);
    document.body.appendChild(backdrop);
    dialog.querySelector("input:not(:disabled), button").focus();
  }

  var css = el("link", { rel: "stylesheet", href: base + "/consent/widget.css" });
  document.head.appendChild(css);
  window.overtConsent = {
    open: function () { open(false); },
    state: function () { return stored; }
  };
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.closest && target.closest("[data-overt-preferences]")) {
      event.preventDefault();
      open(false);
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
  function json(path) {
    return fetch(api + path, { credentials: "omit" }).then(function (response) {
      return response.json();
    });
  }
  function show(reask) {
    // A tag in <head> without defer runs before <body> exists.
    if (document.body) open(reask);
    else document.addEventListener("DOMContentLoaded", function () { open(reask); });
  }
  function load() {
    Promise.all([
      json("/purposes?lang=" + lang),
      fetch(base + "/consent/i18n/" + lang + ".json").then(function (r) { return r.json(); })
    ]).then(function (got) {
      var body = got[0];
      T = got[1];
      for (var name in body.strings) T[name] = body.strings[name];
      who = body;
      purposes = body.purposes;
      if (me.getAttribute("data-open") === "manual" || !unasked().length) return null;
      var reask = !!(stored && stored.hashes && Object.keys(stored.hashes).length);
      if (!reask || !stored.version || stored.version === body.notice_version) return show(reask);
      return json("/notices/" + stored.version).then(function (old) {
        before = old;
        show(true);
      }, function () { show(true); });
    });
  }
  refresh();
  load();
})();
