/* OneTrust: the OneTrustGroupsUpdated window event (detail: the active group ids, e.g.
   C0001 strictly necessary, C0002 performance, C0004 targeting). It also fires on page load
   with the defaults, so only a visitor who closed the banner (OneTrust.IsAlertBoxClosed())
   has decided. */
bridge("onetrust", "analytics=C0002", "#onetrust-consent-sdk", function (report) {
  window.addEventListener("OneTrustGroupsUpdated", function (event) {
    var sdk = window.OneTrust;
    if (!sdk || !sdk.IsAlertBoxClosed || !sdk.IsAlertBoxClosed()) return;
    report(Array.prototype.slice.call(event.detail || []));
  });
});
