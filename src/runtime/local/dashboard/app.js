// The dashboard page: a snapshot a second from /_etl/api/stream (server-sent events), drawn with
// DOM calls only (every value goes in as text, never as markup), the throughput chart with uPlot.
/* global uPlot */
'use strict';

const API = 'api/';
const CHART_POINTS = 600;
const TAIL_KEPT = 25;
const COLORS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#dc2626', '#0891b2'];

const state = {
  selectedRun: null,
  chart: null,
  series: [],
  stages: [],
  dlqTotal: -1,
  tail: [],
  failedFor: null,
};

const $ = (id) => document.getElementById(id);
const number = (n) => (typeof n === 'number' ? n.toLocaleString('en') : '');

function cell(value, className) {
  const td = document.createElement('td');
  td.textContent = value === null || value === undefined ? '' : String(value);
  if (className) td.className = className;
  return td;
}

function replaceRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return '';
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${seconds % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function runRow(run) {
  const tr = document.createElement('tr');
  tr.dataset.run = run.run;
  if (run.run === state.selectedRun) tr.className = 'selected';
  const file = cell(run.file ?? run.run);
  file.title = run.run;
  tr.append(file);
  const stateCell = document.createElement('td');
  const badge = document.createElement('span');
  badge.className = `state state-${run.state}`;
  badge.dataset.field = 'state';
  badge.textContent = run.state;
  if (run.error) badge.title = run.error;
  stateCell.append(badge);
  tr.append(stateCell);
  for (const key of ['extracted', 'transformed', 'loaded', 'failed', 'deadLettered']) {
    const td = cell(number(run[key]), 'n');
    td.dataset.field = key;
    tr.append(td);
  }
  const done = document.createElement('td');
  const bar = document.createElement('span');
  bar.className = 'bar';
  const fill = document.createElement('span');
  fill.style.width = `${Math.min(100, Math.max(0, run.percent))}%`;
  bar.append(fill);
  const percent = document.createElement('span');
  percent.dataset.field = 'percent';
  percent.textContent = `${run.percent}%`;
  done.append(bar, percent);
  if (!run.exact) done.title = `of about ${number(run.total)} rows (estimated from the bytes read)`;
  tr.append(done);
  tr.append(cell(number(run.rowsPerSecond), 'n'));
  tr.append(cell(duration(run.etaSeconds), 'n'));
  tr.addEventListener('click', () => selectRun(run.run, run.file));
  return tr;
}

function drawRuns(runs) {
  replaceRows($('runs').tBodies[0], runs.map(runRow));
  $('runs-empty').hidden = runs.length > 0;
  // The selected run's failed rows follow its failed count.
  const selected = runs.find((r) => r.run === state.selectedRun);
  if (selected && selected.failed !== state.failedFor) void loadFailed(selected.run, selected.failed);
}

function drawTargets(targets) {
  replaceRows(
    $('targets').tBodies[0],
    targets.map((t) => {
      const tr = document.createElement('tr');
      tr.dataset.target = t.target;
      tr.append(cell(t.target));
      for (const key of ['queued', 'inFlight', 'retries', 'deadLettered', 'dlq']) {
        const td = cell(number(t[key]), 'n');
        td.dataset.field = key;
        tr.append(td);
      }
      const action = document.createElement('td');
      if (t.dlq > 0) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = 'Redrive';
        button.addEventListener('click', () => void redrive(t.target));
        action.append(button);
      }
      tr.append(action);
      return tr;
    }),
  );
  const total = targets.reduce((n, t) => n + t.dlq, 0);
  $('redrive-all').disabled = total === 0;
  if (total !== state.dlqTotal) {
    state.dlqTotal = total;
    void loadDeadLetters();
  }
}

function drawRules(rules) {
  replaceRows(
    $('rules').tBodies[0],
    rules.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.rule = r.name;
      tr.append(cell(r.enabled ? r.name : `${r.name} (disabled)`), cell(r.targets.join(', ')));
      const matched = cell(number(r.matched), 'n');
      matched.dataset.field = 'matched';
      tr.append(matched);
      return tr;
    }),
  );
}

function drawTail(entries) {
  const shown = new Set(state.tail.map((e) => e.id));
  const fresh = entries.filter((e) => !shown.has(e.id)).reverse();
  state.tail = [...fresh, ...state.tail].slice(0, TAIL_KEPT);
  replaceRows(
    $('tail').tBodies[0],
    state.tail.map((e) => {
      const tr = document.createElement('tr');
      const id = cell(e.id, 'mono');
      tr.append(
        cell(e.time),
        cell(e.source),
        cell(e.detailType),
        cell(e.run, 'mono'),
        cell(e.row, 'n'),
        cell(e.rules.join(', ')),
        id,
      );
      return tr;
    }),
  );
}

