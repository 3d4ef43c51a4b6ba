/* Overt CMP bridge: a site that keeps its consent manager (Cookiebot, OneTrust, Klaro,
   cookieconsent) feeds each decision made in it into Overt's ledger, recorded with the name
   of that manager and the SHA-256 of the text its dialog showed, and hands the snippet the
   result as the widget does (overt('consent', ...)). One tag, after the manager's own:
   <script defer src="https://HOST/consent/cmp/NAME.js" data-site="ID"></script>
   Optional: data-purposes="analytics=statistics marketing_contact=marketing" (which of the
   manager's categories stands for which Overt purpose; each adapter has a default),
   data-text="CSS selector" (the element whose text the visitor saw), data-jurisdiction.
   This file is served with one adapter appended (cmp/NAME.js), both in one function scope. */
"use strict";
var me = document.currentScript;
var site = me && me.getAttribute("data-site");
var api = site && new URL(me.src).origin + "/consent/sites/" + encodeURIComponent(site);
var key = "overt_consent_" + site; // the widget's record: one subject per browser and site
var shown = "";

function stored() {
  try { return JSON.parse(localStorage.getItem(key)) || {}; } catch (e) { return {}; }
}
function tellSnippet(state) {
  // The snippet's page API, queued when it has not loaded yet (WIRE.md).
  var overt = window.overt = window.overt || function () {
    (overt.q = overt.q || []).push(arguments);
  };
  overt("consent", { analytics: !!(state.granted && state.granted.analytics), token: state.token || null });
}
function hex(buffer) {
  return Array.prototype.map.call(new Uint8Array(buffer), function (byte) {
    return (byte + 256).toString(16).slice(1);
  }).join("");
}
function readText(selector) {
  var node = document.querySelector(me.getAttribute("data-text") || selector);
  var text = node ? node.textContent.replace(/\s+/g, " ").trim() : "";
  if (text) shown = text;
}

// `source`: the manager's name; `mapping`: its default "purpose=category ..."; `selector`:
// its dialog; `listen(report)`: calls report(categories it accepted) on every decision.
function bridge(source, mapping, selector, listen) {
  if (!api || !window.fetch || !window.crypto || !crypto.subtle) return;
  var purposes = {};
  (me.getAttribute("data-purposes") || mapping).split(/\s+/).forEach(function (pair) {
    var parts = pair.split("=");
    if (parts[1]) purposes[parts[0]] = parts[1];
  });
  // Keep the dialog's text while it is on the page: some managers remove it on a decision.
  readText(selector);
  new MutationObserver(function () { readText(selector); })
    .observe(document.documentElement, { childList: true, subtree: true, characterData: true });
  var state = stored();
  if (state.credential) tellSnippet(state);

  // One decision at a time: a manager may tell the same choice twice at once (on load and
  // on the click), and the second must see the subject the first one made.
  var pending = Promise.resolve();
  listen(function (accepted) {
    readText(selector);
    if (!shown) return; // nothing shown, nothing to prove: the manager's stored choice
    var choices = {};
    for (var purpose in purposes) choices[purpose] = accepted.indexOf(purposes[purpose]) >= 0;
    var text = shown;
    pending = pending.then(function () {
      return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    }).then(function (digest) {
      var hash = hex(digest);
      var state = stored();
      var decided = JSON.stringify([source, choices, hash]);
      if (state.bridged === decided) return; // told again on a later page: already recorded
      var body = { choices: choices, method: "cmp", source: source, notice_sha256: hash };
      if (state.credential) body.credential = state.credential;
      var where = me.getAttribute("data-jurisdiction");
      if (where) body.jurisdiction = where;
      return fetch(api + "/decisions", {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify(body),
        credentials: "omit"
      }).then(function (response) {
        if (!response.ok) throw new Error("consent bridge: HTTP " + response.status);
        return response.json();
      }).then(function (answer) {
        var granted = {};
        answer.purposes.forEach(function (p) { granted[p.purpose] = p.granted; });
        var next = {
          credential: answer.credential || state.credential,
          subject: answer.subject_id,
          granted: granted,
          consent_mode: answer.consent_mode,
          token: answer.token,
          bridged: decided
        };
        try { localStorage.setItem(key, JSON.stringify(next)); } catch (e) { /* private mode */ }
        tellSnippet(next);
        window.dispatchEvent(new CustomEvent("overt:consent", { detail: next }));
      });
    }).catch(function (error) {
      if (window.console) console.warn(error); // the next decision is tried again
    });
  });
}
