/*
 * Misbehaving "issuers" for the OAuth client's error paths (tests only).
 * One HTTPS listener (MF_OIDC_BROKEN_PORT, same certificate as the provider);
 * each path prefix is an issuer of its own, https://127.0.0.1:PORT/NAME:
 *
 *   /malformed  discovery answers 200 application/json with truncated JSON
 *   /badtoken   discovery ok; token and device_authorization endpoints answer
 *               200 application/json with truncated JSON
 *   /html500    discovery ok; device authorization ok; token endpoint answers
 *               500 text/html
 *   /slowdown   discovery ok; device authorization answers a device_code with
 *               expires_in 60, interval 1; polls of that device_code get
 *               authorization_pending, slow_down, authorization_pending, then
 *               {"access_token":"slowdown-at","refresh_token":"slowdown-rt",...};
 *               GET /slowdown/polls -> JSON array of the ms gaps between the
 *               polls of the latest device_code (?device_code=X for another)
 *   /expired    discovery ok; device authorization ok; token endpoint answers
 *               400 {"error":"expired_token"}
 *
 * Every issuer's authorization_endpoint (/NAME/auth) redirects at once to the
 * redirect_uri (loopback http only) with code=NAME-code-… and the state, so an
 * authorization-code flow reaches the token endpoint without a login page.
 */
import crypto from 'node:crypto';

const ISSUERS = new Set(['malformed', 'badtoken', 'html500', 'slowdown', 'expired']);
const SCOPE = 'openid offline_access SMTP.Send IMAP.AccessAsUser.All POP.AccessAsUser.All';

export function brokenHandler(base, log) {
  const devices = new Map(); // device_code -> { issuer, polls: [ms timestamps] }
  let latestSlowdown = null;

  const send = (res, status, type, body) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const json = (res, status, obj) => send(res, status, 'application/json', JSON.stringify(obj));
  const oauthError = (res, error, description, status = 400) =>
    json(res, status, description ? { error, error_description: description } : { error });

  const metadata = (name) => {
    const iss = `${base}/${name}`;
    return {
      issuer: iss,
      authorization_endpoint: `${iss}/auth`,
      token_endpoint: `${iss}/token`,
      device_authorization_endpoint: `${iss}/device/auth`,
      jwks_uri: `${iss}/jwks`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      scopes_supported: SCOPE.split(' '),
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    };
  };

  const userCode = () => {
    const a = 'BCDFGHJKLMNPQRSTVWXZ';
    const b = crypto.randomBytes(8);
    const s = [...b].map((x) => a[x % a.length]).join('');
    return `${s.slice(0, 4)}-${s.slice(4)}`;
  };

  function deviceAuthorization(res, name) {
    const deviceCode = `${name}-dc-${crypto.randomBytes(12).toString('hex')}`;
    const uc = userCode();
    devices.set(deviceCode, { issuer: name, polls: [] });
    if (name === 'slowdown') latestSlowdown = deviceCode;
    const verification = `${base}/${name}/device`;
    return json(res, 200, {
      device_code: deviceCode,
      user_code: uc,
      verification_uri: verification,
      verification_uri_complete: `${verification}?user_code=${encodeURIComponent(uc)}`,
      expires_in: 60,
      interval: 1,
    });
  }

  function token(res, name, form) {
    const grant = form.get('grant_type');
    if (name === 'badtoken') {
      return send(res, 200, 'application/json', '{"access_token":"badtoken-at","token_type":"Bearer","expires_in":36');
    }
    if (name === 'html500') {
      return send(res, 500, 'text/html; charset=utf-8',
        '<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>The server encountered an internal error.</p></body></html>');
    }
    if (grant !== 'urn:ietf:params:oauth:grant-type:device_code') {
      return oauthError(res, 'invalid_grant', `this issuer only does the device flow`);
    }
    if (name === 'expired') return oauthError(res, 'expired_token', 'the device code has expired');
    const dc = form.get('device_code') || '';
    const d = devices.get(dc);
    if (!d || d.issuer !== name) return oauthError(res, 'invalid_grant', 'unknown device_code');
    // slowdown
    d.polls.push(Date.now());
    switch (d.polls.length) {
      case 1:
      case 3:
        return oauthError(res, 'authorization_pending');
      case 2:
        return oauthError(res, 'slow_down');
      case 4:
        return json(res, 200, {
          access_token: 'slowdown-at',
          refresh_token: 'slowdown-rt',
          expires_in: 3600,
          token_type: 'Bearer',
          scope: SCOPE,
        });
      default:
        return oauthError(res, 'invalid_grant', 'device_code already used');
    }
  }

  function authorize(res, name, url) {
    let redirect;
    try {
      redirect = new URL(url.searchParams.get('redirect_uri') || '');
    } catch {
      redirect = null;
    }
    if (!redirect || redirect.protocol !== 'http:' || redirect.hostname !== '127.0.0.1') {
      return send(res, 400, 'text/plain', 'redirect_uri must be http://127.0.0.1:PORT/...\n');
    }
    redirect.searchParams.set('code', `${name}-code-${crypto.randomBytes(8).toString('hex')}`);
    const state = url.searchParams.get('state');
    if (state !== null) redirect.searchParams.set('state', state);
    res.writeHead(302, { location: redirect.href, 'cache-control': 'no-store' });
    return res.end();
  }

  return (req, res) => {
    const url = new URL(req.url, base);
    const parts = url.pathname.split('/').filter(Boolean);
    const name = parts[0];
    const rest = '/' + parts.slice(1).join('/');
    let body = '';
    let size = 0;
    req.setEncoding('utf8');
    req.on('data', (c) => {
      size += c.length;
      if (size <= 65536) body += c;
    });
    req.on('end', () => {
      log(`broken: ${req.method} ${url.pathname}`);
      if (!ISSUERS.has(name)) return oauthError(res, 'not_found', 'unknown issuer path', 404);
      if (req.method === 'GET' && rest === '/.well-known/openid-configuration') {
        if (name === 'malformed') {
          const full = JSON.stringify(metadata(name));
          return send(res, 200, 'application/json', full.slice(0, Math.floor(full.length / 2)));
        }
        return json(res, 200, metadata(name));
      }
      if (req.method === 'GET' && rest === '/auth') return authorize(res, name, url);
      if (req.method === 'GET' && rest === '/device') {
        return send(res, 200, 'text/html', `<!DOCTYPE html><html><body><h1>${name}</h1><p>Nothing to sign in to here.</p></body></html>`);
      }
      if (req.method === 'POST' && rest === '/device/auth') {
        if (name === 'badtoken') {
          return send(res, 200, 'application/json', '{"device_code":"badtoken-dc","user_code":"BCDF-');
        }
        return deviceAuthorization(res, name);
      }
      if (req.method === 'POST' && rest === '/token') return token(res, name, new URLSearchParams(body));
      if (req.method === 'GET' && name === 'slowdown' && rest === '/polls') {
        const dc = url.searchParams.get('device_code') || latestSlowdown;
        const polls = (dc && devices.get(dc) && devices.get(dc).polls) || [];
        return json(res, 200, polls.slice(1).map((t, i) => t - polls[i]));
      }
      return oauthError(res, 'not_found', `no ${req.method} ${rest} at this issuer`, 404);
    });
  };
}
