/*
 * mailfleet test peer: a REAL OpenID provider (npm oidc-provider 8.8.1) plus a
 * misbehaving issuer, both HTTPS with the peers' CA-signed certificate, on
 * 127.0.0.1 ONLY. Tests only.
 *
 *   node server.mjs DIR
 *
 * Environment (peers.sh sets it):
 *   MF_OIDC_PORT               the provider; issuer https://127.0.0.1:PORT
 *   MF_OIDC_BROKEN_PORT        the misbehaving issuers (broken.mjs); unset: not started
 *   MF_OIDC_DAEMON_SECRET      client_secret of mailfleet-daemon (client credentials)
 *   MF_OIDC_INTROSPECT_SECRET  client_secret of mail-servers (introspection)
 *   MF_OIDC_ACCESS_TTL         access-token lifetime in s (default 600)
 *   MF_OIDC_SHORT_ACCESS_TTL   same for mailfleet-short (default 8)
 *
 * Files: DIR/certs/server.{crt,key} (mkcerts.sh), log DIR/logs/oidc.log
 * (method, path without query, status, client, grant type, error codes: never
 * a token, code or secret).
 *
 * Besides oidc-provider's own routes there are admin routes (tests only),
 * answered before the provider sees the request:
 *   POST /admin/revoke?sub=ACCOUNT  -> {"revoked":N,"grants":G,"tokens":T}
 *        revokes every grant, access/refresh token, code and session of
 *        ACCOUNT ("the user revoked access"); N = G + T (T counts unconsumed
 *        tokens/codes). &only=access: only its access tokens (grants and
 *        refresh tokens stay: "the server refuses the token, a refresh works")
 *   GET  /admin/tokens[?all=1][&sub=ACCOUNT] -> {"tokens":[values]}
 *        live access/refresh/client-credentials token values; all=1: every
 *        such value and every authorization/device code issued since start
 *        (revoked, consumed, expired too) — for "no token in any output" checks
 *
 * See tests/peers/README.md for clients, scopes and what a client must send.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider from 'oidc-provider';

import { MapAdapter, listTokens, revokeAccount } from './store.mjs';
import { brokenHandler } from './broken.mjs';

const HOST = '127.0.0.1';
const HERE = path.dirname(fileURLToPath(import.meta.url));

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node server.mjs DIR\n');
  process.exit(2);
}
const env = (name) => (process.env[name] || '').trim();
const envInt = (name, def) => {
  const v = env(name);
  if (!v) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`oidc: ${name}=${v} is not a positive integer\n`);
    process.exit(2);
  }
  return n;
};

const PORT = envInt('MF_OIDC_PORT', 0);
const BROKEN_PORT = envInt('MF_OIDC_BROKEN_PORT', 0);
if (!PORT) {
  process.stderr.write('oidc: MF_OIDC_PORT is not set\n');
  process.exit(2);
}
const ISSUER = `https://${HOST}:${PORT}`;
const ACCESS_TTL = envInt('MF_OIDC_ACCESS_TTL', 600);
const SHORT_TTL = envInt('MF_OIDC_SHORT_ACCESS_TTL', 8);
const randomSecret = () => crypto.randomBytes(24).toString('hex');
const DAEMON_SECRET = env('MF_OIDC_DAEMON_SECRET') || randomSecret();
const INTROSPECT_SECRET = env('MF_OIDC_INTROSPECT_SECRET') || randomSecret();

const certDir = path.join(dir, 'certs');
const logDir = path.join(dir, 'logs');
fs.mkdirSync(logDir, { recursive: true });
const logStream = fs.createWriteStream(path.join(logDir, 'oidc.log'), { flags: 'a' });
const log = (line) => logStream.write(`${new Date().toISOString()} ${line}\n`);

/* ----------------------------------------------------------------- config */

const SCOPES = ['openid', 'offline_access', 'SMTP.Send', 'IMAP.AccessAsUser.All', 'POP.AccessAsUser.All'];
const USER_SCOPE = SCOPES.join(' ');

const nativeClient = (clientId, clientName) => ({
  client_id: clientId,
  client_name: clientName,
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  redirect_uris: ['http://127.0.0.1/callback'], // any loopback port (RFC 8252 §7.3)
  response_types: ['code'],
  grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
  scope: USER_SCOPE,
});

