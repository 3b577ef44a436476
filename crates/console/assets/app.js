// OpenPile console: live connector status. Pages work without this script; with it, an element
// with data-live="<stream url>" receives server-sent events and the chips, connection marks and
// counters inside it change in place. Every word shown comes from the server (event labels and
// data-label-* attributes), so this file holds no text of its own.
(function () {
  'use strict';
  var root = document.querySelector('[data-live]');
  if (!root || !window.EventSource) { return; }
  var state = root.querySelector('[data-live-state]');
  function setState(live) {
    if (!state) { return; }
    state.textContent = root.getAttribute(live ? 'data-label-live' : 'data-label-lost');
    state.classList.toggle('is-live', live);
  }
  function each(selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }
  function attr(value) { return window.CSS && CSS.escape ? CSS.escape(value) : value; }

  var source = new EventSource(root.getAttribute('data-live'));
  source.addEventListener('open', function () { setState(true); });
  source.addEventListener('error', function () { setState(false); });

  source.addEventListener('connector', function (ev) {
    var c = JSON.parse(ev.data);
    each('[data-connector="' + attr(c.id) + '"]', function (chip) {
      var seq = parseInt(chip.getAttribute('data-seq') || '-1', 10);
      if (seq > c.seq) { return; }
      var old = chip.getAttribute('data-status');
      if (old === c.status && seq === c.seq) { return; }
      chip.classList.remove('status-' + old);
      chip.classList.add('status-' + c.status);
      chip.setAttribute('data-status', c.status);
      chip.setAttribute('data-seq', String(c.seq));
      chip.setAttribute('title', c.changed_at);
      var label = chip.querySelector('[data-label]');
      if (label) { label.textContent = c.label; }
      chip.classList.add('changed');
      window.setTimeout(function () { chip.classList.remove('changed'); }, 2000);
    });
  });

  source.addEventListener('charger', function (ev) {
    var c = JSON.parse(ev.data);
    each('[data-charger="' + attr(c.id) + '"]', function (mark) {
      mark.classList.toggle('on', c.online);
      mark.classList.toggle('off', !c.online);
      mark.textContent = c.label;
    });
  });

  source.addEventListener('summary', function (ev) {
    var s = JSON.parse(ev.data);
    function put(key, n) {
      each('[data-summary="' + key + '"]', function (el) { el.textContent = String(n); });
    }
    put('online', s.online);
    put('offline', s.offline);
    Object.keys(s.statuses || {}).forEach(function (k) { put('status-' + k, s.statuses[k]); });
  });
})();
