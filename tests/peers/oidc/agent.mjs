#!/usr/bin/env node
/*
 * mailfleet test peer: a scripted user agent that plays the human in the
 * browser against the oidc peer (server.mjs), so tests need no real browser.
 * Talks to loopback addresses only. Node's http/https with a cookie jar; the
 * provider's certificate is checked against MF_PEER_CA (or the CAs Node
 * trusts, NODE_EXTRA_CA_CERTS included).
 *
 *   node agent.mjs browser URL [--user U] [--deny] [--tamper-state]
 *       Opens the authorization URL, follows redirects, signs in as U on the
 *       login page, approves the consent page (--deny: cancels it, so the
 *       client receives error=access_denied) and performs the GET on the
 *       loopback redirect (http://127.0.0.1:PORT/...) exactly once; prints
 *       the HTTP status of that last response. --tamper-state changes the
 *       state parameter of that last GET. Exit 0 once that GET got an answer.
 *   node agent.mjs device --code USER_CODE [--user U] [--deny]
 *       Opens the verification page (ISSUER/device), enters the code, signs
 *       in, approves (prints "approved") or denies (prints "denied").
 *   node agent.mjs token [--client mailfleet-native|mailfleet-short] [--user U]
 *                        [--scope "..."] [--json]
 *       A whole authorization-code + PKCE (S256) flow with its own loopback
 *       listener; prints only the access token (--json: the whole token
 *       response, refresh_token included).
 *
 * Common options: --issuer URL (default MF_OIDC_ISSUER), --timeout SECONDS
 * (whole run, default 15). U defaults to the login_hint of the URL, then
 * MF_OIDC_USER, then test@example.test. Variables not in the environment are
 * read from MF_PEER_DIR/peers.env when MF_PEER_DIR is set.
 * Diagnostics go to stderr and never contain token values.
 * Exit status: 0 done, 1 the flow failed, 2 usage, 3 timed out.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const DEFAULT_SCOPE = 'openid offline_access IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send';

const say = (msg) => process.stderr.write(`agent: ${msg}\n`);
function die(msg, code = 1) {
  say(msg);
  process.exit(code);
}

/* ----------------------------------------------------------------- options */

function parseArgs(argv) {
  const o = { _: [] };
  const flags = new Set(['deny', 'tamper-state', 'json']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      o._.push(a);
      continue;
    }
    let key = a.slice(2);
    let val;
    const eq = key.indexOf('=');
    if (eq !== -1) {
      val = key.slice(eq + 1);
      key = key.slice(0, eq);
    }
    if (flags.has(key)) {
      o[key] = true;
      continue;
    }
    if (val === undefined) {
      if (i + 1 >= argv.length) die(`--${key} needs a value`, 2);
      val = argv[++i];
    }
    o[key] = val;
  }
  return o;
}

