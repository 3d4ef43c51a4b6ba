/* Cookiebot: the CookiebotOnAccept / CookiebotOnDecline window events, and the categories in
   window.Cookiebot.consent (necessary, preferences, statistics, marketing). */
bridge("cookiebot", "analytics=statistics", "#CybotCookiebotDialog", function (report) {
  function read() {
    var consent = window.Cookiebot && window.Cookiebot.consent;
    if (!consent) return;
    report(["necessary", "preferences", "statistics", "marketing"].filter(function (name) {
      return consent[name] === true;
    }));
  }
  window.addEventListener("CookiebotOnAccept", read);
  window.addEventListener("CookiebotOnDecline", read);
});
