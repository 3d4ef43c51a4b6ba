/* Overt snippet v0: one anonymous pageview per page load. No cookies, no storage. */
(function (w, d) {
  try {
    var script = d.currentScript;
    var site = script && script.getAttribute('data-site');
    if (!site) return;
    var endpoint = new URL('/e', script.src).href;
    var randomId = function () {
      var bytes = new Uint8Array(16);
      w.crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) {
        return (b + 256).toString(16).slice(1);
      }).join('');
    };
    var send = function (name) {
      var body = JSON.stringify({ s: site, n: name, u: location.href, r: d.referrer || null, i: randomId() });
      // A string body is sent as text/plain: a simple request, no CORS preflight.
      if (!(navigator.sendBeacon && navigator.sendBeacon(endpoint, body))) {
        fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit' });
      }
    };
    send('pageview');
  } catch (e) { /* never throw into the host page */ }
})(window, document);