const clients = [
  nativeClient('mailfleet-native', 'mailfleet'),
  nativeClient('mailfleet-short', 'mailfleet (8 s access tokens)'),
  {
    client_id: 'mailfleet-daemon',
    client_name: 'mailfleet daemon (app-only)',
    client_secret: DAEMON_SECRET,
    // oidc-provider accepts client_secret_post too for a client registered
    // with client_secret_basic (and vice versa): one secret, either way.
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [],
    response_types: [],
    grant_types: ['client_credentials'],
    scope: 'SMTP.Send',
  },
  {
    client_id: 'mail-servers',
    client_name: 'Dovecot and the fault peer (token introspection)',
    client_secret: INTROSPECT_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [],
    response_types: [],
    grant_types: [],
  },
];

// The signing key for ID tokens: fresh at every start.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'mailfleet-test-rs256' };

const html = (title, body) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const configuration = {
  adapter: MapAdapter,
  clients,
  scopes: SCOPES,
  responseTypes: ['code'],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomSecret(), randomSecret()] },
  clientBasedCORS: () => false,

  // devInteractions: any login name is accepted and becomes the account id (= sub)
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: sub, email_verified: true };
      },
    };
  },

  features: {
    devInteractions: { enabled: true },
    deviceFlow: {
      enabled: true,
      charset: 'base-20',
      mask: '****-****',
      async userCodeInputSource(ctx, form, out, err) {
        let msg = '<p>Enter the code displayed on your device</p>';
        if (err && (err.userCode || err.name === 'NoCodeError')) msg = '<p class="red">The code you entered is incorrect. Try again</p>';
        else if (err && err.name === 'AbortedError') msg = '<p class="red">The Sign-in request was interrupted</p>';
        else if (err) msg = `<p class="red">There was an error processing your request: ${esc(out && out.error)}</p>`;
        ctx.body = html('Sign-in', `${msg}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
      },
      async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
        ctx.body = html(
          'Confirm Device',
          `<p><strong>${esc(client.clientName || client.clientId)}</strong> shows the code <code>${esc(userCode)}</code></p>${form}` +
            '<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>' +
            '<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">[ Abort ]</button>'
        );
      },
      async successSource(ctx) {
        ctx.body = html('Sign-in Success', '<p>Your sign-in was successful, you can now close this page.</p>');
      },
    },
    introspection: {
      enabled: true,
      // mail-servers may introspect every token; any other confidential client
      // only its own (oidc-provider's default also lets a confidential client
      // see other clients' tokens, which is more than the tests need).
      async allowedPolicy(ctx, client, token) {
        return client.clientId === 'mail-servers' || token.clientId === client.clientId;
      },
    },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
  },

  /*
   * RFC 7662 "username" in introspection answers (opaque access tokens keep
   * these claims): the account for a user's token (= sub), the client id for
   * an app-only (client credentials) token, which has no sub. Dovecot's oauth2
   * passdb matches on "username": with "sub" an app-only token would be a
   * temporary failure ("No username returned"), with "username" it is refused
   * as a wrong user, like Exchange refuses an app that has no mailbox access.
   */
  async extraTokenClaims(ctx, token) {
    if (token.kind === 'AccessToken' && token.accountId) return { username: token.accountId };
    if (token.kind === 'ClientCredentials') return { username: token.clientId };
    return undefined;
  },

  pkce: { methods: ['S256'], required: () => true },
  rotateRefreshToken: () => true, // every refresh answers a new refresh token; the old one is consumed
  async issueRefreshToken(ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },

  ttl: {
    AccessToken: (ctx, token, client) => ((client && client.clientId) === 'mailfleet-short' ? SHORT_TTL : ACCESS_TTL),
    AuthorizationCode: 60,
    ClientCredentials: ACCESS_TTL,
    DeviceCode: 600,
    Grant: 24 * 3600,
    IdToken: 600,
    Interaction: 600,
    RefreshToken: 24 * 3600,
    Session: 24 * 3600,
  },

  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = html(
      'oops! something went wrong',
      Object.entries(out)
        .map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`)
        .join('')
    );
  },
};

/* --------------------------------------------------------------- provider */

const provider = new Provider(ISSUER, configuration);

/*
 * offline_access: oidc-provider drops it from an authorization request unless
 * prompt contains "consent" (OIDC Core §11, applied to every code request).
 * Clients of Microsoft's endpoint send scope=...offline_access without a
 * prompt and get a refresh token; to behave the same, "consent" is added to
 * prompt (GET /auth only) when offline_access is asked for and prompt is not
 * "none". The user agent then sees the consent page every time.
 */
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/auth') {
    const q = { ...ctx.query };
    const scopes = typeof q.scope === 'string' ? q.scope.split(' ') : [];
    const prompts = typeof q.prompt === 'string' ? q.prompt.split(' ').filter(Boolean) : [];
    if (scopes.includes('offline_access') && !prompts.includes('consent') && !prompts.includes('none')) {
      q.prompt = [...prompts, 'consent'].join(' ');
      ctx.query = q;
    }
  }
  await next();
});

