/* wxgate login page: create a scan-login ticket, show its QR code, wait for the phone
 * (WebSocket, else Server-Sent Events, else long-poll), then redeem and go to return_to.
 * "Follow our account" (flow E) switches to a follow-login ticket: the QR is the official
 * account's parametric code, confirmed by WeChat's event push; the rest is the same.
 * No build step, no dependencies. Configuration comes from a JSON data block in the page. */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("wxgate-login-config").textContent);
  var M = cfg.messages;
  var root = document.getElementById("wxgate-login");
  var img = document.getElementById("qr-image");
  var spinner = document.getElementById("qr-spinner");
  var overlay = document.getElementById("qr-overlay");
  var overlayTitle = document.getElementById("overlay-title");
  var overlayText = document.getElementById("overlay-text");
  var refreshButton = document.getElementById("refresh");
  var statusLine = document.getElementById("status");
  var devPhone = document.getElementById("dev-phone");
  var wxacodeLink = document.getElementById("wxacode-toggle");
  var followLink = document.getElementById("follow-toggle");

  var ORDER = ["ws", "sse", "poll"];
  var FINAL = { redeemed: true, denied: true, expired: true };
  var ticket = null;        // the POST /auth/qr answer
  var generation = 0;       // bumps on every new ticket: stale callbacks ignore themselves
  var stopWaiting = function () {};
  var seen = 0;             // highest seq shown
  var lastState = "";
  var redeeming = false;
  var showingWxacode = false;
  var flow = cfg.flow === "follow" && followLink ? "follow" : "scan";

  function base(t) { return "/auth/qr/" + encodeURIComponent(t.ticket); }

  function wsUrl(t) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + base(t) + "/ws";
  }

  function show(state, title, text, refresh) {
    root.setAttribute("data-state", state);
    statusLine.textContent = text || title || "";
    if (title) {
      overlayTitle.textContent = title;
      overlayText.textContent = text || "";
      overlay.hidden = false;
    } else {
      overlay.hidden = true;
    }
    refreshButton.hidden = !refresh;
  }

  function safeReturnTo(url) {
    // The server validated it already; refuse anything that is not a plain http(s) or
    // same-site path anyway (defence in depth against javascript: and //host).
    if (typeof url !== "string") { return "/"; }
    if (url.charAt(0) === "/" && url.charAt(1) !== "/" && url.charAt(1) !== "\\") { return url; }
    if (/^https?:\/\//i.test(url)) { return url; }
    return "/";
  }

  function onFrame(gen, frame) {
    if (gen !== generation || !frame || !ticket || frame.ticket !== ticket.ticket) { return; }
    if (typeof frame.seq === "number") {
      if (frame.seq < seen || (frame.seq === seen && frame.state === lastState)) { return; }
      seen = frame.seq;
    }
    lastState = frame.state;
    switch (frame.state) {
      case "pending":
        show("pending", "", flow === "follow" ? M.follow_pending : M.pending, false);
        break;
      case "scanned":
        show("scanned", M.scanned_title, M.scanned, false);
        break;
      case "confirmed":
        show("confirmed", M.confirmed_title, M.confirmed, false);
        redeem(gen);
        break;
      case "denied":
        stopWaiting();
        show("denied", M.denied_title, M.denied, true);
        break;
      case "expired":
        stopWaiting();
        if (!redeeming) { show("expired", M.expired_title, M.expired, true); }
        break;
      case "redeemed":
        stopWaiting();
        if (!redeeming) { show("redeemed", M.redeemed_title, M.redeemed, true); }
        break;
    }
  }

  function redeem(gen) {
    if (redeeming) { return; }
    redeeming = true;
    stopWaiting();
    fetch(base(ticket) + "/redeem", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
    }).then(function (result) {
      if (gen !== generation) { return; }
      if (!result.ok) { throw new Error(result.body.error_description || "redeem failed"); }
      show("done", M.done_title, M.done, false);
      window.location.assign(safeReturnTo(result.body.return_to || cfg.return_to));
    }).catch(function () {
      if (gen !== generation) { return; }
      redeeming = false;
      show("error", M.error_title, M.error, true);
    });
  }

  /* -- transports: each calls fail() if it never worked, so the next one is tried -- */

  function viaWebSocket(gen, fail) {
    var opened = false;
    var stopped = false;
    var retries = 0;
    var socket = null;
    function connect() {
      socket = new WebSocket(wsUrl(ticket));
      socket.onopen = function () { opened = true; retries = 0; };
      socket.onmessage = function (e) { onFrame(gen, JSON.parse(e.data)); };
      socket.onclose = function () {
        if (stopped || gen !== generation || FINAL[lastState] || redeeming) { return; }
        if (!opened) { stopped = true; fail(); return; }
        retries += 1;  // it worked before: reconnect; the server sends the current state
        setTimeout(connect, Math.min(5000, 250 * retries));
      };
    }
    connect();
    return function () { stopped = true; if (socket) { socket.close(); } };
  }

  function viaEventSource(gen, fail) {
    if (!window.EventSource) { fail(); return function () {}; }
    var source = new EventSource(base(ticket) + "/events");
    var worked = false;
    var handler = function (e) { worked = true; onFrame(gen, JSON.parse(e.data)); };
    ["pending", "scanned", "confirmed", "redeemed", "denied", "expired"].forEach(function (s) {
      source.addEventListener(s, handler);
    });
    source.onopen = function () { worked = true; };
    source.onerror = function () {
      if (FINAL[lastState] || redeeming) { source.close(); return; }
      if (!worked) { source.close(); fail(); }
      // else: EventSource reconnects by itself with Last-Event-ID
    };
    return function () { source.close(); };
  }

  function viaLongPoll(gen) {
    var stopped = false;
    var failures = 0;
    function poll() {
      if (stopped || gen !== generation) { return; }
      var url = base(ticket) + "/status?wait=25" +
        (lastState ? "&after=" + encodeURIComponent(lastState) : "");
      fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (resp) {
        if (!resp.ok) { throw new Error("status " + resp.status); }
        return resp.json();
      }).then(function (frame) {
        failures = 0;
        onFrame(gen, frame);
        if (!FINAL[lastState] && !redeeming) { poll(); }
      }).catch(function () {
        failures += 1;
        setTimeout(poll, Math.min(10000, 500 * failures));
      });
    }
    poll();
    return function () { stopped = true; };
  }

  var TRANSPORTS = { ws: viaWebSocket, sse: viaEventSource, poll: viaLongPoll };

  function wait(gen, order) {
    if (gen !== generation || !order.length) { return; }
    var name = order[0];
    root.setAttribute("data-transport", name);
    stopWaiting = TRANSPORTS[name](gen, function () { wait(gen, order.slice(1)); });
  }

  function showImage() {
    if (!ticket) { return; }
    img.src = showingWxacode && ticket.wxacode_url ? ticket.wxacode_url
      : base(ticket) + "/image.svg";
  }

  function start() {
    stopWaiting();
    generation += 1;
    var gen = generation;
    ticket = null;
    seen = 0;
    lastState = "";
    redeeming = false;
    img.hidden = true;
    spinner.hidden = false;
    show("loading", "", M.loading, false);
    root.setAttribute("data-flow", flow);
    if (followLink) { followLink.textContent = flow === "follow" ? M.follow_back : M.follow_login; }
    fetch("/auth/qr", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ return_to: cfg.return_to, flow: flow })
    }).then(function (resp) {
      return resp.json().then(function (body) { return { status: resp.status, body: body }; });
    }).then(function (result) {
      if (gen !== generation) { return; }
      if (result.status === 429) { show("error", M.error_title, M.rate_limited, true); return; }
      if (result.status === 503 && flow === "follow") {
        show("error", M.error_title, M.follow_unavailable, false);
        return;
      }
      if (result.status !== 200) { throw new Error("create failed"); }
      ticket = result.body;
      root.setAttribute("data-ticket", ticket.ticket);
      img.onload = function () { spinner.hidden = true; img.hidden = false; };
      showImage();
      if (devPhone) { devPhone.href = ticket.qr_content; }
      if (wxacodeLink) { wxacodeLink.hidden = !ticket.wxacode_url; }
      show("pending", "", M.pending, false);
      var order = cfg.transport ? [cfg.transport] : ORDER;
      wait(gen, order);
    }).catch(function () {
      if (gen !== generation) { return; }
      show("error", M.error_title, M.error, true);
    });
  }

  refreshButton.addEventListener("click", start);
  if (followLink) {
    followLink.addEventListener("click", function (e) {
      e.preventDefault();
      flow = flow === "follow" ? "scan" : "follow";
      start();
    });
  }
  if (devPhone) {
    devPhone.addEventListener("click", function (e) {
      e.preventDefault();
      if (ticket) {
        window.open(ticket.qr_content, "wxgate-simulated-phone", "width=420,height=760");
      }
    });
  }
  if (wxacodeLink) {
    wxacodeLink.addEventListener("click", function (e) {
      e.preventDefault();
      showingWxacode = !showingWxacode;
      wxacodeLink.textContent = showingWxacode ? M.show_qr : M.show_wxacode;
      showImage();
    });
  }
  start();
}());
