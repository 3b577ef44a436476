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

// Partner portal: the live event list. An element with data-feed="<stream url>" receives `feed`
// events (server-sent) and adds each as the first row of its table, once (rows carry a key);
// a select with data-feed-filter shows only one event type. Words come from the page.
(function () {
  'use strict';
  var root = document.querySelector('[data-feed]');
  if (!root) { return; }
  var rows = root.querySelector('[data-feed-rows]');
  var filter = root.querySelector('[data-feed-filter]');
  var empty = root.querySelector('[data-feed-empty]');
  var state = root.querySelector('[data-live-state]');
  function applyFilter() {
    var want = filter ? filter.value : '';
    var shown = 0;
    Array.prototype.forEach.call(rows.querySelectorAll('tr[data-type]'), function (tr) {
      var show = !want || tr.getAttribute('data-type') === want;
      tr.hidden = !show;
      if (show) { shown += 1; }
    });
    if (empty) { empty.hidden = shown > 0; }
  }
  if (filter) { filter.addEventListener('change', applyFilter); }
  if (!window.EventSource) { return; }
  function setState(live) {
    if (!state) { return; }
    state.textContent = root.getAttribute(live ? 'data-label-live' : 'data-label-lost');
    state.classList.toggle('is-live', live);
  }
  function cell(tr, text, tag) {
    var td = document.createElement('td');
    var inner = tag ? document.createElement(tag) : null;
    if (inner) {
      if (tag === 'pre') { inner.className = 'pre small'; }
      inner.textContent = text;
      td.appendChild(inner);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
  }
  function pretty(data) {
    try { return JSON.stringify(JSON.parse(data), null, 2); } catch (e) { return data; }
  }
  var source = new EventSource(root.getAttribute('data-feed'));
  source.addEventListener('open', function () { setState(true); });
  source.addEventListener('error', function () { setState(false); });
  source.addEventListener('feed', function (ev) {
    var e = JSON.parse(ev.data);
    if (rows.querySelector('tr[data-key="' + e.key + '"]')) { return; }
    var tr = document.createElement('tr');
    tr.setAttribute('data-key', e.key);
    tr.setAttribute('data-type', e.type);
    tr.className = 'changed';
    cell(tr, e.at);
    cell(tr, e.type, 'code');
    cell(tr, e.subject);
    cell(tr, pretty(e.data), 'pre');
    rows.insertBefore(tr, rows.firstChild);
    applyFilter();
  });
})();

// Partner portal: the settlement report form. Choosing a CSV file puts its text into the form's
// textarea (the form posts text, so it also works by pasting, without this script).
(function () {
  'use strict';
  var form = document.querySelector('[data-csv-form]');
  if (!form || !window.FileReader) { return; }
  var file = form.querySelector('[data-csv-file]');
  var text = form.querySelector('textarea[name="csv"]');
  if (!file || !text) { return; }
  file.addEventListener('change', function () {
    var f = file.files && file.files[0];
    if (!f) { return; }
    var reader = new FileReader();
    reader.addEventListener('load', function () { text.value = String(reader.result || ''); });
    reader.readAsText(f, 'utf-8');
  });
})();

// Console: network import. Choosing a file puts its text into the form's text area, its name
// into the hidden field and its kind (.json / .csv) into the format choice; the form posts
// text, so pasting works without this script.
(function () {
  'use strict';
  var form = document.querySelector('[data-import-form]');
  if (!form || !window.FileReader) { return; }
  var file = form.querySelector('[data-import-file]');
  var text = form.querySelector('textarea[name="content"]');
  var name = form.querySelector('input[name="filename"]');
  var format = form.querySelector('select[name="format"]');
  if (!file || !text) { return; }
  file.addEventListener('change', function () {
    var f = file.files && file.files[0];
    if (!f) { return; }
    if (name) { name.value = f.name; }
    if (format && /\.csv$/i.test(f.name)) { format.value = 'csv'; }
    if (format && /\.json$/i.test(f.name)) { format.value = 'json'; }
    var reader = new FileReader();
    reader.addEventListener('load', function () { text.value = String(reader.result || ''); });
    reader.readAsText(f, 'utf-8');
  });
})();
