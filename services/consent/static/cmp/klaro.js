/* Klaro: a watcher on klaro.getManager(), told "saveConsents" with each service's consent
   ({consents: {name: true | false}}); the categories are Klaro's service names. */
bridge("klaro", "analytics=analytics", "#klaro", function (report) {
  var tries = 0;
  (function attach() {
    var manager = window.klaro && window.klaro.getManager && window.klaro.getManager();
    if (!manager) {
      if (tries++ < 50) setTimeout(attach, 100); // Klaro's script may run after this one
      return;
    }
    manager.watch({
      update: function (watched, name, data) {
        if (name !== "saveConsents" || !data || !data.consents) return;
        report(Object.keys(data.consents).filter(function (service) {
          return data.consents[service] === true;
        }));
      }
    });
  })();
});