// Request log: no query strings, no bodies (they hold codes, tokens, secrets).
provider.use(async (ctx, next) => {
  const t0 = Date.now();
  try {
    await next();
  } finally {
    const cid = ctx.oidc && ctx.oidc.client ? ` client=${ctx.oidc.client.clientId}` : '';
    log(`${ctx.method} ${ctx.path} -> ${ctx.status}${cid} ${Date.now() - t0}ms`);
  }
});

const errText = (err) => `${err.error || err.name}${err.error_description ? ` (${err.error_description})` : ''}`;
provider.on('grant.success', (ctx) => log(`  grant ok: ${ctx.oidc.params.grant_type} client=${ctx.oidc.client && ctx.oidc.client.clientId}`));
provider.on('grant.error', (ctx, err) => log(`  grant error: ${ctx.oidc.params && ctx.oidc.params.grant_type}: ${errText(err)}`));
provider.on('authorization.error', (ctx, err) => log(`  authorization error: ${errText(err)}`));
provider.on('introspection.error', (ctx, err) => log(`  introspection error: ${errText(err)}`));
provider.on('revocation.error', (ctx, err) => log(`  revocation error: ${errText(err)}`));
provider.on('grant.revoked', (ctx, grantId) => log(`  grant revoked (${grantId.length}-char id)`));
provider.on('server_error', (ctx, err) => log(`  SERVER ERROR: ${err && err.stack}`));

const providerCallback = provider.callback();

function json(res, status, obj) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(obj));
}

function adminRevoke(req, res, url) {
  req.resume();
  if (req.method !== 'POST') return json(res, 405, { error: 'method_not_allowed' });
  const sub = url.searchParams.get('sub');
  if (!sub) return json(res, 400, { error: 'invalid_request', error_description: 'sub is required' });
  const only = url.searchParams.get('only');
  if (only !== null && only !== 'access') {
    return json(res, 400, { error: 'invalid_request', error_description: 'only=access is the one choice' });
  }
  const { grants, tokens } = revokeAccount(sub, { onlyAccess: only === 'access' });
  log(`POST /admin/revoke sub=${sub}${only ? ` only=${only}` : ''} -> grants=${grants} tokens=${tokens}`);
  return json(res, 200, { revoked: grants + tokens, grants, tokens });
}

function adminTokens(req, res, url) {
  req.resume();
  if (req.method !== 'GET') return json(res, 405, { error: 'method_not_allowed' });
  const all = ['1', 'true', 'yes'].includes(url.searchParams.get('all') || '');
  const tokens = listTokens({ all, sub: url.searchParams.get('sub') });
  log(`GET /admin/tokens${all ? ' all' : ''} -> ${tokens.length} values`);
  return json(res, 200, { tokens });
}

const tls = () => ({
  key: fs.readFileSync(path.join(certDir, 'server.key')),
  cert: fs.readFileSync(path.join(certDir, 'server.crt')),
  minVersion: 'TLSv1.2',
});

const server = https.createServer(tls(), (req, res) => {
  const url = new URL(req.url, ISSUER);
  if (url.pathname === '/admin/revoke') return adminRevoke(req, res, url);
  if (url.pathname === '/admin/tokens') return adminTokens(req, res, url);
  return providerCallback(req, res);
});

const servers = [server];
const listen = (srv, port, label) =>
  new Promise((resolve, reject) => {
    srv.once('error', (err) => reject(new Error(`${label} on ${HOST}:${port}: ${err.message}`)));
    srv.listen(port, HOST, () => resolve(`${label}=https://${HOST}:${port}`));
  });

async function main() {
  const done = [await listen(server, PORT, 'provider')];
  if (BROKEN_PORT) {
    const broken = https.createServer(tls(), brokenHandler(`https://${HOST}:${BROKEN_PORT}`, log));
    servers.push(broken);
    done.push(await listen(broken, BROKEN_PORT, 'broken'));
  }
  const msg = `oidc peer pid ${process.pid} (oidc-provider ${providerVersion()}) listening: ${done.join(' ')}`;
  process.stdout.write(msg + '\n');
  log(msg);
}

function providerVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules/oidc-provider/package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

function shutdown(sig) {
  log(`stopping on ${sig}`);
  for (const s of servers) {
    try {
      s.closeAllConnections?.();
      s.close(() => {});
    } catch {
      /* already closed */
    }
  }
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

main().catch((err) => {
  process.stderr.write(`oidc peer: ${err.message}\n`);
  process.exit(1);
});
