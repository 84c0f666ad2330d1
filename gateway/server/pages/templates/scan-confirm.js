/* wxgate phone confirm page: show the ticket's creation time in the phone's own time zone,
 * and keep a double tap from posting twice. The page works without this script. */
(function () {
  "use strict";
  var time = document.getElementById("pc-time");
  if (time) {
    var when = new Date(time.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      time.textContent = when.toLocaleString(document.documentElement.lang || undefined);
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("form.actions"), function (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(document.querySelectorAll("form.actions button"),
        function (b) { b.disabled = true; });
    });
  });
}());