// peers.env is written with printf %q: plain words, '' for empty, \-escapes.
function readPeersEnv() {
  const dir = process.env.MF_PEER_DIR;
  if (!dir) return {};
  let text;
  try {
    text = fs.readFileSync(path.join(dir, 'peers.env'), 'utf8');
  } catch {
    return {};
  }
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2];
    if (v === "''") v = '';
    else if (/^'.*'$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\\(.)/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const mode = opts._[0];
const fileEnv = readPeersEnv();
const envv = (name) => process.env[name] || fileEnv[name] || '';

const caFile = envv('MF_PEER_CA');
const ca = caFile ? fs.readFileSync(caFile) : undefined;
const timeoutS = Number(opts.timeout || 15);
setTimeout(() => die(`gave up after ${timeoutS} s`, 3), timeoutS * 1000).unref();

/* ------------------------------------------------------------------- HTTP */

const jar = new Map(); // "name\0path" -> { name, value, path }

function storeCookies(url, setCookie) {
  for (const sc of setCookie || []) {
    const [pair, ...attrs] = sc.split(';');
    const eq = pair.indexOf('=');
    if (eq < 1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let cpath = url.pathname.replace(/\/[^/]*$/, '') || '/';
    let gone = false;
    for (const attr of attrs) {
      const [k, ...v] = attr.split('=');
      const key = k.trim().toLowerCase();
      const val = v.join('=').trim();
      if (key === 'path' && val.startsWith('/')) cpath = val;
      if (key === 'max-age' && Number(val) <= 0) gone = true;
      if (key === 'expires' && Date.parse(val) <= Date.now()) gone = true;
    }
    const k = `${name}\0${cpath}`;
    if (gone) jar.delete(k);
    else jar.set(k, { name, value, path: cpath });
  }
}

function cookieHeader(url) {
  const p = url.pathname;
  const list = [...jar.values()]
    .filter((c) => p === c.path || p.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
    .sort((a, b) => b.path.length - a.path.length);
  return list.map((c) => `${c.name}=${c.value}`).join('; ');
}

function request(href, { method = 'GET', form = null, headers = {}, cookies = true } = {}) {
  const url = new URL(href);
  if (!LOOPBACK.has(url.hostname)) throw new Error(`refusing to contact ${url.host}: loopback only`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`unsupported URL scheme ${url.protocol}`);
  const mod = url.protocol === 'https:' ? https : http;
  const body = form ? new URLSearchParams(form).toString() : null;
  const h = { 'user-agent': 'mailfleet-test-agent/1', accept: 'text/html,application/json', ...headers };
  if (body !== null) {
    h['content-type'] = 'application/x-www-form-urlencoded';
    h['content-length'] = Buffer.byteLength(body);
  }
  if (cookies && url.protocol === 'https:') {
    const c = cookieHeader(url);
    if (c) h.cookie = c;
  }
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers: h, ca, agent: false, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (cookies && url.protocol === 'https:') storeCookies(url, res.headers['set-cookie']);
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), url });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.host} within 5 s`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

/* ------------------------------------------------------------- HTML forms */

const decode = (s) =>
  s
    .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

function attrs(s) {
  const out = {};
  for (const m of s.matchAll(/([a-zA-Z_:][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out[m[1].toLowerCase()] = decode(m[2] ?? m[3]);
  return out;
}

function forms(page, base) {
  const out = [];
  for (const m of page.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const a = attrs(m[1]);
    const fields = {};
    for (const i of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const ia = attrs(i[1]);
      if (ia.name) fields[ia.name] = ia.value ?? '';
    }
    out.push({ id: a.id || '', method: (a.method || 'get').toUpperCase(), action: new URL(a.action || base, base).href, fields });
  }
  return out;
}

const pageText = (page) =>
  decode(page.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim().slice(0, 400);

/* -------------------------------------------------------------- the human */

function defaultUser(startUrl) {
  if (opts.user) return opts.user;
  try {
    const hint = new URL(startUrl).searchParams.get('login_hint');
    if (hint) return hint;
  } catch {
    /* not a URL */
  }
  return envv('MF_OIDC_USER') || 'test@example.test';
}

/*
 * Walk the provider's pages like a person: follow redirects, fill in the
 * device code, sign in, approve or cancel. Returns
 *   { kind: 'redirect', url }  the browser is about to GET the client's
 *                              loopback redirect (not done here)
 *   { kind: 'page', title, text, status }  a page with nothing left to do
 */
async function walk(startUrl, { user, deny, userCode }) {
  let href = startUrl;
  let method = 'GET';
  let form = null;
  for (let hop = 0; hop < 40; hop++) {
    const u = new URL(href);
    if (u.protocol === 'http:') return { kind: 'redirect', url: u };
    const res = await request(href, { method, form });
    method = 'GET';
    form = null;
    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      href = new URL(res.headers.location, href).href;
      continue;
    }
    const page = res.body;
    const title = (/<title>([\s\S]*?)<\/title>/i.exec(page) || [, ''])[1].trim();
    const fs_ = forms(page, href);
    const byPrompt = (p) => fs_.find((f) => f.fields.prompt === p);
    const input = fs_.find((f) => f.id === 'op.deviceInputForm');
    const confirm = fs_.find((f) => f.id === 'op.deviceConfirmForm');
    if (res.status === 200 && byPrompt('login')) {
      say(`sign in as ${user}`);
      const f = byPrompt('login');
      [href, method, form] = [f.action, 'POST', { ...f.fields, prompt: 'login', login: user, password: 'any-password' }];
      continue;
    }
    if (res.status === 200 && byPrompt('consent')) {
      if (deny) {
        const abort = (/<a\b[^>]*href\s*=\s*"([^"]*\/abort[^"]*)"/i.exec(page) || [])[1];
        if (!abort) throw new Error('consent page without a cancel link');
        say('consent: cancel (deny)');
        href = new URL(decode(abort), href).href;
        continue;
      }
      say('consent: approve');
      const f = byPrompt('consent');
      [href, method, form] = [f.action, 'POST', { ...f.fields }];
      continue;
    }
    if (res.status === 200 && input && userCode !== undefined && !/incorrect|interrupted|error/i.test(pageText(page))) {
      say('enter the user code');
      [href, method, form] = [input.action, 'POST', { ...input.fields, user_code: userCode }];
      userCode = undefined; // entered once; the same form again means it was refused
      continue;
    }
    if (res.status === 200 && confirm) {
      say('confirm the device');
      [href, method, form] = [confirm.action, 'POST', { ...confirm.fields }];
      continue;
    }
    return { kind: 'page', status: res.status, title, text: pageText(page) };
  }
  throw new Error('too many steps (redirect loop?)');
}

async function finalGet(url, tamper) {
  if (tamper) {
    const s = url.searchParams.get('state');
    url.searchParams.set('state', s === null ? 'tampered' : `${s}-tampered`);
    say('state parameter tampered with');
  }
  say(`GET ${url.origin}${url.pathname} (the client's loopback redirect)`);
  const res = await request(url.href, { cookies: false });
  return res.status;
}