function makeChart(stages, history) {
  state.stages = stages;
  state.series = [[], ...stages.map(() => [])];
  for (const point of history) pushPoint(point);
  const element = $('chart');
  element.replaceChildren();
  if (typeof uPlot !== 'function') return;
  state.chart = new uPlot(
    {
      width: Math.max(320, element.clientWidth - 10),
      height: 220,
      series: [
        {},
        ...stages.map((stage, i) => ({
          label: stage,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          points: { show: false },
        })),
      ],
      axes: [{}, { size: 70 }],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(10, max * 1.1)] } },
    },
    state.series,
    element,
  );
  window.addEventListener('resize', () =>
    state.chart?.setSize({ width: Math.max(320, element.clientWidth - 10), height: 220 }),
  );
}

function pushPoint(point) {
  point.forEach((value, i) => state.series[i]?.push(value));
  if (state.series[0].length > CHART_POINTS) for (const s of state.series) s.shift();
}

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

function selectRun(run, file) {
  state.selectedRun = run;
  state.failedFor = null;
  for (const tr of $('runs').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.run === run);
  $('failed-run').textContent = `of ${file ?? run}`;
  void loadFailed(run, null);
}

async function loadFailed(run, failedCount) {
  state.failedFor = failedCount;
  const empty = $('failed-empty');
  try {
    const { rows, more } = await getJson(`${API}runs/${encodeURIComponent(run)}/errors`);
    if (run !== state.selectedRun) return;
    replaceRows(
      $('failed').tBodies[0],
      rows.map((r) => {
        const tr = document.createElement('tr');
        tr.append(cell(r.row, 'n'), cell(r.stage), cell(r.column), cell(r.reason, 'reason'));
        return tr;
      }),
    );
    $('failed').hidden = rows.length === 0;
    const link = $('failed-csv');
    link.hidden = rows.length === 0;
    link.href = `${API}runs/${encodeURIComponent(run)}/errors.csv`;
    link.download = `${run}-failed-rows.csv`;
    empty.textContent =
      rows.length === 0 ? 'No failed rows in this run.' : more ? `The first ${rows.length} failed rows.` : '';
    empty.hidden = empty.textContent === '';
  } catch (error) {
    empty.hidden = false;
    empty.textContent = `Could not read the failed rows: ${error.message}`;
  }
}

async function loadDeadLetters() {
  try {
    const { letters, more } = await getJson(`${API}dlq`);
    replaceRows(
      $('dlq').tBodies[0],
      letters.map((l) => {
        const tr = document.createElement('tr');
        tr.append(
          cell(l.time),
          cell(l.target),
          cell(l.run, 'mono'),
          cell(l.row, 'n'),
          cell(l.attempts, 'n'),
          cell(l.reason, 'reason'),
        );
        return tr;
      }),
    );
    $('dlq-empty').hidden = letters.length > 0;
    if (more) {
      $('dlq-empty').hidden = false;
      $('dlq-empty').textContent = `The first ${letters.length} dead letters.`;
    }
  } catch (error) {
    $('dlq-empty').hidden = false;
    $('dlq-empty').textContent = `Could not read the dead letters: ${error.message}`;
  }
}

async function redrive(target) {
  const result = $('redrive-result');
  result.textContent = 'Redriving…';
  try {
    const response = await fetch(`${API}dlq/redrive`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(target ? { target } : {}),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
    const parts = Object.entries(body.targets).map(
      ([name, n]) => `${name}: ${number(n.redriven)} redriven, ${number(n.deadAgain)} dead again`,
    );
    result.textContent = parts.length > 0 ? `Redrive done (${parts.join('; ')})` : 'Nothing to redrive.';
  } catch (error) {
    result.textContent = `Redrive failed: ${error.message}`;
  }
}

function setStatus(kind, text) {
  const status = $('status');
  status.dataset.state = kind;
  status.textContent = text;
}

function connect() {
  const source = new EventSource(`${API}stream`);
  source.addEventListener('init', (message) => {
    const { stages, history } = JSON.parse(message.data);
    makeChart(stages, history);
  });
  source.addEventListener('snapshot', (message) => {
    const snapshot = JSON.parse(message.data);
    setStatus('live', `live · ${new Date(snapshot.time).toLocaleTimeString()}`);
    drawRuns(snapshot.runs);
    drawTargets(snapshot.targets);
    drawRules(snapshot.rules);
    if (snapshot.tail.length > 0) drawTail(snapshot.tail);
    if (state.series.length > 0) {
      const last = state.series[0].at(-1);
      if (last !== snapshot.throughput[0]) pushPoint(snapshot.throughput);
      state.chart?.setData(state.series);
    }
    document.body.dataset.updated = String(snapshot.time);
  });
  source.addEventListener('end', () => {
    source.close();
    setStatus('ended', 'the run ended: these are its final numbers');
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) setStatus('lost', 'disconnected (reload to retry)');
    else setStatus('connecting', 'reconnecting…');
  });
}

$('redrive-all').addEventListener('click', () => void redrive(null));
connect();
