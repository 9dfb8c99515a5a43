// Token Stats browser tab. Plain script, no framework. Every name and message goes in with textContent,
// never as HTML: model and account names come from whatever proxies post.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  // Sent with every request: the server demands it (with a same-origin Origin) for changes made with the
  // session cookie, which a cross-site form or image cannot send.
  const HEADERS = { 'X-TokenStats': '1' };
  const POLL_MS = 5000; // fallback when the event stream is down; never faster than every 2 s
  const SLIDE_MS = 60000; // the window slides with time even when nothing new arrives
  const darkQuery = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
  const STRINGS = JSON.parse(document.body.dataset.strings || '{}');
  const LANG = document.body.dataset.lang || 'en';

  // t is key in the page's language, with {{.Name}} fields filled from vars.
  function t(key, vars) {
    let s = STRINGS[key] || key;
    if (vars) s = s.replace(/\{\{\.(\w+)\}\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }

  // plural picks the key for one or for any other count (English needs two forms, Chinese one).
  function plural(n, one, other, vars) {
    return t(n === 1 ? one : other, Object.assign({ Count: exact(n) }, vars));
  }

  // The colours of names: the twin of package chart's ColorIndex and Palette (FNV-1a of the UTF-8 bytes,
  // modulo the palette), checked against it in a test.
  const PALETTE = ['4e79a7', 'f28e2b', 'e15759', '76b7b2', '59a14f', 'edc948', 'b07aa1', 'ff9da7',
    '9c755f', '332288', '88ccee', '117733', '882255', 'aa4499', '999933', 'b15928'];
  const encoder = new TextEncoder();
  function colorIndex(name) {
    let h = 0x811c9dc5;
    for (const b of encoder.encode(name)) {
      h ^= b;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h % PALETTE.length;
  }

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

  // money writes nano-dollars the way the desktop's cards do (ui.MoneyShort): $0, $0.0042 (two
  // significant digits under a cent), $1,234.56, $12.3K from ten thousand dollars.
  function money(nanos) {
    nanos = Math.round(nanos);
    if (nanos <= 0) return '$0';
    if (nanos < 1e7) {
      const p = Math.pow(10, String(nanos).length - 2);
      const q = Math.floor((nanos + p / 2) / p) * p;
      if (q < 1e7) return '$' + (q / 1e9).toFixed(9).replace(/0+$/, '');
      nanos = q;
    }
    const cents = Math.floor((nanos + 5e6) / 1e7);
    if (cents >= 1e6) return '$' + short(nanos / 1e9); // $10,000.00 and up
    return '$' + exact(Math.floor(cents / 100)) + '.' + String(cents % 100).padStart(2, '0');
  }

  // usdNanos reads a JSON dollar amount as nano-dollars.
  function usdNanos(v) {
    return v === null || v === undefined ? null : Math.round(Number(v) * 1e9);
  }

  // until writes the time to a reset like the desktop (ui.Until): "45 min", "5 h 20 min", "2 d 3 h".
  function until(iso) {
    const m = Math.ceil((Date.parse(iso) - Date.now()) / 60000);
    if (m < 1) return t('<1 min');
    if (m < 60) return t('{{.M}} min', { M: m });
    if (m < 24 * 60) return m % 60 ? t('{{.H}} h {{.M}} min', { H: Math.floor(m / 60), M: m % 60 }) : t('{{.H}} h', { H: m / 60 });
    const h = Math.ceil(m / 60);
    return h % 24 ? t('{{.D}} d {{.H}} h', { D: Math.floor(h / 24), H: h % 24 }) : t('{{.D}} d', { D: h / 24 });
  }

  function percent(part, whole) {
    return whole > 0 ? (part / whole * 100).toFixed(1) + '%' : '–';
  }

  // For tests: the formatting and colours must match the desktop's number for number.
  window.TokenStatsFormat = Object.freeze({ short, exact, money, colorIndex, palette: PALETTE.slice() });

  const DIMS = {
    model: { field: 'model', route: '/stats/by-model', head: 'Model', chip: 'Model' },
    account: { field: 'account_email', route: '/stats/by-account', head: 'Account', chip: 'Account' },
    source: { field: 'source', route: '/stats/by-source', head: 'Source', chip: 'Source' },
    credential: { field: 'credential', route: '/stats/by-credential', head: 'Credential', chip: 'Credential' },
  };
  const CHARTS = ['model', 'account'];

  let hours = 24;
  let granularity = ''; // '' = the range's default
  let metric = 'tokens';
  const filters = { model: [], account: [], source: [], credential: [] };
  const cols = { creation: false, reasoning: false, hitrate: false };
  const tables = {};
  for (const d of Object.keys(DIMS)) tables[d] = { rows: [], key: 'total', desc: true };
  const panels = { left: { dim: 'model', filter: '' }, right: { dim: 'account', filter: '' } };
  const charts = {}; // the last chart JSON per dimension
  let loadSeq = 0;
  let inFlight = false;
  let again = false;
  let live = 'connecting';
  let pollTimer = null;
  let lastWidth = 0;

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

  // query is the range and every filter but the one of dimension omit: a table is narrowed by the other
  // tables' choices, so more of its own names can still be picked.
  function query(omit) {
    const p = new URLSearchParams({ hours: String(hours) });
    for (const d of Object.keys(filters)) {
      if (d === omit) continue;
      for (const v of filters[d]) p.append(d, v);
    }
    return '?' + p.toString();
  }

  function chartQuery() {
    const box = $('chart-model').parentElement;
    const width = Math.max(280, Math.min(2400, Math.round(box.clientWidth || 600)));
    lastWidth = width;
    const p = new URLSearchParams(query(null).slice(1));
    p.set('width', String(width));
    p.set('height', String(width < 520 ? 220 : 280));
    p.set('scale', String(Math.min(4, Math.max(1, Math.round((window.devicePixelRatio || 1) * 4) / 4))));
    p.set('metric', metric);
    if (granularity) p.set('granularity', granularity);
    p.set('dark', darkQuery && darkQuery.matches ? '1' : '0');
    p.set('lang', LANG);
    return '?' + p.toString();
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
    const asked = JSON.stringify([hours, granularity, metric, filters]);
    const dims = Object.keys(DIMS);
    const cq = chartQuery();
    Promise.all([
      request('/stats/summary' + query(null)),
      Promise.all(dims.map((d) => request(DIMS[d].route + query(d)))),
      Promise.all(CHARTS.map((d) => request('/stats/chart/' + d + '.json' + cq))),
      request('/stats/limits'),
    ])
      .then(([sum, rows, chartData, limits]) => {
        if (asked !== JSON.stringify([hours, granularity, metric, filters])) {
          again = true; // the view changed while loading
          return;
        }
        loadSeq++;
        CHARTS.forEach((d, i) => {
          charts[d] = chartData[i];
          charts[d].query = cq;
        });
        dims.forEach((d, i) => {
          tables[d].rows = toRows(rows[i].data, d);
        });
        renderCards(sum.data);
        renderPanels();
        renderCharts();
        renderChips();
        renderLimits(limits);
        loadSources();
        const how = live === 'live' ? t('live') : live === 'polling' ? t('polling every {{.Seconds}} s', { Seconds: POLL_MS / 1000 }) : t('connecting');
        setStatus(t('Updated {{.Time}}', { Time: new Date().toLocaleTimeString(LANG) }) + ' · ' + rangeText() + ' · ' + how);
        document.body.dataset.hours = String(h);
        document.body.dataset.state = 'loaded';
        document.body.dataset.seq = String(loadSeq);
      })
      .catch((err) => {
        document.body.dataset.state = 'error';
        if (err.status === 401) {
          stopPolling(); // nothing to gain from asking again until the user signs in
          setStatus(t('Signed out: the session ended or the token changed. Reload the page to sign in again.'), true);
        } else {
          setStatus(t('Loading failed: {{.Error}}', { Error: err.message }), true);
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

  function setCard(id, text, title, exactValue, note) {
    const card = $(id);
    card.querySelector('.value').textContent = text;
    card.querySelector('.note').textContent = note || '';
    card.title = title;
    card.dataset.exact = String(exactValue);
  }

  function renderCards(d) {
    const n = (k) => Number(d[k] || 0);
    const input = n('total_input_tokens');
    const cached = n('total_cached_tokens');
    setCard('card-total', short(n('total_tokens')), exact(n('total_tokens')), n('total_tokens'));
    setCard('card-input', short(input), exact(input) + '\n' + t('includes {{.Cached}} cached and {{.Creation}} cache-creation tokens',
      { Cached: exact(cached), Creation: exact(n('total_cache_creation_tokens')) }), input);
    setCard('card-output', short(n('total_output_tokens')), exact(n('total_output_tokens')) + '\n' +
      t('includes {{.Reasoning}} reasoning tokens', { Reasoning: exact(n('total_reasoning_tokens')) }), n('total_output_tokens'));
    let note = t('{{.Rate}} hit rate', { Rate: percent(cached, input) });
    const saved = usdNanos(d.cache_savings_usd);
    if (saved !== null) note += ' · ' + t('saved {{.Amount}}', { Amount: money(saved) });
    setCard('card-cached', short(cached), exact(cached) + '\n' + t('hit rate = cached ÷ input'), cached, note);
    setCard('card-requests', exact(n('total_requests')), exact(n('total_requests')), n('total_requests'));
    const cost = usdNanos(d.estimated_cost_usd);
    const unpriced = n('unpriced_requests');
    // No price for any request: the cost is unknown ("—"), not $0.
    let costTitle = cost === null ? t('No price for this model') : '$' + String(d.estimated_cost_usd);
    if (n('agent_cost_requests') > 0) {
      costTitle += '\n' + plural(n('agent_cost_requests'), 'The tools reported {{.Amount}} for 1 of these requests',
        'The tools reported {{.Amount}} for {{.Count}} of these requests', { Amount: money(usdNanos(d.agent_cost_usd)) });
    }
    setCard('card-cost', cost === null ? '—' : money(cost), costTitle, cost === null ? '' : d.estimated_cost_usd,
      unpriced > 0 ? plural(unpriced, '1 request unpriced', '{{.Count}} requests unpriced') : '');
    setCard('card-accounts', exact(n('unique_accounts')), exact(n('unique_accounts')), n('unique_accounts'));
    setCard('card-models', exact(n('unique_models')), exact(n('unique_models')), n('unique_models'));
  }

  // metricAmount writes a limit's tokens or requests as the window's Limits section does.
  function metricAmount(metric, v) {
    return metric === 'requests' ? t('{{.Count}} requests', { Count: short(v) }) : t('{{.Count}} tokens', { Count: short(v) });
  }

  const PERIODS = { day: 'today', week: 'this week', month: 'this month' };

  // renderLimits draws one meter per limit (used of limit, percent, time to reset; amber past the first
  // threshold, red at 100 %) and the re-pricing progress, as the window's Limits section does.
  function renderLimits(res) {
    const list = res.data || [];
    const frag = document.createDocumentFragment();
    for (const l of list) {
      const cost = l.metric === 'cost';
      const m = document.createElement('div');
      m.className = 'meter state-' + l.state;
      m.dataset.id = String(l.id);
      m.dataset.percent = String(l.percent);
      const name = document.createElement('div');
      name.className = 'name';
      name.textContent = l.scope === 'all' ? t('All usage') : l.name || t('(none)');
      name.title = name.textContent;
      const bar = document.createElement('div');
      bar.className = 'meter-bar';
      const fill = document.createElement('div');
      fill.className = 'meter-fill';
      fill.style.width = Math.min(100, l.percent) + '%';
      bar.appendChild(fill);
      const text = document.createElement('div');
      text.className = 'text';
      const amount = (v) => (cost ? money(usdNanos(v)) : metricAmount(l.metric, v));
      let line = t('{{.Percent}} · {{.Used}} of {{.Limit}} {{.Period}} · resets in {{.Until}}', {
        Percent: Math.floor(l.percent) + ' %', Used: amount(l.used), Limit: amount(l.limit),
        Period: t(PERIODS[l.period] || l.period), Until: until(l.resets_at) });
      if (l.unpriced_requests > 0) line += ' · ' + t('{{.Count}} requests unpriced', { Count: exact(l.unpriced_requests) });
      text.textContent = line;
      m.append(name, bar, text);
      frag.appendChild(m);
    }
    $('limit-meters').replaceChildren(frag);
    const rp = res.repricing;
    const running = !!(rp && rp.running);
    $('reprice').hidden = !running;
    if (running) {
      const pct = rp.total > 0 ? Math.floor((rp.done * 100) / rp.total) : 0;
      $('reprice').textContent = t('Prices changed: re-pricing history, {{.Percent}} % done', { Percent: pct });
    }
    $('limits').hidden = list.length === 0 && !running;
  }

  function toRows(data, dim) {
    const field = DIMS[dim].field;
    const rows = (data || []).map((r) => ({
      name: String(r[field]), requests: r.request_count, input: r.total_input_tokens, output: r.total_output_tokens,
      cached: r.total_cached_tokens || 0, creation: r.total_cache_creation_tokens || 0, reasoning: r.total_reasoning_tokens || 0,
      total: r.total_tokens, cost: usdNanos(r.estimated_cost_usd), costExact: r.estimated_cost_usd, unpriced: r.unpriced_requests || 0,
      agentCost: usdNanos(r.agent_cost_usd) || 0, agentRequests: r.agent_cost_requests || 0,
      hitrate: r.total_input_tokens > 0 ? (r.total_cached_tokens || 0) / r.total_input_tokens : 0, share: 0,
    }));
    const sum = rows.reduce((a, r) => a + r.total, 0);
    for (const r of rows) r.share = sum > 0 ? r.total / sum : 0;
    return rows;
  }

  // columns are a table's columns: name, the counts (cache creation, reasoning and hit rate when chosen),
  // cost and share. Input and output say what they include.
  function columns(dim) {
    const c = [{ key: 'name', title: t(DIMS[dim].head) }, { key: 'requests', title: t('Requests'), kind: 'exact' },
      { key: 'input', title: t('Input'), note: t('incl. cached') }, { key: 'cached', title: t('Cached') }];
    if (cols.creation) c.push({ key: 'creation', title: t('Cache creation') });
    c.push({ key: 'output', title: t('Output'), note: t('incl. reasoning') });
    if (cols.reasoning) c.push({ key: 'reasoning', title: t('Reasoning') });
    if (cols.hitrate) c.push({ key: 'hitrate', title: t('Hit rate'), kind: 'rate' });
    c.push({ key: 'total', title: t('Total') }, { key: 'cost', title: t('Cost'), kind: 'money' },
      { key: 'share', title: t('Share'), kind: 'rate' });
    return c;
  }

  // swatchOf is how a name is painted: as in the chart of its dimension when it is there (pattern
  // included), else its own colour.
  function swatchOf(dim, name) {
    const c = charts[dim];
    if (c) {
      for (const s of c.series) {
        if (!s.other && s.name === name) return { color: s.color, pattern: s.pattern };
      }
    }
    return { color: PALETTE[colorIndex(name)], pattern: 'solid' };
  }

  function paint(el, sw) {
    el.style.backgroundColor = '#' + sw.color;
    const lines = { stripes: ['45deg'], 'back-stripes': ['-45deg'], 'cross-hatch': ['45deg', '-45deg'] }[sw.pattern] || [];
    el.style.backgroundImage = lines.map((a) => 'repeating-linear-gradient(' + a + ', transparent 0 2px, var(--panel) 2px 3.5px)').join(', ');
    el.dataset.color = sw.color;
    el.dataset.pattern = sw.pattern;
  }

  // shown is how a name reads: records without a source or credential have the name "".
  function shown(name) {
    return name === '' ? t('(none)') : name;
  }

  function renderPanels() {
    for (const side of Object.keys(panels)) renderTable(side);
  }

  function renderTable(side) {
    const p = panels[side];
    const dim = p.dim;
    const tb = tables[dim];
    const panel = $('panel-' + side);
    const table = panel.querySelector('table');
    panel.dataset.dim = dim;
    for (const tab of panel.querySelectorAll('[role="tab"]')) tab.setAttribute('aria-selected', String(tab.dataset.dim === dim));
    const cs = columns(dim);
    const head = document.createElement('tr');
    for (const c of cs) {
      const th = document.createElement('th');
      th.dataset.key = c.key;
      if (c.key === 'name') th.className = 'name';
      th.setAttribute('aria-sort', c.key === tb.key ? (tb.desc ? 'descending' : 'ascending') : 'none');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = c.title;
      if (c.note) {
        const small = document.createElement('small');
        small.textContent = c.note;
        b.appendChild(small);
      }
      b.addEventListener('click', () => {
        if (tb.key === c.key) {
          tb.desc = !tb.desc;
        } else {
          tb.key = c.key;
          tb.desc = c.key !== 'name';
        }
        renderTable(side);
      });
      th.appendChild(b);
      head.appendChild(th);
    }
    table.tHead.replaceChildren(head);
    const needle = p.filter.trim().toLowerCase();
    const rows = tb.rows.filter((r) => !needle || shown(r.name).toLowerCase().includes(needle));
    const val = (r) => (tb.key === 'cost' ? (r.cost === null ? -1 : r.cost) : r[tb.key]);
    rows.sort((a, b) => {
      let c = tb.key === 'name' ? a.name.localeCompare(b.name) : val(a) - val(b);
      if (tb.desc) c = -c;
      return c || a.name.localeCompare(b.name);
    });
    const frag = document.createDocumentFragment();
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = cs.length;
      td.className = 'empty';
      td.textContent = tb.rows.length === 0 ? t('No data in this range') : t('Nothing matches “{{.Filter}}”', { Filter: p.filter.trim() });
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    const picked = filters[dim];
    for (const r of rows) {
      const tr = document.createElement('tr');
      tr.className = 'pick';
      tr.tabIndex = 0;
      tr.dataset.name = r.name;
      const on = picked.includes(r.name);
      tr.setAttribute('aria-selected', String(on));
      tr.title = on ? t('Click to remove this filter') : t('Click to show only this');
      tr.addEventListener('click', () => toggleFilter(dim, r.name));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          toggleFilter(dim, r.name);
        }
      });
      for (const c of cs) {
        const td = document.createElement('td');
        if (c.key === 'name') {
          td.className = 'name';
          const dot = document.createElement('span');
          dot.className = 'dot';
          paint(dot, swatchOf(dim, r.name));
          const text = document.createElement('span');
          text.textContent = shown(r.name);
          td.append(dot, text);
          td.title = shown(r.name);
        } else if (c.kind === 'money') {
          td.textContent = r.cost === null ? '—' : money(r.cost);
          let title = r.cost === null ? t('No price for this model') : '$' + r.costExact;
          if (r.unpriced > 0) title += '\n' + plural(r.unpriced, '1 request unpriced', '{{.Count}} requests unpriced');
          if (r.agentRequests > 0) {
            title += '\n' + plural(r.agentRequests, 'The tools reported {{.Amount}} for 1 of these requests',
              'The tools reported {{.Amount}} for {{.Count}} of these requests', { Amount: money(r.agentCost) });
          }
          td.title = title;
          td.dataset.exact = r.cost === null ? '' : String(r.costExact);
        } else if (c.kind === 'rate') {
          td.textContent = (r[c.key] * 100).toFixed(1) + '%';
        } else {
          td.textContent = c.kind === 'exact' ? exact(r[c.key]) : short(r[c.key]);
          td.title = exact(r[c.key]);
          td.dataset.exact = String(r[c.key]);
        }
        td.dataset.key = c.key;
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    table.tBodies[0].replaceChildren(frag);
  }

  function toggleFilter(dim, name) {
    const list = filters[dim];
    const i = list.indexOf(name);
    if (i >= 0) {
      list.splice(i, 1);
    } else {
      list.push(name);
    }
    renderChips();
    load();
  }

  function renderChips() {
    const box = $('chips');
    const frag = document.createDocumentFragment();
    let any = false;
    for (const dim of Object.keys(filters)) {
      for (const v of filters[dim]) {
        any = true;
        const chip = document.createElement('span');
        chip.className = 'chip';
        chip.dataset.dim = dim;
        chip.dataset.name = v;
        const label = document.createElement('span');
        label.className = 'chip-dim';
        label.textContent = t(DIMS[dim].chip);
        const name = document.createElement('span');
        name.textContent = shown(v);
        const x = document.createElement('button');
        x.type = 'button';
        x.textContent = '×';
        x.setAttribute('aria-label', t('Remove filter {{.Name}}', { Name: shown(v) }));
        x.addEventListener('click', () => toggleFilter(dim, v));
        chip.append(label, name, x);
        frag.appendChild(chip);
      }
    }
    box.replaceChildren(frag);
    $('filters').hidden = !any;
  }

  function renderCharts() {
    for (const dim of CHARTS) {
      const c = charts[dim];
      if (!c) continue;
      const img = $('chart-' + dim);
      img.src = c.image;
      img.dataset.seq = String(loadSeq);
      img.dataset.query = c.query; // what was asked, so a test can ask the API the same
    }
    const c = charts.model;
    if (c) {
      const sel = $('granularity');
      for (const o of sel.options) o.disabled = !c.granularities.includes(o.value);
      sel.value = c.granularity;
      sel.disabled = c.granularities.length < 2;
    }
  }

  // hover shows, for the period under the pointer, its time and each series' exact value, top of the
  // stack first, from the chart JSON the image came with.
  function setupHover(dim) {
    const img = $('chart-' + dim);
    const tip = img.parentElement.querySelector('.tip');
    const hide = () => {
      tip.hidden = true;
      delete tip.dataset.period;
    };
    const show = (e) => {
      const c = charts[dim];
      const r = img.getBoundingClientRect();
      if (!c || r.width === 0 || c.periods.length === 0) return hide();
      const x = (e.clientX - r.left) * c.width / r.width;
      const y = (e.clientY - r.top) * c.height / r.height;
      const pl = c.plot;
      if (x < pl.left || x >= pl.right || y < pl.top || y > pl.bottom) return hide();
      const i = Math.min(c.periods.length - 1, Math.floor((x - pl.left) / (pl.right - pl.left) * c.periods.length));
      const p = c.periods[i];
      const frag = document.createDocumentFragment();
      const when = document.createElement('div');
      when.className = 'tip-time';
      when.textContent = p.time + (p.partial ? ' · ' + t('in progress') : '');
      frag.appendChild(when);
      for (let k = c.series.length - 1; k >= 0; k--) {
        const s = c.series[k];
        if (!(s.values[i] > 0)) continue;
        const row = document.createElement('div');
        row.className = 'tip-row';
        const dot = document.createElement('span');
        dot.className = 'dot';
        paint(dot, { color: s.color, pattern: s.pattern });
        const name = document.createElement('span');
        name.className = 'tip-name';
        name.textContent = s.label;
        const v = document.createElement('span');
        v.className = 'tip-value';
        v.textContent = s.text[i];
        row.append(dot, name, v);
        frag.appendChild(row);
      }
      const total = document.createElement('div');
      total.className = 'tip-row tip-total';
      const tl = document.createElement('span');
      tl.className = 'tip-name';
      tl.textContent = t('Total');
      const tv = document.createElement('span');
      tv.className = 'tip-value';
      tv.textContent = p.total;
      total.append(tl, tv);
      frag.appendChild(total);
      tip.replaceChildren(frag);
      tip.dataset.period = String(i);
      tip.hidden = false;
      const box = img.parentElement.getBoundingClientRect();
      let left = e.clientX - box.left + 14;
      if (left + tip.offsetWidth > box.width) left = Math.max(0, e.clientX - box.left - tip.offsetWidth - 14);
      tip.style.left = left + 'px';
      tip.style.top = Math.max(0, e.clientY - box.top - tip.offsetHeight / 2) + 'px';
    };
    img.addEventListener('mousemove', show);
    img.addEventListener('click', show);
    img.addEventListener('mouseleave', hide);
  }

  // The Sources section: read with every refresh, so a source shows as soon as its first record does.
  function loadSources() {
    request('/stats/sources')
      .then((res) => renderSources(res.data || []))
      .catch(() => {
        // the status line already says when loading fails; the section keeps what it showed
      });
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString(LANG) : '—';
  }

  function renderSources(list) {
    const frag = document.createDocumentFragment();
    if (list.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 6;
      td.className = 'empty';
      td.textContent = t('No source has reported yet. Point a tool at the pass-through (/proxy/…) or post to /usage, and it shows here.');
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    for (const s of list) {
      const tr = document.createElement('tr');
      const cell = (text, cls, title) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        if (title) td.title = title;
        tr.appendChild(td);
        return td;
      };
      cell(s.name === '' ? t('(none)') : s.name, 'name', s.name);
      cell(s.kind, 'text');
      cell(short(s.records_today), '', exact(s.records_today)).dataset.exact = String(s.records_today);
      cell(short(s.tokens_today), '', exact(s.tokens_today)).dataset.exact = String(s.tokens_today);
      cell(when(s.last), 'text');
      cell(s.error ? when(s.error_at) + ' · ' + s.error : s.note, 'text error');
      frag.appendChild(tr);
    }
    $('table-sources').tBodies[0].replaceChildren(frag);
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
      let nothing = false;
      if ($('clear-older').checked) {
        const days = Number($('clear-days').value);
        if (!Number.isInteger(days) || days < 1 || days > 3650) {
          $('clear-days').setCustomValidity(t('Enter a whole number of days from 1 to 3650.'));
          $('clear-days').reportValidity();
          return;
        }
        $('clear-days').setCustomValidity('');
        beforeHours = days * 24;
        const cut = new Date(Date.now() - beforeHours * 3600 * 1000);
        what.textContent = plural(days, 'Every record older than 1 day (before {{.Date}}) will be deleted.',
          'Every record older than {{.Count}} days (before {{.Date}}) will be deleted.', { Date: cut.toLocaleString(LANG) });
      } else {
        beforeHours = null;
        what.textContent = t('Every record will be deleted.');
        try {
          const info = await request('/stats/db-info');
          nothing = info.records === 0;
          what.textContent = nothing ? t('There are no usage records to delete.')
            : plural(info.records, 'The only record will be deleted.', 'All {{.Count}} records will be deleted.');
        } catch (e) {
          // keep the general sentence
        }
      }
      $('clear-go').hidden = nothing;
      $('clear-undo').hidden = nothing;
      step(true);
      (nothing ? $('clear-back') : $('clear-go')).focus();
    });
    $('clear-go').addEventListener('click', async () => {
      const q = beforeHours === null ? '' : '?before_hours=' + beforeHours;
      dlg.close();
      try {
        const res = await request('/stats/clear' + q, { method: 'DELETE' });
        setStatus(plural(res.deleted, 'Deleted 1 record.', 'Deleted {{.Count}} records.'));
      } catch (err) {
        setStatus(t('Clearing failed: {{.Error}}', { Error: err.message }), true);
        return;
      }
      load();
    });
  }

  function setupTables() {
    for (const side of Object.keys(panels)) {
      const panel = $('panel-' + side);
      panel.querySelector('.filter').addEventListener('input', (e) => {
        panels[side].filter = e.target.value;
        renderTable(side);
      });
      for (const tab of panel.querySelectorAll('[role="tab"]')) {
        tab.addEventListener('click', () => {
          panels[side].dim = tab.dataset.dim;
          renderTable(side);
        });
      }
    }
    for (const [id, key] of [['col-creation', 'creation'], ['col-reasoning', 'reasoning'], ['col-hitrate', 'hitrate']]) {
      $(id).checked = cols[key];
      $(id).addEventListener('change', (e) => {
        cols[key] = e.target.checked;
        remember('cols', JSON.stringify(cols));
        renderPanels();
      });
    }
  }

  function remember(key, value) {
    try {
      localStorage.setItem('tokenstats.' + key, value);
    } catch (e) {
      // not remembered, still applied
    }
  }

  function recall(key) {
    try {
      return localStorage.getItem('tokenstats.' + key);
    } catch (e) {
      return null; // storage may be off; the defaults stay
    }
  }

  // setupDownload turns a choice of the Download menu into a download of the range and filters shown:
  // the server answers with Content-Disposition: attachment, so the page stays where it is.
  function setupDownload() {
    const sel = $('download');
    sel.addEventListener('change', () => {
      const path = sel.value;
      sel.value = '';
      if (path) window.location.assign(path + '&' + query().slice(1));
    });
  }

  function start() {
    const saved = Number(recall('hours'));
    if (saved && [...$('range').options].some((o) => Number(o.value) === saved)) hours = saved;
    if (['tokens', 'cost', 'requests'].includes(recall('metric'))) metric = recall('metric');
    try {
      Object.assign(cols, JSON.parse(recall('cols') || '{}'));
    } catch (e) {
      // a bad value: the defaults stay
    }
    $('range').value = String(hours);
    $('metric').value = metric;
    $('lang').value = LANG;
    $('range').addEventListener('change', () => {
      hours = Number($('range').value);
      granularity = '';
      remember('hours', String(hours));
      load();
    });
    $('granularity').addEventListener('change', () => {
      granularity = $('granularity').value;
      load();
    });
    $('metric').addEventListener('change', () => {
      metric = $('metric').value;
      remember('metric', metric);
      load();
    });
    $('lang').addEventListener('change', () => {
      window.location.assign('/?lang=' + encodeURIComponent($('lang').value));
    });
    $('refresh').addEventListener('click', load);
    $('clear-filters').addEventListener('click', () => {
      for (const d of Object.keys(filters)) filters[d] = [];
      renderChips();
      load();
    });
    if (darkQuery && darkQuery.addEventListener) darkQuery.addEventListener('change', load);
    let resizeTimer = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        const box = $('chart-model').parentElement;
        if (Math.abs((box.clientWidth || 0) - lastWidth) >= 40) load();
      }, 250);
    });
    for (const dim of CHARTS) setupHover(dim);
    setupTables();
    setupClear();
    setupDownload();
    load();
    follow();
    setInterval(load, SLIDE_MS);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
