'use strict';
/*
 * mailfleet test peer: a minimal OAuth 2.0 token-introspection endpoint
 * (RFC 7662) for Dovecot's oauth2 passdb. Tests only; 127.0.0.1 ONLY.
 *
 *   MF_OAUTH_INTROSPECT_PORT=N [MF_OAUTH_GOOD_TOKEN=good-token-imap] node introspect.js
 *
 * POST /introspect with the form field token=...: the good token is
 *   {"active":true,"sub":"test@example.test","scope":"IMAP.AccessAsUser.All
 *    POP.AccessAsUser.All SMTP.Send","exp":<now+3600>}
 * anything else {"active":false}. No dependencies (node:http only). Tokens are
 * never logged. A real OpenID provider (MF_OIDC_PORT) will replace this.
 */
const http = require('node:http');

const port = Number(process.env.MF_OAUTH_INTROSPECT_PORT);
const good = process.env.MF_OAUTH_GOOD_TOKEN || 'good-token-imap';
const sub = process.env.MF_OAUTH_SUB || 'test@example.test';
if (!Number.isInteger(port) || port <= 0) {
  console.error('introspect: MF_OAUTH_INTROSPECT_PORT is not set');
  process.exit(2);
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method !== 'POST' || path !== '/introspect') {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"not_found"}');
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { if (body.length < 65536) body += c; });
  req.on('end', () => {
    const token = new URLSearchParams(body).get('token');
    const active = token === good;
    const reply = active
      ? { active: true, sub, scope: 'IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send',
          exp: Math.floor(Date.now() / 1000) + 3600 }
      : { active: false };
    console.log(`${new Date().toISOString()} POST /introspect -> active=${active}`);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(reply));
  });
});
server.listen(port, '127.0.0.1', () => console.log(`introspect: listening on 127.0.0.1:${port}`));
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => server.close(() => process.exit(0)));
