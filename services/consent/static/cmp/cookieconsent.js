/* cookieconsent v3 (orestbida): the cc:onConsent and cc:onChange window events, whose
   detail.cookie.categories lists the accepted categories. */
bridge("cookieconsent", "analytics=analytics", "#cc-main", function (report) {
  function read(event) {
    var cookie = event.detail && event.detail.cookie;
    if (cookie && cookie.categories) report(Array.prototype.slice.call(cookie.categories));
  }
  window.addEventListener("cc:onConsent", read);
  window.addEventListener("cc:onChange", read);
});
