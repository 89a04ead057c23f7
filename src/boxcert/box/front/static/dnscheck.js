// The box's homepage, opened by its IP address over plain HTTP: try the box's name from this
// device. The box cannot see the DNS server of the phone or PC that opens it; the browser can.
// The page works without this script (the box's own DNS diagnosis is shown either way).
"use strict";
(function () {
  var check = document.getElementById("browser-check");
  if (!check) {
    return;
  }
  var trusted = check.getAttribute("data-trusted") === "yes";

  function show(id, visible) {
    var element = document.getElementById(id);
    if (element) {
      element.hidden = !visible;
    }
  }

  // Resolves true when the URL answers at all (any status), false on a network error: a name
  // that does not resolve, a certificate this device does not trust, or no answer in time.
  function reach(url) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, 8000);
    return fetch(url, {
      mode: "no-cors", cache: "no-store", credentials: "omit", signal: controller.signal
    }).then(
      function () { clearTimeout(timer); return true; },
      function () { clearTimeout(timer); return false; }
    );
  }

  check.hidden = false;
  show("browser-checking", true);
  var secure = trusted ? reach(check.getAttribute("data-https")) : Promise.resolve(false);
  secure.then(function (opened) {
    if (opened) {
      show("browser-checking", false);
      show("browser-ok", true);
      window.location.replace(check.getAttribute("data-target"));
      return null;
    }
    return reach(check.getAttribute("data-http")).then(function (named) {
      show("browser-checking", false);
      if (!named) {
        show("browser-problem", true);
      } else if (trusted) {
        show("browser-untrusted", true);
      } else {
        show("browser-named", true);
      }
      return null;
    });
  });
})();
