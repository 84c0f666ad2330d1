// Starts WeChat's QR widget with options the server rendered (reference §2.2).
(function () {
  var options = JSON.parse(document.getElementById('wxgate-widget').textContent);
  new WxLogin(options);
})();
