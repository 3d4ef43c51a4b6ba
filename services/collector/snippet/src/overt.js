/*
 * Overt snippet: consent-first engagement capture, wire format v1 (services/collector/WIRE.md).
 *
 * Tier 0 (default): no cookies, no storage; events are keyed server-side by a daily hash.
 * Tier 1 (after overt('consent', {analytics: true})): a random id in localStorage, sent as `a`.
 * Tier 2 (overt('consent', {analytics, token})): the consent token, sent as `k` until a call
 * without one. The consent widget and the CMP bridges make these calls (WIRE.md).
 * data-consent="required": nothing leaves the page before consent; events wait in memory.
 *
 * Built with esbuild (`make snippet`) into ../static/overt.js, the file the collector serves.
 * Never throws into the host page: every entry point runs inside try/catch.
 */
(function (win, doc, nav, loc) {
  var ACTIVE_WINDOW_MS = 5000; // a visitor is "active" this long after their last input
  var MAX_BATCH = 50; // the collector takes at most 50 events per body
  var MAX_HELD = 200; // events kept in memory while waiting for consent (~50 KB replayed)
  var RETRY_DELAY_MS = 2000;
  var STORAGE_KEY = 'overt_id';
  var HEX_ID = /^[0-9a-f]{32}$/;
  var DOWNLOAD_PATH =
    /\.(pdf|xlsx?|docx?|odt|ods|txt|rtf|csv|exe|key|pp[st]x?|7z|pkg|rar|gz|tgz|zip|avi|mov|mp[34]|mpe?g|wmv|midi?|wav|wma|dmg|iso|msi|apk|epub)$/i;
  // Sending modes: send now, hold in memory until consent, drop (consent refused).
  var SEND = 1;
  var HOLD = 0;
  var DROP = 2;

  var guarded = function (callback) {
    return function (first, second) {
      try {
        return callback(first, second);
      } catch (ignored) {
        // never throw into the host page
      }
    };
  };

  guarded(function () {
    var script = doc.currentScript;
    var setting = function (name) {
      return script.getAttribute('data-' + name);
    };
    var site = setting('site');
    var existing = win.overt;
    if (!site || (existing && existing.ready)) return; // no site, or the snippet is already running
    var endpoint = (setting('api') || new URL(script.src).origin).replace(/\/$/, '') + '/e';
    var hashRouting = setting('hash') != null;
    var consentRequired = setting('consent') == 'required';
    var privacyControl = nav.globalPrivacyControl;
    var storageAllowed = !(privacyControl && setting('gpc') == 'tier1');
    var trackDownloads = setting('exclude-downloads') == null;
    var trackOutbound = setting('no-outbound') == null;

    var now = Date.now;
    var randomId = function () {
      var bytes = crypto.getRandomValues(new Uint8Array(16));
      return Array.from(bytes, function (byte) {
        return (byte + 256).toString(16).slice(1);
      }).join('');
    };
    var storage = function (write) {
      try {
        return storageAllowed && write(localStorage);
      } catch (ignored) {
        // storage disabled or blocked by the browser: stay in tier 0
      }
    };
    var storedId = function () {
      var id = storage(function (store) {
        return store.getItem(STORAGE_KEY);
      });
      return HEX_ID.test(id) ? id : 0;
    };

    // A stored tier-1 id is the record of an earlier analytics consent on this site.
    var analyticsId = storedId();
    var token; // the identification consent token, kept in memory only
    var mode = consentRequired && !analyticsId ? HOLD : SEND;
    var held = [];
    var outbox = [];
    var flushScheduled = 0;

    var post = function (body, isRetry) {
      var retry = function () {
        isRetry || setTimeout(guarded(post), RETRY_DELAY_MS, body, 1);
      };
      fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit' }).then(
        function (response) {
          response.status == 503 && retry();
        },
        retry
      );
    };
    // Events that happen together leave together, as one array body.
    var flush = function (pageIsHiding) {
      flushScheduled = 0;
      while (outbox.length) {
        var batch = outbox.splice(0, MAX_BATCH);
        batch.forEach(function (event) {
          if (analyticsId) event.a = analyticsId;
          if (token) event.k = token;
          if (consentRequired) event.c = 1; // sending at all means consent was given
        });
        var body = JSON.stringify(batch); // a string body is text/plain: no CORS preflight
        if (!(pageIsHiding && nav.sendBeacon && nav.sendBeacon(endpoint, body))) post(body);
      }
    };
    var track = function (name, fields) {
      var event = Object.assign(
        { s: site, i: randomId(), n: name, u: loc.href.slice(0, 2048), t: now() },
        fields
      );
      if (privacyControl) event.g = 1;
      if (hashRouting) event.h = 1;
      if (mode == SEND) {
        outbox.push(event);
        flushScheduled = flushScheduled || setTimeout(guarded(flush));
      } else if (mode == HOLD && held.length < MAX_HELD) {
        held.push(event);
      }
      return event;
    };

    // Engagement of the current pageview: time visible and active, and the deepest scroll.
    var pageviewId;
    var pageviewUrl;
    var pageviewRoute;
    var engagedMs;
    var countedUntil;
    var activeUntil;
    var maxDepth;
    var reportedDepth;
    var route = function () {
      return loc.pathname + (hashRouting ? loc.hash : '');
    };
    var countEngagedTime = function () {
      var time = now();
      engagedMs += Math.max(0, Math.min(time, activeUntil) - countedUntil);
      countedUntil = time;
      return time;
    };
    var measureDepth = function () {
      var height = doc.documentElement.scrollHeight;
      var seen = height ? Math.round(((win.scrollY + win.innerHeight) / height) * 100) : 100;
      maxDepth = Math.max(maxDepth, Math.min(seen, 100));
    };
    var noteActivity = function (event) {
      if (doc.hidden) return;
      activeUntil = countEngagedTime() + ACTIVE_WINDOW_MS;
      if (event && event.type == 'scroll') measureDepth();
    };
    var reportEngagement = function () {
      if (!pageviewId) return;
      countEngagedTime();
      measureDepth();
      if (engagedMs || maxDepth > reportedDepth) {
        track('engagement', { u: pageviewUrl, v: pageviewId, e: engagedMs, d: maxDepth });
        engagedMs = 0;
        reportedDepth = maxDepth;
      }
    };
    var startPageview = function () {
      pageviewUrl = loc.href.slice(0, 2048);
      pageviewRoute = route();
      pageviewId = track('pageview', { r: doc.referrer.slice(0, 2048) || null }).i;
      engagedMs = maxDepth = 0;
      reportedDepth = -1;
      countedUntil = activeUntil = now();
      noteActivity(); // arriving on a visible page counts as activity
    };
    var newPageview = function () {
      reportEngagement();
      startPageview();
    };
    var routeChanged = function () {
      if (route() != pageviewRoute) newPageview();
    };
    // Hidden, closed, or put in the back/forward cache: report now, count nothing after.
    var pageHiding = function () {
      reportEngagement();
      activeUntil = 0;
      flush(1);
    };

    var consent = function (options) {
      token = options.token;
      if (options.analytics) {
        analyticsId =
          storedId() ||
          storage(function (store) {
            var id = randomId();
            store.setItem(STORAGE_KEY, id);
            return id;
          });
        if (mode != SEND) {
          mode = SEND;
          outbox.push.apply(outbox, held); // replayed with their original `t`
          flush();
        }
      } else {
        storage(function (store) {
          store.removeItem(STORAGE_KEY);
        });
        analyticsId = 0;
        if (consentRequired) {
          mode = DROP;
          outbox = []; // not even what was about to leave
        }
      }
      held = [];
    };
    var trackLink = function (event) {
      var link = event.target.closest && event.target.closest('a[href]');
      if (!link || (event.type == 'auxclick' && event.button != 1) || !/^http/.test(link.protocol)) {
        return;
      }
      var name =
        DOWNLOAD_PATH.test(link.pathname) || link.hasAttribute('download')
          ? trackDownloads && 'download'
          : link.host != loc.host && trackOutbound && 'outbound';
      // Only origin and path: a query string often carries personal data.
      if (name) track(name, { p: { url: (link.origin + link.pathname).slice(0, 256) } });
    };

    // Props within the collector's limits: one bad prop must not cost the whole batch.
    var cleanProps = function (props) {
      var clean = {};
      Object.keys(props)
        .slice(0, 30)
        .forEach(function (key) {
          var value = props[key];
          if (typeof value == 'string') value = value.slice(0, 256);
          var type = typeof value;
          var valid = type == 'string' || type == 'boolean' || Number.isFinite(value);
          if (valid && key && key.length <= 64) clean[key] = value;
        });
      return { p: clean };
    };

    var api = guarded(function (name, options) {
      options = options || {};
      if (!name) return;
      if (name == 'consent') consent(options);
      else if (name == 'pageview') newPageview();
      else track(String(name).slice(0, 120), options.props && cleanProps(options.props));
    });
    api.ready = 1;
    var queued = (existing && existing.q) || [];
    win.overt = api;

    var listen = function (target, types, listener) {
      types.split(' ').forEach(function (type) {
        target.addEventListener(type, guarded(listener), { capture: true, passive: true });
      });
    };
    listen(win, 'pointermove pointerdown keydown scroll wheel touchstart', noteActivity);
    listen(doc, 'click auxclick', trackLink);
    listen(doc, 'visibilitychange', function () {
      doc.hidden ? pageHiding() : noteActivity();
    });
    listen(win, 'pagehide', pageHiding);
    listen(win, 'pageshow', function (event) {
      if (event.persisted) startPageview(); // restored from the back/forward cache: a new view
    });
    listen(win, 'popstate', routeChanged); // history.back() and hash changes alike
    ['pushState', 'replaceState'].forEach(function (method) {
      var original = history[method];
      history[method] = function () {
        var result = original.apply(this, arguments);
        guarded(routeChanged)();
        return result;
      };
    });

    // The pageview, then the calls made before the script loaded. A queued consent still
    // covers the pageview: the tier-1 id is added when a batch leaves, held events wait for it.
    startPageview();
    queued.forEach(function (call) {
      api.apply(0, call);
    });
  })();
})(window, document, navigator, location);
