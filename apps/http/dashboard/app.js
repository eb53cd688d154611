// The rtrec dashboard: plain JavaScript, no framework, no external file.
// Three pages share this script (the server answers index.html for each):
//   /dashboard              overview: live figures, charts, shards, cluster,
//                           popular and latest items (refreshes every 2 s)
//   /dashboard/user/{id}    recent items, recommendations with scores, "why"
//   /dashboard/item/{id}    neighbors and popularity
// Every figure comes from the HTTP API, sent with the X-API-Key header when
// the user gave a key (#key=... in the URL, or the form shown after a 401).
// <body data-state> is "loading", then "ready", "not-found", "need-key" or
// "error" (tests and screenshots wait for it).
'use strict';

const REFRESH_MS = 2000;
const HISTORY = 60;          // chart points kept (2 minutes)
const WHY_RECENT = 10;       // recent items asked for their neighbors
const WHY_NEIGHBORS = 100;   // neighbors read per recent item
const POPULAR_SCAN = 100;    // popular items searched for an item's rank

// -- small helpers -------------------------------------------------------------

class NeedKey extends Error {}
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {}))
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  for (const c of children)
    if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function fmt(x, digits) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (digits !== undefined) return Number(x).toFixed(digits);
  return Number.isInteger(x) ? x.toLocaleString('en-US') : x.toFixed(2);
}

function ms(seconds) { return seconds === undefined ? '–' : fmt(seconds * 1000, 2) + ' ms'; }

function setState(state) { document.body.dataset.state = state; }