/* ------------------------------------------------------------------ modes */

async function modeBrowser() {
  const start = opts._[1];
  if (!start) die('usage: agent.mjs browser URL [--user U] [--deny] [--tamper-state]', 2);
  const r = await walk(start, { user: defaultUser(start), deny: !!opts.deny });
  if (r.kind !== 'redirect') die(`ended on a page, not at the client's redirect: ${r.status} "${r.title}": ${r.text}`);
  const status = await finalGet(r.url, !!opts['tamper-state']);
  process.stdout.write(`${status}\n`);
}

function issuer() {
  const iss = opts.issuer || envv('MF_OIDC_ISSUER');
  if (!iss) die('no issuer: give --issuer or set MF_OIDC_ISSUER (or MF_PEER_DIR)', 2);
  return iss.replace(/\/+$/, '');
}

async function modeDevice() {
  const code = opts.code;
  if (!code) die('usage: agent.mjs device --code USER_CODE [--user U] [--deny]', 2);
  const start = opts.url || `${issuer()}/device`;
  const r = await walk(start, { user: defaultUser(start), deny: !!opts.deny, userCode: code });
  if (r.kind === 'redirect') die(`unexpected redirect to ${r.url.origin}${r.url.pathname}`);
  if (/success/i.test(r.title) || /success/i.test(r.text)) {
    if (opts.deny) die('device sign-in succeeded although --deny was given');
    process.stdout.write('approved\n');
    return;
  }
  if (opts.deny && /interrupted|access_denied|aborted/i.test(r.text)) {
    process.stdout.write('denied\n');
    return;
  }
  die(`device sign-in failed: ${r.status} "${r.title}": ${r.text}`);
}

const b64url = (buf) => buf.toString('base64url');

async function modeToken() {
  const clientId = opts.client || envv('MF_OIDC_NATIVE_CLIENT') || 'mailfleet-native';
  const scope = opts.scope || DEFAULT_SCOPE;
  const disco = await request(`${issuer()}/.well-known/openid-configuration`, { cookies: false });
  if (disco.status !== 200) die(`discovery: HTTP ${disco.status}`);
  const md = JSON.parse(disco.body);

  // the client's loopback listener (RFC 8252 §7.3)
  let got = null;
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    if (u.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    got = u.searchParams;
    res.writeHead(200, { 'content-type': 'text/plain' }).end('signed in; you can close this window\n');
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const redirectUri = `http://127.0.0.1:${srv.address().port}/callback`;
  const verifier = b64url(crypto.randomBytes(32));
  const state = b64url(crypto.randomBytes(16));
  const auth = new URL(md.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    state,
    code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();

  try {
    const r = await walk(auth.href, { user: defaultUser(auth.href), deny: false });
    if (r.kind !== 'redirect') die(`ended on a page, not at the redirect: ${r.status} "${r.title}": ${r.text}`);
    await finalGet(r.url, false);
  } finally {
    srv.close();
  }
  if (!got) die('the redirect never reached the loopback listener');
  if (got.get('error')) die(`authorization error: ${got.get('error')} ${got.get('error_description') || ''}`);
  if (got.get('state') !== state) die('state mismatch in the redirect');
  const code = got.get('code');
  if (!code) die('no code in the redirect');

  const tok = await request(md.token_endpoint, {
    method: 'POST',
    cookies: false,
    headers: { accept: 'application/json' },
    form: { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier },
  });
  let body;
  try {
    body = JSON.parse(tok.body);
  } catch {
    die(`token endpoint: HTTP ${tok.status}, not JSON`);
  }
  if (tok.status !== 200 || !body.access_token) die(`token endpoint: HTTP ${tok.status} ${body.error || ''} ${body.error_description || ''}`);
  say(`token for ${clientId}: expires_in=${body.expires_in} scope="${body.scope || ''}" refresh_token=${body.refresh_token ? 'yes' : 'no'}`);
  process.stdout.write(opts.json ? `${JSON.stringify(body)}\n` : `${body.access_token}\n`);
}

const modes = { browser: modeBrowser, device: modeDevice, token: modeToken };
if (!modes[mode]) die('usage: agent.mjs browser URL | device --code USER_CODE | token [--client ID]  (see the head of agent.mjs)', 2);
modes[mode]().then(
  () => process.exit(0),
  (err) => die(err && err.message ? err.message : String(err))
);
