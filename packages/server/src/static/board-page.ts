/**
 * The board demo's page: a kanban board on P2P shared data, loaded from /sdk/pulse-client.js
 * without a bundler. Cards live in a shared map (id → card), each column's order in a shared
 * list of card ids, and the kudos in a shared counter. User data is only ever set as text.
 */
export const BOARD_PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse board demo</title>
<style>
  :root { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2330; background: #f4f5f8; }
  body { margin: 0; }
  header { display: flex; align-items: center; gap: 16px; padding: 14px 24px; background: #fff; border-bottom: 1px solid #e3e5ec; flex-wrap: wrap; }
  h1 { font-size: 18px; margin: 0 8px 0 0; }
  .badge { font-size: 12px; font-weight: 600; padding: 3px 9px; border-radius: 999px; background: #e8eaf1; color: #454b5e; }
  .badge.p2p { background: #dff5e6; color: #17693a; }
  .badge.websocket { background: #fff1d6; color: #8a5a00; }
  .peers { display: flex; gap: 6px; align-items: center; font-size: 13px; color: #5b6172; }
  .peer { display: inline-flex; align-items: center; gap: 5px; padding: 3px 8px; border-radius: 999px; background: #f0f1f5; }
  .dot { width: 8px; height: 8px; border-radius: 50%; background: #b3b8c6; }
  .dot.direct { background: #2fb463; }
  .dot.relay { background: #e0a100; }
  .spacer { flex: 1; }
  button { font: inherit; cursor: pointer; border: 1px solid #d5d8e2; background: #fff; border-radius: 8px; padding: 5px 10px; }
  button:hover { background: #f2f4f8; }
  .kudos { font-weight: 600; }
  main { display: grid; grid-template-columns: repeat(3, minmax(220px, 1fr)); gap: 16px; padding: 20px 24px; }
  .column { background: #e9ebf1; border-radius: 12px; padding: 12px; min-height: 300px; }
  .column h2 { font-size: 14px; margin: 2px 4px 10px; display: flex; justify-content: space-between; color: #3b4152; }
  .card { background: #fff; border-radius: 10px; padding: 10px 12px; margin-bottom: 8px; box-shadow: 0 1px 2px rgba(20, 24, 40, .08); }
  .card .title { font-size: 14px; margin-bottom: 8px; word-break: break-word; }
  .card .meta { font-size: 11px; color: #8a90a0; margin-bottom: 6px; }
  .card .actions { display: flex; gap: 4px; }
  .card .actions button { padding: 2px 8px; font-size: 12px; }
  form { display: flex; gap: 6px; margin-top: 6px; }
  input { flex: 1; min-width: 0; font: inherit; font-size: 13px; padding: 6px 8px; border: 1px solid #cfd3de; border-radius: 8px; }
  .notice { margin: 20px 24px; padding: 14px 16px; border-radius: 10px; background: #fff4e5; color: #6b4500; border: 1px solid #f3d19c; }
  .hidden { display: none; }
</style>
</head>
<body>
<header>
  <h1>Team board</h1>
  <span class="badge" id="transport" title="How your changes travel">connecting…</span>
  <span class="peers" id="peers"></span>
  <span class="spacer"></span>
  <span id="me"></span>
  <button id="kudos" class="kudos" title="A shared counter: everyone can click at once">Kudos <span id="kudos-value">0</span></button>
</header>
<div class="notice hidden" id="notice"></div>
<main id="board"></main>
<script type="module">
  import { PulseClient } from '/sdk/pulse-client.js';

  const COLUMNS = [['todo', 'To do'], ['doing', 'Doing'], ['done', 'Done']];
  const params = new URLSearchParams(location.search);
  const userId = params.get('as') ?? sessionStorage.getItem('pulse-board-as') ?? 'guest-' + Math.random().toString(36).slice(2, 7);
  sessionStorage.setItem('pulse-board-as', userId);
  const name = params.get('name') ?? userId.charAt(0).toUpperCase() + userId.slice(1);
  const room = params.get('room') ?? 'demo-board';
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };
  $('me').textContent = 'You are ' + name;

  async function token() {
    const res = await fetch('/demo/api/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId, name }) });
    if (!res.ok) throw new Error('token: HTTP ' + res.status);
    return (await res.json()).token;
  }
  const config = await (await fetch('/demo/api/config')).json();
  const client = new PulseClient({ apiKey: config.publishableKey, token, room, endpoint: config.endpoint });
  client.connect();

  function notice(text) {
    $('notice').textContent = text ?? '';
    $('notice').classList.toggle('hidden', !text);
  }

  async function start() {
    let p2p;
    try {
      p2p = await client.p2p;
    } catch (err) {
      notice(err.code === 'p2p_disabled'
        ? 'P2P shared data is off for the "' + config.environment + '" environment. Turn on "Allow P2P" in the admin panel (Environments → ' + config.environment + ' → Configure); this page starts by itself.'
        : 'Could not start: ' + err.message);
      const off = client.state.on('config', (c) => { if (c.allowP2P) { off(); void start(); } });
      return;
    }
    notice();
    window.board = { client, p2p };
    const cards = p2p.sharedMap('cards');
    const lists = Object.fromEntries(COLUMNS.map(([id]) => [id, p2p.sharedList('column:' + id)]));
    const kudos = p2p.sharedCounter('kudos');

    function columnOf(cardId) {
      for (const [id, list] of Object.entries(lists)) {
        const index = list.toArray().indexOf(cardId);
        if (index >= 0) return { id, list, index };
      }
      return undefined;
    }
    function moveTo(cardId, target) {
      const from = columnOf(cardId);
      if (!from || from.id === target) return;
      p2p.doc.transact(() => {
        from.list.delete(from.index);
        lists[target].push(cardId);
      });
    }
    function render() {
      const board = $('board');
      board.replaceChildren();
      for (const [id, title] of COLUMNS) {
        const list = lists[id];
        const ids = list.toArray().filter((cardId, i, all) => cards.has(cardId) && all.indexOf(cardId) === i);
        const column = el('section', { className: 'column' }, el('h2', {}, el('span', { textContent: title }), el('span', { textContent: String(ids.length) })));
        column.dataset.column = id;
        ids.forEach((cardId, i) => {
          const card = cards.get(cardId);
          const c = COLUMNS.findIndex(([cid]) => cid === id);
          const button = (text, label, fn, disabled = false) => el('button', { textContent: text, title: label, ariaLabel: label, disabled, onclick: fn });
          column.append(el('div', { className: 'card' },
            el('div', { className: 'title', textContent: card.title }),
            el('div', { className: 'meta', textContent: 'by ' + card.by }),
            el('div', { className: 'actions' },
              button('←', 'Move left', () => moveTo(cardId, COLUMNS[c - 1][0]), c === 0),
              button('→', 'Move right', () => moveTo(cardId, COLUMNS[c + 1][0]), c === COLUMNS.length - 1),
              button('↑', 'Move up', () => list.move(list.toArray().indexOf(cardId), list.toArray().indexOf(cardId) - 1), i === 0),
              button('✕', 'Delete', () => {
                const at = columnOf(cardId);
                p2p.doc.transact(() => { if (at) at.list.delete(at.index); cards.delete(cardId); });
              }))));
        });
        const input = el('input', { placeholder: 'Add a card…', maxLength: 200, ariaLabel: 'New card in ' + title });
        column.append(el('form', { onsubmit: (e) => {
          e.preventDefault();
          const text = input.value.trim();
          if (!text) return;
          const cardId = 'card-' + Math.random().toString(36).slice(2, 10); // crypto.randomUUID needs https
          p2p.doc.transact(() => { cards.set(cardId, { title: text, by: name }); list.push(cardId); });
          input.value = '';
        } }, input, el('button', { type: 'submit', textContent: 'Add' })));
        board.append(column);
      }
      $('kudos-value').textContent = String(kudos.value);
    }
    function renderPeers() {
      const t = $('transport');
      t.textContent = p2p.transport === 'p2p' ? 'P2P (WebRTC)' : 'WebSocket relay';
      t.className = 'badge ' + p2p.transport;
      const peers = $('peers');
      peers.replaceChildren(el('span', { textContent: p2p.peers.size ? 'With:' : 'Nobody else here yet' }));
      for (const peer of p2p.peers.values()) {
        const dot = el('span', { className: 'dot ' + (peer.dataChannelOpen ? 'direct' : peer.state === 'connected' ? 'relay' : '') });
        const chip = el('span', { className: 'peer', title: peer.dataChannelOpen ? 'direct data channel' : 'through the server' }, dot, el('span', { textContent: peer.userId }));
        peers.append(chip);
      }
    }
    cards.on('change', render);
    for (const list of Object.values(lists)) list.on('change', render);
    kudos.on('change', render);
    for (const event of ['peer:connect', 'peer:disconnect', 'peer:state', 'transport:change']) p2p.on(event, renderPeers);
    p2p.on('destroyed', () => { $('transport').textContent = 'off'; $('transport').className = 'badge'; void start(); });
    p2p.on('error', (e) => notice(e.message));
    $('kudos').onclick = () => kudos.increment();
    render();
    renderPeers();
  }
  void start();
</script>
</body>
</html>
`;
