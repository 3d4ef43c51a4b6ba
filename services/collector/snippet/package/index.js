// Overt's snippet for bundlers: `import { init, track, consent } from 'overt'`.
// init() adds ./overt.js, byte for byte the collector's /overt.js (the same build of
// ../src/overt.js), as a classic script with the data-* settings of the script tag; the
// calls before it has loaded wait in `window.overt.q`, which the snippet replays in order.

// window.overt: the snippet once loaded, until then a stub that queues the calls.
function overt() {
  if (!window.overt) {
    const stub = function () {
      (stub.q = stub.q || []).push(arguments);
    };
    window.overt = stub;
  }
  return window.overt;
}

function call(...args) {
  if (typeof window !== 'undefined') overt()(...args); // server-side rendering: nothing
}

export function init(options) {
  if (typeof document === 'undefined' || !options || !options.site || !options.api) return;
  const script = document.createElement('script');
  script.src = options.src || new URL('./overt.js', import.meta.url).href;
  script.setAttribute('data-site', options.site);
  script.setAttribute('data-api', options.api);
  if (options.consentRequired) script.setAttribute('data-consent', 'required');
  if (options.hashRouting) script.setAttribute('data-hash', '');
  if (options.gpc === 'tier1') script.setAttribute('data-gpc', 'tier1');
  if (options.outboundLinks === false) script.setAttribute('data-no-outbound', '');
  if (options.downloads === false) script.setAttribute('data-exclude-downloads', '');
  overt(); // the queue exists before the script runs
  document.head.appendChild(script);
}

export function track(name, options) {
  call(name, options);
}

export function pageview() {
  call('pageview');
}

export function consent(state) {
  call('consent', state);
}
