/*
 * In-memory storage adapter for oidc-provider (tests only).
 *
 * oidc-provider's own MemoryAdapter is an LRU of 1000 entries, so a long test
 * run could lose live tokens; this one keeps everything until it expires and
 * can find every artifact of one account, which the admin endpoint needs
 * ("the user revoked access"). Interface: see oidc-provider's
 * lib/adapters/memory_adapter.js.
 */

const models = new Map(); // model name -> Map(id -> { payload, exp (ms since epoch, 0 = never) })
const byUserCode = new Map(); // userCode -> DeviceCode id
const byUid = new Map(); // session uid -> Session id
const byGrant = new Map(); // grantId -> Set of "Model\0id"

// Artifacts bound to a grant (revoked with it).
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
// What /admin/revoke counts as a token.
const TOKENS = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode'];
// Secret values /admin/tokens lists (for opaque artifacts the id is the value).
const SECRET_KINDS = new Set(['AccessToken', 'RefreshToken', 'ClientCredentials', 'AuthorizationCode', 'DeviceCode']);
const issued = new Map(); // every such value since start (revoked, expired too) -> its account or null

const now = () => Date.now();
const epoch = () => Math.floor(Date.now() / 1000);

function table(name) {
  if (!models.has(name)) models.set(name, new Map());
  return models.get(name);
}

function live(name, id) {
  const t = table(name);
  const e = t.get(id);
  if (!e) return undefined;
  if (e.exp && e.exp <= now()) {
    t.delete(id);
    return undefined;
  }
  return e.payload;
}

export class MapAdapter {
  constructor(name) {
    this.name = name;
  }

  async upsert(id, payload, expiresIn) {
    table(this.name).set(id, { payload, exp: expiresIn ? now() + expiresIn * 1000 : 0 });
    if (SECRET_KINDS.has(this.name) && !issued.has(id)) issued.set(id, typeof payload.accountId === 'string' ? payload.accountId : null);
    if (this.name === 'Session' && payload.uid) byUid.set(payload.uid, id);
    if (payload.userCode) byUserCode.set(payload.userCode, id);
    if (GRANTABLE.has(this.name) && payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
      byGrant.get(payload.grantId).add(`${this.name}\0${id}`);
    }
  }

  async find(id) {
    return live(this.name, id);
  }

  async findByUserCode(userCode) {
    const id = byUserCode.get(userCode);
    return id === undefined ? undefined : live(this.name, id);
  }

  async findByUid(uid) {
    const id = byUid.get(uid);
    return id === undefined ? undefined : live(this.name, id);
  }

  async consume(id) {
    const p = live(this.name, id);
    if (p) p.consumed = epoch();
  }

  async destroy(id) {
    table(this.name).delete(id);
  }

  async revokeByGrantId(grantId) {
    revokeGrant(grantId);
  }
}

// Delete every artifact of a grant; returns how many unconsumed tokens went.
function revokeGrant(grantId) {
  let tokens = 0;
  const keys = byGrant.get(grantId);
  if (keys) {
    for (const k of keys) {
      const [name, id] = k.split('\0');
      const p = live(name, id);
      if (p && TOKENS.includes(name) && !p.consumed) tokens++;
      table(name).delete(id);
    }
    byGrant.delete(grantId);
  }
  return tokens;
}

/*
 * Revoke everything of one account (sub, compared case-insensitively): its
 * grants with all their tokens and codes, any token of it not tied to a grant,
 * and its sessions (so the next browser login starts over).
 * Returns { grants, tokens }.
 */
export function revokeAccount(sub, { onlyAccess = false } = {}) {
  const want = String(sub).toLowerCase();
  const mine = p => p && typeof p.accountId === 'string' && p.accountId.toLowerCase() === want;
  let grants = 0;
  let tokens = 0;
  if (onlyAccess) {
    // only the access tokens: grants and refresh tokens stay, so a client's
    // next refresh works (a resource server refusing a token it still holds)
    for (const [id] of [...table('AccessToken')]) {
      if (mine(live('AccessToken', id))) {
        table('AccessToken').delete(id);
        tokens++;
      }
    }
    return { grants, tokens };
  }
  for (const [id] of [...table('Grant')]) {
    const p = live('Grant', id);
    if (!mine(p)) continue;
    tokens += revokeGrant(id);
    table('Grant').delete(id);
    grants++;
  }
  for (const name of TOKENS) {
    for (const [id] of [...table(name)]) {
      const p = live(name, id);
      if (!mine(p)) continue;
      if (!p.consumed) tokens++;
      table(name).delete(id);
    }
  }
  for (const [id] of [...table('Session')]) {
    if (mine(live('Session', id))) table('Session').delete(id);
  }
  return { grants, tokens };
}

/*
 * Token values for leak checks: live access/refresh/client-credentials tokens
 * (all: every access, refresh and client-credentials token, authorization
 * code and device code issued since start, revoked, consumed and expired ones
 * included). sub: only those of that account (case-insensitive).
 */
export function listTokens({ all = false, sub = null } = {}) {
  const want = sub === null ? null : String(sub).toLowerCase();
  const ofSub = acc => want === null || (typeof acc === 'string' && acc.toLowerCase() === want);
  if (all) return [...issued].filter(([, acc]) => ofSub(acc)).map(([id]) => id);
  const out = [];
  for (const name of ['AccessToken', 'RefreshToken', 'ClientCredentials']) {
    for (const [id] of [...table(name)]) {
      const p = live(name, id);
      if (p && !p.consumed && ofSub(p.accountId)) out.push(id);
    }
  }
  return out;
}

// Drop expired entries now and then so a long run does not grow without bound.
setInterval(() => {
  const t = now();
  for (const m of models.values()) for (const [id, e] of m) if (e.exp && e.exp <= t) m.delete(id);
  for (const [g, keys] of byGrant) {
    for (const k of keys) {
      const [name, id] = k.split('\0');
      if (!table(name).has(id)) keys.delete(k);
    }
    if (!keys.size) byGrant.delete(g);
  }
}, 60000).unref();
