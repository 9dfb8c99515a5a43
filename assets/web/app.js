// Token Stats browser tab. Plain script, no framework. Every name and message goes in with textContent,
// never as HTML: model and account names come from whatever proxies post.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  // Sent with every request: the server demands it (with a same-origin Origin) for changes made with the
  // session cookie, which a cross-site form or image cannot send.
  const HEADERS = { 'X-TokenStats': '1' };
  const POLL_MS = 5000; // fallback when the event stream is down; never faster than every 2 s
  const darkQuery = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

  let hours = 24;
  let loadSeq = 0;
  let inFlight = false;
  let again = false;
  let live = 'connecting';
  let pollTimer = null;
  let lastWidth = 0;
  const tables = {
    model: { rows: [], key: 'total', desc: true, filter: '', field: 'model' },
    account: { rows: [], key: 'total', desc: true, filter: '', field: 'account_email' },
  };

  // short writes counts like the desktop (ui.Short): 999, 1.2K, 3.4M, 5.6B; one decimal, ".0" dropped.
  function short(n) {
    const neg = n < 0;
    let v = Math.abs(n);
    const units = ['', 'K', 'M', 'B', 'T'];
    let u = 0;
    while (u < units.length - 1 && v >= 999.95) {
      v /= 1000;
      u++;
    }
    let s;
    if (u === 0) {
      s = String(Math.abs(n));
    } else {
      // toFixed rounds the exact binary value, like Go, but sends exact ties up where Go picks the even
      // digit. A double is exactly halfway between tenths only when it is an odd number of quarters.
      const quarters = v * 4;
      if (Number.isInteger(quarters) && quarters % 2 === 1) {
        let q = Math.floor(v * 10);
        if (q % 2 === 1) q++;
        s = (q / 10).toFixed(1);
      } else {
        s = v.toFixed(1);
      }
      if (s.endsWith('.0')) s = s.slice(0, -2);
      s += units[u];
    }
    return neg ? '-' + s : s;
  }

  // exact writes 1,234,567.
  function exact(n) {
    const s = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return n < 0 ? '-' + s : s;
  }

  // money writes dollars like the desktop (ui.Money): cents from a dollar up, four decimals below.
  function money(v) {
    const neg = v < 0;
    const a = Math.abs(v);
    let s;
    if (a === 0) {
      s = '$0';
    } else if (a >= 1) {
      const cents = Math.round(a * 100);
      s = '$' + exact(Math.floor(cents / 100)) + '.' + String(cents % 100).padStart(2, '0');
    } else if (a < 0.00005) {
      s = '<$0.0001';
    } else {
      const t = Math.round(a * 10000);
      let d = String(t).padStart(4, '0').replace(/0+$/, '');
      if (d.length < 2) d = d.padEnd(2, '0');
      s = t >= 10000 ? '$1.00' : '$0.' + d;
    }
    return neg ? '-' + s : s;
  }

  // until writes the time to a reset like the desktop (ui.Until): "45 min", "5 h 20 min", "2 d 3 h".
  function until(iso) {
    const m = Math.ceil((Date.parse(iso) - Date.now()) / 60000);
    if (m < 1) return '<1 min';
    if (m < 60) return m + ' min';
    if (m < 24 * 60) return Math.floor(m / 60) + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
    const h = Math.ceil(m / 60);
    return Math.floor(h / 24) + ' d' + (h % 24 ? ' ' + (h % 24) + ' h' : '');
  }

  // For tests: the formatting must match the desktop's (ui.Short, ui.Exact, ui.Money) number for number.
  window.TokenStatsFormat = Object.freeze({ short, exact, money });

  function setStatus(text, failed) {
    const el = $('status');
    el.textContent = text;
    el.classList.toggle('failed', !!failed);
  }

  async function request(path, opts) {
    const res = await fetch(path, Object.assign({ headers: HEADERS, credentials: 'same-origin', cache: 'no-store' }, opts));
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok || !body || body.success === false) {
      const err = new Error(body && body.error ? body.error : 'HTTP ' + res.status);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  function rangeText() {
    const opt = $('range').selectedOptions[0];
    return opt ? opt.textContent : hours + ' h';
  }

  function load() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    document.body.dataset.state = 'loading';
    const h = hours;
    const q = '?hours=' + h;
    Promise.all([request('/stats/summary' + q), request('/stats/by-model' + q), request('/stats/by-account' + q),
      request('/stats/limits')])
      .then(([sum, models, accounts, limits]) => {
        if (h !== hours) {
          again = true; // the range changed while loading
          return;
        }
        loadSeq++;
        renderCards(sum.data);
        tables.model.rows = toRows(models.data, 'model');
        tables.account.rows = toRows(accounts.data, 'account_email');
        renderTable('model');
        renderTable('account');
        renderLimits(limits);
        renderCharts(true);
        const when = new Date().toLocaleTimeString();
        const how = live === 'live' ? 'live' : live === 'polling' ? 'polling every ' + POLL_MS / 1000 + ' s' : 'connecting';
        setStatus('Loaded ' + rangeText().toLowerCase() + ' at ' + when + ' (' + how + ')');
        document.body.dataset.hours = String(h);
        document.body.dataset.state = 'loaded';
      })
      .catch((err) => {
        document.body.dataset.state = 'error';
        if (err.status === 401) {
          stopPolling(); // nothing to gain from asking again until the user signs in
          setStatus('Signed out: the session ended or the token changed. Reload the page to sign in again.', true);
        } else {
          setStatus('Loading failed: ' + err.message, true);
        }
      })
      .finally(() => {
        inFlight = false;
        if (again) {
          again = false;
          load();
        }
      });
  }

  const CARDS = [
    ['card-total', 'total_tokens'], ['card-input', 'total_input_tokens'], ['card-output', 'total_output_tokens'],
    ['card-cached', 'total_cached_tokens'], ['card-requests', 'total_requests'], ['card-accounts', 'unique_accounts'],
    ['card-models', 'unique_models'],
  ];

  function renderCards(d) {
    for (const [id, key] of CARDS) {
      const card = $(id);
      const v = Number(d[key] || 0);
      card.querySelector('.value').textContent = short(v);
      card.title = exact(v);
      card.dataset.exact = String(v);
    }
  }

  const PERIODS = { day: 'today', week: 'this week', month: 'this month' };

  // renderLimits draws one meter per limit (used of limit, percent, time to reset; amber past the first
  // threshold, red at 100 %) and the re-pricing progress, as the window's Limits section does.
  function renderLimits(res) {
    const list = res.data || [];
    const frag = document.createDocumentFragment();
    for (const l of list) {
      const cost = l.metric === 'cost';
      const unit = cost ? '' : ' ' + l.metric;
      const m = document.createElement('div');
      m.className = 'meter state-' + l.state;
      m.dataset.id = String(l.id);
      m.dataset.percent = String(l.percent);
      const name = document.createElement('div');
      name.className = 'name';
      name.textContent = l.scope === 'all' ? 'All usage' : l.name || '(none)';
      name.title = name.textContent;
      const bar = document.createElement('div');
      bar.className = 'meter-bar';
      const fill = document.createElement('div');
      fill.className = 'meter-fill';
      fill.style.width = Math.min(100, l.percent) + '%';
      bar.appendChild(fill);
      const text = document.createElement('div');
      text.className = 'text';
      let t = Math.floor(l.percent) + ' % · ' + (cost ? money(l.used) : short(l.used)) + ' of ' +
        (cost ? money(l.limit) : short(l.limit)) + unit + ' ' + (PERIODS[l.period] || l.period) + ' · resets in ' + until(l.resets_at);
      if (l.unpriced_requests > 0) t += ' · ' + exact(l.unpriced_requests) + ' requests unpriced';
      text.textContent = t;
      m.append(name, bar, text);
      frag.appendChild(m);
    }
    $('limit-meters').replaceChildren(frag);
    const rp = res.repricing;
    const running = !!(rp && rp.running);
    $('reprice').hidden = !running;
    if (running) {
      const pct = rp.total > 0 ? Math.floor((rp.done * 100) / rp.total) : 0;
      $('reprice').textContent = 'Prices changed: re-pricing history, ' + pct + ' % done';
    }
    $('limits').hidden = list.length === 0 && !running;
  }

  function toRows(data, field) {
    const rows = (data || []).map((r) => ({
      name: String(r[field]), requests: r.request_count, input: r.total_input_tokens, output: r.total_output_tokens,
      cached: r.total_cached_tokens || 0, total: r.total_tokens, share: 0,
    }));
    const sum = rows.reduce((a, r) => a + r.total, 0);
    for (const r of rows) r.share = sum > 0 ? r.total / sum : 0;
    return rows;
  }

  function renderTable(kind) {
    const t = tables[kind];
    const table = $('table-' + kind);
    const body = table.tBodies[0];
    const needle = t.filter.trim().toLowerCase();
    const rows = t.rows.filter((r) => !needle || r.name.toLowerCase().includes(needle));
    rows.sort((a, b) => {
      let c = t.key === 'name' ? a.name.localeCompare(b.name) : a[t.key] - b[t.key];
      if (t.desc) c = -c;
      return c || a.name.localeCompare(b.name);
    });
    for (const th of table.tHead.rows[0].cells) {
      th.setAttribute('aria-sort', th.dataset.key === t.key ? (t.desc ? 'descending' : 'ascending') : 'none');
    }
    const frag = document.createDocumentFragment();
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 7;
      td.className = 'empty';
      td.textContent = t.rows.length === 0 ? 'No data in this range' : 'Nothing matches “' + t.filter.trim() + '”';
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    for (const r of rows) {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      name.className = 'name';
      name.textContent = r.name;
      name.title = r.name;
      tr.appendChild(name);
      for (const key of ['requests', 'input', 'output', 'cached', 'total']) {
        const td = document.createElement('td');
        td.textContent = short(r[key]);
        td.title = exact(r[key]);
        td.dataset.exact = String(r[key]);
        tr.appendChild(td);
      }
      const share = document.createElement('td');
      share.textContent = (r.share * 100).toFixed(1) + '%';
      tr.appendChild(share);
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
  }

  function renderCharts(force) {
    const box = $('chart-model').parentElement;
    const width = Math.max(280, Math.min(2400, Math.round(box.clientWidth || 600)));
    if (!force && Math.abs(width - lastWidth) < 40) return;
    lastWidth = width;
    const height = width < 520 ? 220 : 280;
    const dark = darkQuery && darkQuery.matches ? 1 : 0;
    for (const kind of ['model', 'account']) {
      const img = $('chart-' + kind);
      img.src = '/stats/chart/' + kind + '.svg?hours=' + hours + '&width=' + width + '&height=' + height +
        '&dark=' + dark + '&v=' + loadSeq;
    }
  }

  function startPolling() {
    if (pollTimer === null) pollTimer = setInterval(load, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer !== null) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
  }

  // follow opens the event stream; while it is down the page polls instead.
  function follow() {
    if (!window.EventSource) {
      live = 'polling';
      startPolling();
      return;
    }
    const es = new EventSource('/stats/events');
    es.addEventListener('ready', () => {
      const wasDown = live !== 'live';
      live = 'live';
      stopPolling();
      if (wasDown) load(); // catch up on what happened while the stream was down
    });
    es.addEventListener('change', () => load());
    es.onerror = () => {
      live = 'polling';
      startPolling();
      if (es.readyState === EventSource.CLOSED) {
        setTimeout(follow, 30000); // the browser gave up (e.g. the session ended): try again later
      }
    };
  }

  // Clear data: choose what, then a confirmation that says what goes and that it cannot be undone.
  function setupClear() {
    const dlg = $('clear-dialog');
    const choose = $('clear-choose');
    const confirm = $('clear-confirm');
    let beforeHours = null;
    const step = (second) => {
      choose.hidden = second;
      confirm.hidden = !second;
    };
    $('clear').addEventListener('click', () => {
      step(false);
      dlg.showModal();
    });
    $('clear-cancel').addEventListener('click', () => dlg.close());
    $('clear-back').addEventListener('click', () => step(false));
    $('clear-days').addEventListener('focus', () => {
      $('clear-older').checked = true;
    });
    $('clear-next').addEventListener('click', async () => {
      const what = $('clear-what');
      if ($('clear-older').checked) {
        const days = Number($('clear-days').value);
        if (!Number.isInteger(days) || days < 1 || days > 3650) {
          $('clear-days').setCustomValidity('Enter whole days from 1 to 3650');
          $('clear-days').reportValidity();
          return;
        }
        $('clear-days').setCustomValidity('');
        beforeHours = days * 24;
        const cut = new Date(Date.now() - beforeHours * 3600 * 1000);
        what.textContent = 'Every record older than ' + days + (days === 1 ? ' day' : ' days') +
          ' (before ' + cut.toLocaleString() + ') will be deleted.';
      } else {
        beforeHours = null;
        what.textContent = 'Every record will be deleted.';
        try {
          const info = await request('/stats/db-info');
          what.textContent = 'All ' + exact(info.records) + ' records will be deleted.';
        } catch (e) {
          // keep the general sentence
        }
      }
      step(true);
      $('clear-go').focus();
    });
    $('clear-go').addEventListener('click', async () => {
      const q = beforeHours === null ? '' : '?before_hours=' + beforeHours;
      dlg.close();
      try {
        const res = await request('/stats/clear' + q, { method: 'DELETE' });
        setStatus('Cleared: ' + res.message);
      } catch (err) {
        setStatus('Clearing failed: ' + err.message, true);
        return;
      }
      load();
    });
  }

  function setupTables() {
    for (const kind of Object.keys(tables)) {
      const t = tables[kind];
      $('filter-' + kind).addEventListener('input', (e) => {
        t.filter = e.target.value;
        renderTable(kind);
      });
      for (const th of $('table-' + kind).tHead.rows[0].cells) {
        th.querySelector('button').addEventListener('click', () => {
          const key = th.dataset.key;
          if (t.key === key) {
            t.desc = !t.desc;
          } else {
            t.key = key;
            t.desc = key !== 'name';
          }
          renderTable(kind);
        });
      }
    }
  }

  function start() {
    try {
      const saved = Number(localStorage.getItem('tokenstats.hours'));
      if (saved && [...$('range').options].some((o) => Number(o.value) === saved)) hours = saved;
    } catch (e) {
      // storage may be off; the default range stays
    }
    $('range').value = String(hours);
    $('range').addEventListener('change', () => {
      hours = Number($('range').value);
      try {
        localStorage.setItem('tokenstats.hours', String(hours));
      } catch (e) {
        // not remembered, still applied
      }
      load();
    });
    $('refresh').addEventListener('click', load);
    for (const kind of ['model', 'account']) {
      $('chart-' + kind).addEventListener('error', () => {
        if (document.body.dataset.state === 'loaded') setStatus('A chart failed to load; press Refresh to try again.', true);
      });
    }
    if (darkQuery && darkQuery.addEventListener) darkQuery.addEventListener('change', () => renderCharts(true));
    let resizeTimer = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => renderCharts(false), 250);
    });
    setupTables();
    setupClear();
    load();
    follow();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
