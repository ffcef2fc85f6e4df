/**
 * The admin port's page for a person (`GET /`): role, pair link, lag, clients, seq and the recent
 * events of this server, refreshed every 2 s from `/status`. One self-contained document: no
 * build step, no external asset, nothing a closed network cannot serve.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cfgproxy status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .75rem; }
  .card { background: #fff; border-radius: .5rem; padding: .75rem 1rem; box-shadow: 0 1px 2px #0002; }
  .card .label { color: #5b6675; font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
  .card .value { font-size: 1.35rem; font-weight: 600; margin-top: .2rem; }
  .good { color: #13795b; } .bad { color: #b42318; }
  table { width: 100%; border-collapse: collapse; margin-top: 1.25rem; background: #fff; border-radius: .5rem; overflow: hidden; }
  th, td { text-align: left; padding: .4rem .75rem; border-bottom: 1px solid #e6e8ec; font-size: .9rem; }
  th { background: #eef0f3; }
  #updated { color: #5b6675; font-size: .8rem; margin-top: .75rem; }
</style>
</head>
<body>
<h1 id="title">cfgproxy</h1>
<div class="cards" id="cards"></div>
<table><thead><tr><th>time</th><th>event</th><th>what happened</th></tr></thead><tbody id="events"></tbody></table>
<div id="updated">loading…</div>
<script>
function card(label, value, tone) {
  return '<div class="card"><div class="label">' + label + '</div><div class="value ' + (tone || '') + '" data-fact="' + label + '">' + value + '</div></div>';
}
function uptime(seconds) {
  if (seconds === undefined) return '?';
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + (seconds % 60) + 's';
}
function text(value) {
  return String(value).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; });
}
async function refresh() {
  try {
    const s = await (await fetch('/status', { cache: 'no-store' })).json();
    const v = s.values || {};
    const pair = s.pair;
    document.getElementById('title').textContent = 'cfgproxy ' + s.kind + ' ' + s.name + ' (' + s.version + ')';
    const health = s.health === 'healthy' ? 'good' : 'bad';
    const standingBy = !s.serving && s.health === 'healthy';
    const cards = [
      card('health', text(s.health), health),
      card('role', text(s.role) + (pair && pair.configuredRole && pair.configuredRole !== pair.role ? ' (configured ' + text(pair.configuredRole) + ')' : ''), s.active ? 'good' : ''),
      card('serving', s.serving ? 'yes' : standingBy ? 'standing by' : 'no', s.serving ? 'good' : standingBy ? '' : 'bad'),
    ];
    if (s.master) cards.push(card('master link', s.master.connected ? 'up' : 'down since ' + text(s.master.unreachableSince || '?').slice(11, 19), s.master.connected ? 'good' : 'bad'));
    cards.push(
      card('seq', text(v.cfgproxy_applied_seq === undefined ? '?' : v.cfgproxy_applied_seq)),
      card('clients', text(v.cfgproxy_clients === undefined ? '?' : v.cfgproxy_clients)),
      card('sessions', text(v.cfgproxy_sessions === undefined ? '?' : v.cfgproxy_sessions)),
      card('uptime', text(uptime(s.uptimeS))),
    );
    if (pair && pair.link !== undefined) {
      cards.push(card('pair link', text(pair.link) + (pair.peer ? ' to ' + text(pair.peer) : ''), pair.link === 'up' ? 'good' : 'bad'));
      cards.push(card('term', text(pair.term)));
      cards.push(card('switchover', pair.readyForSwitchover ? 'ready' : 'not ready: ' + text(pair.notReadyBecause || '?'), pair.readyForSwitchover ? 'good' : ''));
      cards.push(card('journal lag', text(pair.journal ? pair.journal.lag : 0)));
    }
    const access = s.access;
    if (access && access.pool) cards.push(card('pool', text(access.pool.cluster) + ', member ' + text(access.pool.member) + (access.advertise ? ' at ' + text(access.advertise) : '')));
    if (access && access.uiPort !== undefined) cards.push(card('UI port', text(access.uiPort)));
    if (access && access.directories && Object.keys(access.directories).length) cards.push(card('directories', text(Object.keys(access.directories).join(', '))));
    if (pair && pair.kind === 'master-pair') cards.push(card('active master', text(pair.activeMaster || 'unknown')));
    if (s.warnings && s.warnings.length) cards.push(card('warnings', text(s.warnings.join('; ')), 'bad'));
    document.getElementById('cards').innerHTML = cards.join('');
    document.getElementById('events').innerHTML = (s.events || []).slice().reverse().map(function (e) {
      return '<tr><td>' + text(e.time.slice(11, 23)) + '</td><td>' + text(e.event) + '</td><td>' + text(e.msg) + '</td></tr>';
    }).join('') || '<tr><td colspan="3">no events yet</td></tr>';
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (error) {
    document.getElementById('updated').textContent = 'cannot reach the server: ' + error;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