// The API key: from #key=... (kept for this tab), else what the form stored.
function apiKey() {
  const m = /(?:^#|&)key=([^&]*)/.exec(location.hash);
  if (m) sessionStorage.setItem('rtrec-key', decodeURIComponent(m[1]));
  return sessionStorage.getItem('rtrec-key');
}

// A link to another dashboard page, carrying the key's fragment along.
function pageHref(kind, id) {
  const base = kind ? `/dashboard/${kind}/${encodeURIComponent(id)}` : '/dashboard';
  return base + (location.hash.includes('key=') ? location.hash : '');
}

function itemLink(id) { return el('a', { href: pageHref('item', id) }, id); }

// GET path from the API; throws NeedKey on 401, ApiError with the API's
// message on any other failure.
async function api(path, headers) {
  const h = Object.assign({}, headers || {});
  const key = apiKey();
  if (key) h['X-API-Key'] = key;
  const res = await fetch(path, { headers: h, cache: 'no-store' });
  const text = await res.text();
  if (res.status === 401) throw new NeedKey();
  let body;
  try { body = JSON.parse(text); } catch (e) { body = undefined; }
  if (!res.ok) throw new ApiError(res.status, (body && body.error) || `HTTP ${res.status}`);
  return body;
}

function show(...nodes) {
  const main = document.getElementById('main');
  main.replaceChildren(...nodes);
}

function message(text, isError) {
  return el('p', { id: 'message', class: isError ? 'message error' : 'message' }, text);
}

function askForKey() {
  const input = el('input', { name: 'key', type: 'password', placeholder: 'API key',
                              'aria-label': 'API key', required: '' });
  const form = el('form', { class: 'key' }, input, el('button', {}, 'Use this key'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem('rtrec-key', input.value);
    location.reload();
  });
  show(message('This server requires an API key (the same key as the API\'s X-API-Key ' +
                'header). Enter it, or open the page as /dashboard#key=YOUR_KEY.', true), form);
  setState('need-key');
}

function fail(err) {
  if (err instanceof NeedKey) return askForKey();
  show(message(`Could not load this page: ${err.message}`, true));
  setState('error');
}

// -- charts (inline SVG) ---------------------------------------------------------

// A line chart of several series (arrays of numbers, newest last).
function lineChart(series, names, width, height) {
  const svg = svgEl('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  const pad = 28;
  const max = Math.max(1, ...series.flat());
  svg.append(svgEl('line', { class: 'axis', x1: pad, y1: height - pad, x2: width, y2: height - pad }));
  svg.append(svgEl('line', { class: 'axis', x1: pad, y1: 4, x2: pad, y2: height - pad }));
  const top = svgEl('text', { x: 2, y: 12 });
  top.textContent = fmt(max, max < 10 ? 1 : 0);
  svg.append(top);
  series.forEach((values, k) => {
    if (values.length < 2) return;
    const step = (width - pad) / (HISTORY - 1);
    const x0 = width - step * (values.length - 1);
    const pts = values.map((v, i) =>
      `${(x0 + i * step).toFixed(1)},${(height - pad - (v / max) * (height - pad - 8)).toFixed(1)}`);
    svg.append(svgEl('polyline', { class: `s${k}`, points: pts.join(' ') }));
  });
  const legend = el('div', { class: 'legend' },
    ...names.map((n, k) => el('span', { class: `k${k}` }, `■ ${n}`)));
  return el('div', {}, svg, legend);
}

// A bar chart: one bar per {label, value}.
function barChart(bars, width, height, cls) {
  const svg = svgEl('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  const max = Math.max(1, ...bars.map((b) => b.value));
  const slot = width / Math.max(1, bars.length);
  bars.forEach((b, i) => {
    const h = (b.value / max) * (height - 28);
    svg.append(svgEl('rect', { class: `bar ${cls || ''}`, x: i * slot + 2, y: height - 16 - h,
                               width: Math.max(2, slot - 4), height: h }));
    const label = svgEl('text', { x: i * slot + 2, y: height - 4 });
    label.textContent = b.label;
    const value = svgEl('text', { x: i * slot + 2, y: Math.max(10, height - 20 - h) });
    value.textContent = fmt(b.value);
    svg.append(label, value);
  });
  return svg;
}

// -- overview ------------------------------------------------------------------

const history = { events: [], recommends: [], last: undefined };

function figure(id, label, value, raw) {
  return el('div', { class: 'figure' }, el('div', { class: 'label' }, label),
            el('div', { class: 'value', id, 'data-value': raw }, value));
}

// Per-second rates from the counters of the last two polls.
function rates(stats) {
  const now = performance.now();
  const prev = history.last;
  history.last = { now, events: stats.EventsApplied || 0, recommends: stats.Requests.Recommend };
  if (!prev || now <= prev.now) return {};
  const dt = (now - prev.now) / 1000;
  const r = { events: (history.last.events - prev.events) / dt,
              recommends: (history.last.recommends - prev.recommends) / dt };
  history.events.push(r.events);
  history.recommends.push(r.recommends);
  for (const k of ['events', 'recommends'])
    if (history[k].length > HISTORY) history[k].shift();
  return r;
}

function figures(stats, r) {
  const lat = stats.Latency.Recommend;
  return el('div', { class: 'grid' },
    figure('stat-users', 'Users', fmt(stats.Users), stats.Users),
    figure('stat-items', 'Items', fmt(stats.Items), stats.Items),
    figure('stat-events', 'Events applied', fmt(stats.EventsApplied), stats.EventsApplied),
    figure('stat-events-rate', 'Events/s', fmt(r.events, 1), r.events),
    figure('stat-recommends', 'Recommend requests', fmt(stats.Requests.Recommend),
           stats.Requests.Recommend),
    figure('stat-recommend-rate', 'Recommend/s', fmt(r.recommends, 1), r.recommends),
    figure('stat-p50', 'Recommend p50', ms(lat.P50), lat.P50),
    figure('stat-p95', 'Recommend p95', ms(lat.P95), lat.P95),
    figure('stat-p99', 'Recommend p99', ms(lat.P99), lat.P99),
    figure('stat-lag', 'Item-side lag p99', ms(stats.ItemLagP99Seconds), stats.ItemLagP99Seconds),
    figure('stat-in-flight', 'Events in flight', fmt(stats.EventsInFlight), stats.EventsInFlight),
    figure('stat-feedback', 'Feedback accepted (HTTP)', fmt(stats.FeedbackAccepted),
           stats.FeedbackAccepted));
}

function shardPanel(stats) {
  const shards = stats.Shards || { Profile: [], Item: [] };
  const rows = shards.Profile.map((s) =>
    el('tr', { 'data-shard': s.Shard }, el('td', {}, s.Shard), el('td', {}, fmt(s.Users)),
       el('td', {}, fmt(s.EventsApplied)), el('td', {}, fmt(s.QueueDepth))));
  const itemRows = shards.Item.map((s) =>
    el('tr', {}, el('td', {}, s.Shard), el('td', {}, fmt(s.Items)), el('td', {}, fmt(s.RowEntries)),
       el('td', {}, ms(s.LagP99Seconds))));
  return el('section', { class: 'panel', id: 'shards' },
    el('h2', {}, 'Per-shard load'),
    el('div', { class: 'muted' }, 'Events applied per profile shard'),
    barChart(shards.Profile.map((s) => ({ label: `p${s.Shard}`, value: s.EventsApplied })), 360, 90),
    el('table', { id: 'profile-shards' },
       el('tr', {}, el('th', {}, 'Profile shard'), el('th', {}, 'Users'),
          el('th', {}, 'Events applied'), el('th', {}, 'Queue')), ...rows),
    el('div', { class: 'muted' }, 'Items per item shard'),
    barChart(shards.Item.map((s) => ({ label: `i${s.Shard}`, value: s.Items })), 360, 70, 'item'),
    el('table', { id: 'item-shards' },
       el('tr', {}, el('th', {}, 'Item shard'), el('th', {}, 'Items'),
          el('th', {}, 'Co-occurrence entries'), el('th', {}, 'Lag p99')), ...itemRows));
}

function clusterPanel(cluster) {
  const panel = el('section', { class: 'panel', id: 'cluster', 'data-enabled': cluster.Enabled },
                   el('h2', {}, 'Cluster map'));
  if (!cluster.Enabled) {
    panel.append(el('p', {}, 'Single process (rtrec serve): every shard runs here.'));
    return panel;
  }
  panel.append(el('p', { class: 'muted' },
    `This node: ${cluster.Self}. Map ${cluster.Complete ? 'complete' : 'incomplete'}` +
    `${cluster.Tls ? ', TLS between nodes' : ''}.`));
  const svg = svgEl('svg', { width: 360, height: 40 + 28 * cluster.Nodes.length, role: 'img' });
  cluster.Nodes.forEach((n, i) => {
    svg.append(svgEl('circle', { class: n.Up ? 'up' : 'down', cx: 14, cy: 20 + 28 * i, r: 8 }));
    const t = svgEl('text', { x: 30, y: 24 + 28 * i });
    t.textContent = `node ${n.Index} ${n.Address}${n.Self ? ' (this node)' : ''}: ` +
                    `profile shards [${n.ProfileShards.join(', ')}], item shards [${n.ItemShards.join(', ')}]`;
    svg.append(t);
  });
  const rows = cluster.Nodes.map((n) =>
    el('tr', { 'data-node': n.Index, 'data-up': n.Up },
       el('td', {}, n.Index), el('td', {}, n.Address),
       el('td', { class: n.Up ? 'state-up' : 'state-down' }, n.Up ? 'up' : 'down'),
       el('td', {}, n.ProfileShards.join(' ')), el('td', {}, n.ItemShards.join(' ')),
       el('td', {}, n.LastError || '')));
  panel.append(svg, el('table', { id: 'nodes' },
    el('tr', {}, ...['Node', 'Address', 'State', 'Profile shards', 'Item shards', 'Last error']
      .map((h) => el('th', {}, h))), ...rows));
  return panel;
}

// A list of {Id, Score}; `scoreName` labels the score ('created': a time in
// seconds, as /api/latest gives it).
function itemList(id, title, items, scoreName) {
  const shown = (s) => scoreName === 'created'
    ? new Date(s * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : fmt(s, 3);
  const list = el('ol', { class: 'list', id },
    ...items.map((x) => el('li', { 'data-item': x.Id }, itemLink(x.Id),
                           el('span', { class: 'score' }, `${scoreName} ${shown(x.Score)}`))));
  return el('section', { class: 'panel' }, el('h2', {}, title),
            items.length ? list : el('p', { class: 'muted', id }, 'No items yet.'));
}

async function refreshOverview() {
  const [stats, cluster, popular, latest] = await Promise.all([
    api('/api/dashboard/stats'), api('/api/cluster'), api('/api/popular?n=10'),
    api('/api/latest?n=10')]);
  const r = rates(stats);
  show(el('h1', {}, 'Overview'),
       stats.EngineAvailable ? figures(stats, r)
                             : message('The engine did not answer its stats; HTTP figures only.', true),
       el('div', { class: 'panels' },
          el('section', { class: 'panel', id: 'rates' }, el('h2', {}, 'Live rates (per second)'),
             lineChart([history.events, history.recommends], ['events/s', 'recommend/s'], 380, 140)),
          shardPanel(stats), clusterPanel(cluster),
          itemList('popular', 'Popular items', popular, 'score'),
          itemList('latest', 'Latest items', latest, 'created')));
  document.getElementById('updated').textContent =
    `updated ${new Date().toLocaleTimeString('en-GB')}`;
  setState('ready');
}

async function overview() {
  try {
    await refreshOverview();
  } catch (err) {
    if (err instanceof NeedKey || document.body.dataset.state !== 'ready') return fail(err);
    document.getElementById('updated').textContent = `refresh failed: ${err.message}`;
  }
  setTimeout(overview, REFRESH_MS);
}

// -- user page -----------------------------------------------------------------

// For each recommended item, the user's recent items that list it among
// their neighbors (and the neighbor score): what connects them. Bounded:
// WHY_RECENT recent items, WHY_NEIGHBORS neighbors each.
async function explain(recent, recs) {
  const sources = [...new Set(recent.map((x) => x.ItemId))].slice(0, WHY_RECENT);
  const lists = await Promise.all(sources.map((id) =>
    api(`/api/item/${encodeURIComponent(id)}/neighbors?n=${WHY_NEIGHBORS}`).catch(() => [])));
  const why = new Map(recs.map((r) => [r.Id, []]));
  lists.forEach((list, k) => {
    for (const n of list)
      if (why.has(n.Id)) why.get(n.Id).push({ from: sources[k], score: n.Score });
  });
  return why;
}

function recentTable(recent) {
  return el('table', { id: 'recent' },
    el('tr', {}, ...['Item', 'Feedback', 'Weight', 'Time'].map((h) => el('th', {}, h))),
    ...recent.map((x) => el('tr', { 'data-item': x.ItemId }, el('td', {}, itemLink(x.ItemId)),
                            el('td', {}, x.FeedbackType), el('td', {}, fmt(x.Weight)),
                            el('td', {}, x.Timestamp))));
}

function recommendationList(recs, why) {
  const top = Math.max(1e-9, ...recs.map((r) => Math.abs(r.Score)));
  const items = recs.map((r) => {
    const from = why.get(r.Id) || [];
    const text = from.length
      ? 'why: neighbor of ' + from.map((f) => `${f.from} (${fmt(f.score, 3)})`).join(', ')
      : 'why: no recent item lists it among its neighbors (popularity or another signal)';
    const meter = el('span', { class: 'meter' });
    meter.style.width = `${Math.round(80 * Math.abs(r.Score) / top)}px`;  // CSSOM: allowed by the CSP
    return el('li', { class: 'rec', 'data-item': r.Id, 'data-score': r.Score }, itemLink(r.Id),
              el('span', { class: 'score' }, fmt(r.Score, 4)), meter,
              el('span', { class: 'why', 'data-from': from.map((f) => f.from).join(' ') }, text));
  });
  return items.length ? el('ol', { class: 'list', id: 'recommendations' }, ...items)
                      : el('p', { class: 'muted', id: 'recommendations' }, 'No recommendations.');
}

async function userPage(id) {
  document.title = `user ${id} - rtrec dashboard`;
  let user;
  try {
    user = await api(`/api/user/${encodeURIComponent(id)}`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
    show(el('h1', {}, 'User ', id),
         message(err.status === 404 ? `Unknown user "${id}": rtrec has no events from this user.`
                                    : `Cannot show user "${id}": ${err.message}`, true));
    return setState('not-found');
  }
  const recs = await api(`/api/recommend/${encodeURIComponent(id)}?n=10`, { 'X-API-Version': '2' });
  const why = await explain(user.Recent, recs);
  show(el('h1', {}, 'User ', el('span', { id: 'user-id' }, id)),
       el('div', { class: 'panels' },
          el('section', { class: 'panel' }, el('h2', {}, 'Recommendations (best first)'),
             recommendationList(recs, why),
             el('p', { class: 'muted' }, `"Why" lists the user's ${WHY_RECENT} most recent items ` +
                'whose item neighbors include the recommendation.')),
          el('section', { class: 'panel' }, el('h2', {}, 'Recent items (newest first)'),
             recentTable(user.Recent))));
  setState('ready');
}

// -- item page -----------------------------------------------------------------

async function itemPage(id) {
  document.title = `item ${id} - rtrec dashboard`;
  let meta;
  try {
    meta = await api(`/api/item/${encodeURIComponent(id)}`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
    show(el('h1', {}, 'Item ', id),
         message(err.status === 404 ? `Unknown item "${id}": rtrec has no event or metadata for it.`
                                    : `Cannot show item "${id}": ${err.message}`, true));
    return setState('not-found');
  }
  const [neighbors, popular] = await Promise.all([
    api(`/api/item/${encodeURIComponent(id)}/neighbors?n=20`),
    api(`/api/popular?n=${POPULAR_SCAN}`)]);
  const rank = popular.findIndex((x) => x.Id === id);
  const popularity = rank < 0
    ? `Not among the ${POPULAR_SCAN} most popular items.`
    : `Rank ${rank + 1} of the popular items (score ${fmt(popular[rank].Score, 3)}).`;
  const facts = el('table', { id: 'item-meta' },
    el('tr', {}, el('th', {}, 'Categories'), el('td', {}, (meta.Categories || []).join(', ') || '–')),
    el('tr', {}, el('th', {}, 'Hidden'), el('td', {}, meta.IsHidden ? 'yes' : 'no')),
    el('tr', {}, el('th', {}, 'Created'), el('td', {}, meta.Timestamp || '–')));
  show(el('h1', {}, 'Item ', el('span', { id: 'item-id' }, id)),
       el('div', { class: 'panels' },
          itemList('neighbors', 'Neighbors (most similar first)', neighbors, 'similarity'),
          el('section', { class: 'panel' }, el('h2', {}, 'Popularity'),
             el('p', { id: 'popularity', 'data-rank': rank < 0 ? '' : rank + 1 }, popularity),
             el('h2', {}, 'Metadata'), facts)));
  setState('ready');
}

// -- start ---------------------------------------------------------------------

function wireForms() {
  for (const [formId, kind] of [['find-user', 'user'], ['find-item', 'item']]) {
    const form = document.getElementById(formId);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      location.href = pageHref(kind, form.elements.id.value.trim());
    });
  }
  document.getElementById('home').href = pageHref();
}

function start() {
  wireForms();
  apiKey();
  const parts = location.pathname.split('/').filter((p) => p.length);
  let id;
  try {
    id = parts.length === 3 ? decodeURIComponent(parts[2]) : undefined;
  } catch (e) {
    show(message('The id in this address is not valid percent-encoding.', true));
    return setState('not-found');
  }
  if (parts[1] === 'user' && id !== undefined) return userPage(id).catch(fail);
  if (parts[1] === 'item' && id !== undefined) return itemPage(id).catch(fail);
  return overview();
}

document.addEventListener('DOMContentLoaded', start);
