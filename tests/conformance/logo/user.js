// A LoGo Chat user driven by the official client, direct-js (MIT, L is B Corp.), for kairan's
// conformance tests. It signs in with LOGO_TOKEN at LOGO_URL, reports what it sees as JSON lines on
// stdout and takes commands as JSON lines on stdin:
//   {"send": {"talk": "<decimal id>", "text": "…", "key": "…"}}  post; reports "sent" and "read"
//   {"exit": 0}                                                   end the process with that status
// Events: ready (talks, users, me), sent, read, message (every TextMessage direct-js emits),
// error (error_occurred), page (current_page_changed), password_expiration_overed/_warned,
// closed/open (from direct-js's own log lines).
'use strict';

const DirectAPI = require('direct-js').DirectAPI;
const os = require('os');
const path = require('path');
const readline = require('readline');

const endpoint = process.env.LOGO_URL;
const token = process.env.LOGO_TOKEN;
if (!endpoint || !token) {
  console.error('LOGO_URL and LOGO_TOKEN are required');
  process.exit(2);
}

function report(event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event }, fields)) + '\n');
}

// direct-js logs through this; the lines about the WebSocket are reported as events.
const logger = {};
for (const level of ['verbose', 'debug', 'info', 'warn', 'error']) {
  logger[level] = (parts) => {
    const line = parts.filter((p) => p !== '').map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ');
    if (line.startsWith('onClose.')) report('closed', { line });
    else if (line.startsWith('WebSocket opened')) report('open', {});
    if (process.env.DIRECT_JS_LOG) process.stderr.write(`[direct-js ${level}] ${line}\n`);
  };
}

const client = DirectAPI.getInstance();
client.setOptions({
  host: new URL(endpoint).host,
  endpoint,
  access_token: token,
  name: 'conformance',
  talkWithBot: true, // a person's client: messages from bots (kairan) are for it too
  storage_path: process.env.LOGO_STORAGE || path.join(os.tmpdir(), `direct-js-${process.pid}`),
  internalLogger: logger,
});

const id = (room) => client.stringifyInt64(client.parseInt64(room));

client.on('data_recovered', () => {
  const talks = Object.values(client.talkObjects()).map((t) => ({
    id: id(t.id), type: t.type, name: t.name, users: t.users.map((u) => id(u.id)),
  }));
  const users = [];
  for (const domain of Object.keys(client.domainObjects())) {
    for (const u of Object.values(client.userObjects(domain))) {
      users.push({ id: id(u.id), name: u.displayName, domain: id(domain) });
    }
  }
  report('ready', { talks, users });
});

client.on('TextMessage', (envelope, user, message) => {
  report('message', {
    room: id(envelope.room), user: id(user.id), text: message.content, mention: message.mention, id: id(message.id),
  });
});

for (const name of ['password_expiration_overed', 'password_expiration_warned']) {
  client.on(name, () => report(name, {}));
}
client.on('error_occurred', (err, data) => report('error', { error: String(err), data }));
client.on('current_page_changed', (page) => report('page', { page: String(page) }));

function send(command) {
  const room = client.stringifyInt64(client.parseInt64(command.talk), true);
  client.send({ room }, {
    text: command.text,
    onsend: (sent) => report('sent', { key: command.key, id: id(sent.message.id) }),
    onread: (now) => report('read', { key: command.key, readers: now.map((u) => id(u.id)) }),
  });
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  if (command.send) send(command.send);
  if (command.exit !== undefined) process.exit(command.exit);
});

client.listen();
