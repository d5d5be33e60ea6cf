'use strict';
/*
 * mailfleet fault peer: a scriptable SMTP server that answers like Microsoft
 * 365 / Exchange Online, for tests only. Listens on 127.0.0.1 ONLY.
 *
 *   node server.js DIR
 *
 * Ports come from the environment (peers.sh sets them):
 *   MF_FAULT_PORT             Exchange-like submission (STARTTLS, test CA cert)
 *   MF_FAULT_RAW_PORT         byte-level scenarios (plain `net`), chosen by EHLO name
 *   MF_WRONGCA_STARTTLS_PORT  like MF_FAULT_PORT, self-signed cert (not from the CA)
 *   MF_WRONGCA_TLS_PORT       implicit TLS, self-signed cert (not from the CA)
 *   MF_WRONGHOST_PORT         like MF_FAULT_PORT, CA-signed cert for wrong.example.test
 * Any of them unset or empty: that listener is not started.
 *
 * Tunables (environment):
 *   MF_FAULT_GOOD_PASS     password that authenticates      (default "good")
 *   MF_FAULT_GOOD_TOKEN    XOAUTH2 bearer that authenticates (default "good-token")
 *   MF_OIDC_INTROSPECT_URL, MF_OIDC_INTROSPECT_CLIENT, MF_OIDC_INTROSPECT_SECRET
 *                          the oidc peer's RFC 7662 endpoint and the client that
 *                          may call it (HTTP Basic; CA: DIR/certs/ca.crt). When
 *                          set, any other XOAUTH2 bearer is accepted if it is
 *                          active there and its sub is the AUTH user (any case),
 *                          or it has no sub and was issued to
 *   MF_OIDC_DAEMON_CLIENT  (default "mailfleet-daemon"): an app-only token
 *   MF_FAULT_RATE_LIMIT    messages per user per window      (default 30)
 *   MF_FAULT_RATE_WINDOW_MS                                  (default 60000)
 *   MF_FAULT_THREAD_LIMIT  concurrent connections per user   (default 3); a user
 *                          whose local part starts with conc- gets its final
 *                          dot answered 3 s late, so concurrent sessions overlap
 *   MF_FAULT_SOCKET_TIMEOUT_MS idle timeout                  (default 60000)
 *   MF_FAULT_LOG_STDOUT=1  also copy the log to stdout
 *
 * Files in DIR:
 *   certs/{server,wrongca,wronghost}.{crt,key}  (made by mkcerts.sh)
 *   fault-mail.log   one JSON line per accepted message (both SMTP ports)
 *   logs/fault.log   transcript of the smtp-server ports (C:/S: lines)
 *   logs/fault-raw.log transcript of the raw port
 *
 * Scenarios are documented in tests/peers/README.md.
 */

const fs = require('fs');
const path = require('path');
const net = require('net');
const tls = require('tls');
const https = require('https');
const util = require('util');
const crypto = require('crypto');
const { SMTPServer } = require('smtp-server');
const { SMTPConnection } = require('smtp-server/lib/smtp-connection');

const HOST = '127.0.0.1';
const NAME = 'fault.outlook.test';
const RAW_NAME = 'raw.fault.test';

const dir = process.argv[2];
if (!dir) {
    process.stderr.write('usage: node server.js DIR\n');
    process.exit(2);
}

const env = name => (process.env[name] || '').trim();
const envInt = (name, def) => {
    const v = env(name);
    if (!v) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) {
        process.stderr.write(`fault: ${name}=${v} is not a non-negative integer\n`);
        process.exit(2);
    }
    return n;
};

const GOOD_PASS = env('MF_FAULT_GOOD_PASS') || 'good';
const GOOD_TOKEN = env('MF_FAULT_GOOD_TOKEN') || 'good-token';
const RATE_LIMIT = envInt('MF_FAULT_RATE_LIMIT', 30);
const RATE_WINDOW_MS = envInt('MF_FAULT_RATE_WINDOW_MS', 60000);
const THREAD_LIMIT = envInt('MF_FAULT_THREAD_LIMIT', 3);
const SOCKET_TIMEOUT_MS = envInt('MF_FAULT_SOCKET_TIMEOUT_MS', 60000);
const OIDC_INTROSPECT_URL = env('MF_OIDC_INTROSPECT_URL');
const OIDC_CLIENT = env('MF_OIDC_INTROSPECT_CLIENT') || 'mail-servers';
const OIDC_SECRET = env('MF_OIDC_INTROSPECT_SECRET');
const OIDC_DAEMON_CLIENT = env('MF_OIDC_DAEMON_CLIENT') || 'mailfleet-daemon';
const MAX_SIZE = 37748736; // what Exchange Online advertises (35 MB)
const MAX_RCPTS = 500;

const certDir = path.join(dir, 'certs');
const logDir = path.join(dir, 'logs');
const mailLogPath = path.join(dir, 'fault-mail.log');
fs.mkdirSync(logDir, { recursive: true });

function readPair(name) {
    return {
        key: fs.readFileSync(path.join(certDir, name + '.key')),
        cert: fs.readFileSync(path.join(certDir, name + '.crt'))
    };
}

/* ------------------------------------------------------------------ logging */

const echo = env('MF_FAULT_LOG_STDOUT') === '1';
function openLog(file) {
    const stream = fs.createWriteStream(path.join(logDir, file), { flags: 'a' });
    return line => {
        const s = new Date().toISOString() + ' ' + line + '\n';
        stream.write(s);
        if (echo) process.stdout.write(s);
    };
}
const logSmtp = openLog('fault.log');
const logRaw = openLog('fault-raw.log');

// bunyan-style logger for smtp-server: (fields, format, ...args)
function makeLogger(tag) {
    const out = level => (fields, ...args) => {
        const cid = fields && fields.cid ? ' [' + fields.cid + ']' : '';
        logSmtp(`${tag} ${level}${cid} ${util.format(...args)}`);
    };
    const l = {};
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) l[level] = out(level);
    return l;
}

function appendMail(record) {
    fs.appendFileSync(mailLogPath, JSON.stringify(record) + '\n');
}

function mailRecord(port, user, from, to, buf) {
    const data = buf.toString('utf8');
    const rec = { ts: new Date().toISOString(), port, user: user || null, from, to, size: buf.length, data };
    if (!Buffer.from(data, 'utf8').equals(buf)) {
        rec.data_base64 = buf.toString('base64'); // exact bytes when not valid UTF-8
    }
    return rec;
}

/* ------------------------------------------- Exchange-like reply rewriting */

// smtp-server's stock reply texts -> what Exchange Online says.
const REWRITE = new Map([
    ['220|Ready to start TLS|', '2.0.0 SMTP server ready'],
    ['221|Bye|', '2.0.0 Service closing transmission channel'],
    ['235|Authentication successful|', '2.7.0 Authentication successful'],
    ['250|Accepted|MAIL_FROM_OK', '2.1.0 Sender OK'],
    ['250|Accepted|RCPT_TO_OK', '2.1.5 Recipient OK'],
    ['250|OK|', '2.0.0 OK'],
    ['354|End data with <CR><LF>.<CR><LF>|', 'Start mail input; end with <CRLF>.<CRLF>'],
    ['503|Error: need MAIL command|', '5.5.1 Bad sequence of commands'],
    ['503|Error: need RCPT command|', '5.5.1 Bad sequence of commands'],
    ['503|Error: nested MAIL command|', '5.5.1 Sender already specified'],
    ['503|Error: No identity changes permitted|', '5.5.1 Already authenticated']
]);
const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

const stockSend = SMTPConnection.prototype.send;
SMTPConnection.prototype.send = function (code, data, context) {
    if (typeof data === 'string') {
        const ctx = typeof context === 'string' ? context : '';
        const r = REWRITE.get(`${code}|${data}|${ctx}`) || REWRITE.get(`${code}|${data}|`);
        if (r !== undefined) data = r;
        // our texts carry their own enhanced status code: do not add another
        if (ENHANCED.test(data)) context = false;
    } else if (Array.isArray(data) && code === 250 && !this.secure) {
        // EHLO before TLS: Exchange does not offer AUTH until STARTTLS is done
        data = data.filter(line => !/^AUTH\b/i.test(line));
    }
    return stockSend.call(this, code, data, context);
};

// AUTH before STARTTLS: Exchange answers 504 5.7.4 (smtp-server says 538).
const stockAuth = SMTPConnection.prototype.handler_AUTH;
SMTPConnection.prototype.handler_AUTH = function (command, callback) {
    if (!this.secure) {
        this.send(504, '5.7.4 Unrecognized authentication type');
        return callback();
    }
    return stockAuth.call(this, command, callback);
};

/* ------------------------------------------- bearer tokens: RFC 7662 lookup */

let caCert = null;
// introspect(token) -> the provider's JSON answer, or null if it could not be had
function introspect(token) {
    if (!OIDC_INTROSPECT_URL) return Promise.resolve(null);
    if (!caCert) caCert = fs.readFileSync(path.join(certDir, 'ca.crt'));
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' }).toString();
    const basic = Buffer.from(`${encodeURIComponent(OIDC_CLIENT)}:${encodeURIComponent(OIDC_SECRET)}`).toString('base64');
    return new Promise(resolve => {
        const req = https.request(
            OIDC_INTROSPECT_URL,
            {
                method: 'POST',
                ca: caCert,
                timeout: 5000,
                headers: {
                    authorization: 'Basic ' + basic,
                    'content-type': 'application/x-www-form-urlencoded',
                    'content-length': Buffer.byteLength(body),
                    accept: 'application/json'
                }
            },
            res => {
                let data = '';
                res.setEncoding('utf8');
                res.on('data', c => (data += c));
                res.on('end', () => {
                    try {
                        resolve(res.statusCode === 200 ? JSON.parse(data) : null);
                    } catch (e) {
                        resolve(null);
                    }
                });
            }
        );
        req.on('timeout', () => req.destroy(new Error('introspection timed out')));
        req.on('error', err => {
            logSmtp(`introspection error: ${err.message}`);
            resolve(null);
        });
        req.end(body);
    });
}

// XOAUTH2: the static good token, or a token the oidc peer vouches for
async function bearerOk(user, token, sessionId) {
    if (token === GOOD_TOKEN) return true;
    if (!OIDC_INTROSPECT_URL || !token) return false;
    const r = await introspect(token);
    const sub = r && typeof r.sub === 'string' ? r.sub.toLowerCase() : null;
    const ok = !!(r && r.active === true && (sub ? sub === user : r.client_id === OIDC_DAEMON_CLIENT));
    logSmtp(
        `[${sessionId}] XOAUTH2 introspection for ${user}: ` +
            (r ? `active=${r.active === true} sub=${sub === null ? '(none)' : sub} client_id=${r.client_id || '-'}` : 'no answer') +
            ` -> ${ok ? 'accepted' : 'refused'}`
    );
    return ok;
}

/* ----------------------------------------------------------- scenario state */

const smtpErr = (code, text) => {
    const e = new Error(text);
    e.responseCode = code;
    return e;
};
const localPart = addr => String(addr || '').toLowerCase().split('@')[0];

let authSeq = 0;
const activeByUser = new Map(); // user -> Map(sessionId -> auth sequence number)
const acceptedByUser = new Map(); // user -> [timestamps of accepted messages]
const servers = []; // every listening server, for shutdown

function threadRank(session) {
    const m = activeByUser.get(session.mfUser);
    if (!m || !m.has(session.id)) return 0;
    const mine = m.get(session.id);
    let rank = 0;
    for (const seq of m.values()) if (seq < mine) rank++;
    return rank;
}

function recentAccepted(user, now) {
    const list = (acceptedByUser.get(user) || []).filter(t => now - t < RATE_WINDOW_MS);
    acceptedByUser.set(user, list);
    return list;
}

function findConnection(server, session) {
    for (const conn of server.connections) if (conn.id === session.id) return conn;
    return null;
}

/* ------------------------------------------------------ the Exchange ports */

function exchangeServer(label, pair, secure) {
    const server = new SMTPServer({
        name: NAME,
        banner: 'Microsoft ESMTP MAIL Service ready at ' + new Date().toUTCString(),
        heloResponse: '%s Hello %s',
        secure,
        key: pair.key,
        cert: pair.cert,
        minVersion: 'TLSv1.2',
        authMethods: ['LOGIN', 'PLAIN', 'XOAUTH2'],
        authOptional: true, // MAIL without AUTH is answered by onMailFrom below
        size: MAX_SIZE,
        hideREQUIRETLS: true,
        hideENHANCEDSTATUSCODES: false, // smtp-server hides these by default
        hideDSN: false,
        disableReverseLookup: true,
        socketTimeout: SOCKET_TIMEOUT_MS,
        closeTimeout: 1000,
        logger: makeLogger(label),

        onAuth(auth, session, cb) {
            const user = String(auth.username || '').toLowerCase();
            const local = localPart(user);
            if (local === 'smtpauth-disabled') {
                return cb(
                    smtpErr(
                        535,
                        '5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. ' +
                            'Visit https://aka.ms/smtp_auth_disabled for more information.'
                    )
                );
            }
            if (local === 'basic-off' && auth.method !== 'XOAUTH2') {
                return cb(smtpErr(550, '5.7.30 Basic authentication is not supported for Client Submission.'));
            }
            const accept = () => {
                session.mfUser = user;
                if (!activeByUser.has(user)) activeByUser.set(user, new Map());
                activeByUser.get(user).set(session.id, ++authSeq);
                return cb(null, { user });
            };
            const refuse = () => cb(smtpErr(535, '5.7.3 Authentication unsuccessful'));
            if (auth.method === 'XOAUTH2') {
                bearerOk(user, auth.accessToken, session.id).then(ok => (ok ? accept() : refuse()), refuse);
                return undefined;
            }
            return auth.password === GOOD_PASS ? accept() : refuse();
        },

        onClose(session) {
            const m = session.mfUser && activeByUser.get(session.mfUser);
            if (m) {
                m.delete(session.id);
                if (!m.size) activeByUser.delete(session.mfUser);
            }
        },

        onMailFrom(address, session, cb) {
            if (!session.secure) return cb(smtpErr(530, '5.7.0 Must issue a STARTTLS command first'));
            if (!session.user) return cb(smtpErr(530, '5.7.57 Client not authenticated to send mail.'));
            if (threadRank(session) >= THREAD_LIMIT) {
                return cb(smtpErr(432, '4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded'));
            }
            if (recentAccepted(session.mfUser, Date.now()).length >= RATE_LIMIT) {
                return cb(
                    smtpErr(451, `4.7.500 Server busy. Please try again later from [${session.remoteAddress}]. (S77719)`)
                );
            }
            return cb();
        },

        onRcptTo(address, session, cb) {
            const local = localPart(address.address);
            if (session.envelope.rcptTo.length >= MAX_RCPTS) return cb(smtpErr(452, '4.5.3 Too many recipients'));
            if (local === 'blocked') {
                return cb(smtpErr(550, '5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.'));
            }
            if (local === 'unknown') {
                return cb(smtpErr(550, '5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'));
            }
            return cb();
        },

        onData(stream, session, cb) {
            const to = session.envelope.rcptTo.map(r => r.address);
            const drop = to.some(a => localPart(a) === 'drop');
            const chunks = [];
            let dropped = false;
            stream.on('data', chunk => {
                if (dropped) return;
                chunks.push(chunk);
                if (drop) {
                    // some body bytes have arrived: pull the plug, no reply
                    dropped = true;
                    const conn = findConnection(server, session);
                    logSmtp(`${label} info [${session.id}] drop@ recipient: destroying connection in DATA`);
                    if (conn && conn._socket) conn._socket.destroy();
                }
            });
            stream.on('error', () => {});
            stream.on('end', () => {
                if (dropped) return; // connection is gone; nobody to answer
                if (stream.sizeExceeded) {
                    return cb(smtpErr(552, '5.3.4 Message size exceeds fixed maximum message size'));
                }
                if (localPart(session.mfUser) === 'quota') {
                    return cb(
                        smtpErr(
                            554,
                            '5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; ' +
                                'Failed to process message due to a permanent exception with message ' +
                                '[Cannot submit message. The sender has exceeded the submission quota.]'
                        )
                    );
                }
                const buf = Buffer.concat(chunks);
                const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
                appendMail(mailRecord(label, session.mfUser, from, to, buf));
                recentAccepted(session.mfUser, Date.now()).push(Date.now());
                const head = buf.subarray(0, 65536).toString('utf8').split(/\r?\n\r?\n/)[0];
                const m = /^Message-ID:\s*(<[^>\r\n]*>)/im.exec(head);
                const id = m ? m[1] : `<${crypto.randomBytes(8).toString('hex')}@${NAME}>`;
                // conc-* users: answer the final dot late, so that concurrent
                // connections overlap however loaded the machine is
                const late = /^conc-/i.test(localPart(session.mfUser || '')) ? 3000 : 0;
                setTimeout(() => cb(null, `2.0.0 OK ${id} [Hostname=${NAME}]`), late);
                return undefined;
            });
        }
    });
    server.on('error', err => logSmtp(`${label} error ${err && err.message}`));
    return server;
}

/* ------------------------------------------------------------ the raw port */

const RAW_LINE_MAX = 65536;
const rawSecureContext = () => {
    const p = readPair('server');
    return tls.createSecureContext({ key: p.key, cert: p.cert, minVersion: 'TLSv1.2' });
};

function rawSession(socket, secureContext, cid) {
    let sock = socket;
    let buf = Buffer.alloc(0);
    let scenario = null;
    let inData = false;
    let dataLines = [];
    let mailFrom = '';
    let rcpts = [];
    let secure = false;
    let closed = false;

    const short = s => (s.length > 200 ? s.slice(0, 200) + `...(${s.length} bytes)` : s);
    const log = s => logRaw(`[${cid}] ${s}`);

    function write(s) {
        if (closed || sock.destroyed) return;
        log('S: ' + short(s.replace(/\r\n$/, '').replace(/\r\n/g, '\\r\\n')));
        if (scenario === 'split') {
            // one byte per write, a millisecond apart: reply reassembly
            const bytes = Buffer.from(s);
            let i = 0;
            const next = () => {
                if (closed || sock.destroyed || i >= bytes.length) return;
                sock.write(bytes.subarray(i, ++i));
                setTimeout(next, 1);
            };
            return next();
        }
        sock.write(s);
    }
    function end(s) {
        if (s) write(s);
        closed = true;
        sock.end();
    }

    const ehloReply = () => {
        const lines = [`${RAW_NAME} Hello`, 'PIPELINING', '8BITMIME'];
        if (!secure && (scenario === 'inject' || scenario === 'default' || scenario === 'split')) lines.push('STARTTLS');
        if (secure || scenario === 'nostarttls') lines.push('AUTH PLAIN LOGIN');
        return lines.map((l, i) => `250${i < lines.length - 1 ? '-' : ' '}${l}`).join('\r\n') + '\r\n';
    };

    function startTls() {
        sock.removeAllListeners('data');
        buf = Buffer.alloc(0); // plaintext pipelined after STARTTLS is discarded
        const t = new tls.TLSSocket(sock, { isServer: true, secureContext });
        t.on('error', err => {
            log('TLS error: ' + err.message);
            t.destroy();
        });
        t.once('secure', () => {
            secure = true;
            log('TLS established ' + t.getProtocol());
        });
        t.on('data', onData);
        sock = t;
    }

    function onLine(line) {
        if (inData) {
            if (line === '.') {
                inData = false;
                const body = Buffer.from(dataLines.join('\r\n') + (dataLines.length ? '\r\n' : ''));
                appendMail(mailRecord('raw', null, mailFrom, rcpts, body));
                dataLines = [];
                mailFrom = '';
                rcpts = [];
                return write('250 2.0.0 OK queued\r\n');
            }
            dataLines.push(line.startsWith('.') ? line.slice(1) : line);
            return;
        }
        log('C: ' + short(line));
        const [verbRaw, ...rest] = line.split(' ');
        const verb = verbRaw.toUpperCase();
        const arg = rest.join(' ').trim();

        if (scenario === null) {
            if (verb !== 'EHLO' && verb !== 'HELO') return write('503 5.5.1 Send EHLO first\r\n');
            const n = arg.toLowerCase();
            scenario = ['inject', 'nostarttls', 'slow', 'garbage', 'longline', 'helo-only', 'eof', 'shutdown', 'split'].includes(n)
                ? n
                : 'default';
            log('scenario ' + scenario);
        }

        if (scenario === 'slow') return; // never answer again
        if (scenario === 'eof') return end();
        if (scenario === 'garbage' && verb !== 'QUIT') return write('this line has no reply code at all\r\n');

        switch (verb) {
            case 'EHLO':
                if (scenario === 'helo-only') return write('502 5.5.1 Command not implemented\r\n');
                if (scenario === 'shutdown') return end('421 4.3.2 Service not available, closing transmission channel\r\n');
                if (scenario === 'longline' && !secure) return write('250 ' + 'x'.repeat(100 * 1024) + '\r\n');
                return write(ehloReply());
            case 'HELO':
                if (scenario === 'shutdown') return end('421 4.3.2 Service not available, closing transmission channel\r\n');
                return write(`250 ${RAW_NAME} Hello\r\n`);
            case 'STARTTLS':
                if (secure) return write('503 5.5.1 TLS already active\r\n');
                if (scenario === 'inject') {
                    write('220 2.0.0 Ready\r\n250 injected\r\n'); // one write: the injection
                    return startTls();
                }
                if (scenario === 'default' || scenario === 'split') {
                    write('220 2.0.0 Ready to start TLS\r\n');
                    return startTls();
                }
                return write('454 4.7.0 TLS not available\r\n');
            case 'AUTH':
                if (!secure) log('ALERT: client sent AUTH in cleartext');
                return write('535 5.7.8 Authentication credentials invalid\r\n');
            case 'MAIL':
                mailFrom = (/<([^>]*)>/.exec(arg) || [, ''])[1];
                rcpts = [];
                return write('250 2.1.0 Sender OK\r\n');
            case 'RCPT':
                rcpts.push((/<([^>]*)>/.exec(arg) || [, ''])[1]);
                return write('250 2.1.5 Recipient OK\r\n');
            case 'DATA':
                inData = true;
                dataLines = [];
                return write('354 Start mail input; end with <CRLF>.<CRLF>\r\n');
            case 'RSET':
                mailFrom = '';
                rcpts = [];
                return write('250 2.0.0 OK\r\n');
            case 'NOOP':
                return write('250 2.0.0 OK\r\n');
            case 'QUIT':
                return end('221 2.0.0 Bye\r\n');
            default:
                return write('500 5.5.2 Command not recognized\r\n');
        }
    }

    function onData(chunk) {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        let idx;
        while (!closed && (idx = buf.indexOf('\n')) !== -1) {
            let line = buf.subarray(0, idx).toString('latin1');
            buf = buf.subarray(idx + 1);
            if (line.endsWith('\r')) line = line.slice(0, -1);
            const before = sock;
            onLine(line);
            if (sock !== before) return; // switched to TLS: rest of buf was dropped
        }
        if (buf.length > RAW_LINE_MAX) end('500 5.5.2 Line too long\r\n');
    }

    socket.on('data', onData);
    socket.on('error', () => {});
    socket.on('close', () => {
        closed = true;
        log('closed');
    });
    socket.setTimeout(10 * 60 * 1000, () => socket.destroy()); // even "slow" ends some day
    log('connect from ' + socket.remoteAddress + ':' + socket.remotePort);
    write(`220 ${RAW_NAME} ESMTP\r\n`);
}

function rawServer() {
    const ctx = rawSecureContext();
    let n = 0;
    const server = net.createServer(sock => rawSession(sock, ctx, 'r' + ++n));
    server.on('error', err => logRaw('server error ' + err.message));
    // net.Server has no "close all": keep track for shutdown
    server.mfSockets = new Set();
    server.on('connection', s => {
        server.mfSockets.add(s);
        s.on('close', () => server.mfSockets.delete(s));
    });
    return server;
}

/* -------------------------------------------------------------------- main */

function listen(server, port, label) {
    return new Promise((resolve, reject) => {
        const onErr = err => reject(new Error(`${label} on ${HOST}:${port}: ${err.message}`));
        server.once('error', onErr);
        server.listen(port, HOST, () => {
            server.removeListener('error', onErr);
            servers.push(server);
            resolve(label + '=' + HOST + ':' + port);
        });
    });
}

async function main() {
    const plan = [];
    const port = name => envInt(name, 0);
    if (port('MF_FAULT_PORT')) plan.push([exchangeServer('fault', readPair('server'), false), port('MF_FAULT_PORT'), 'fault']);
    if (port('MF_FAULT_RAW_PORT')) plan.push([rawServer(), port('MF_FAULT_RAW_PORT'), 'raw']);
    if (port('MF_WRONGCA_STARTTLS_PORT'))
        plan.push([exchangeServer('wrongca', readPair('wrongca'), false), port('MF_WRONGCA_STARTTLS_PORT'), 'wrongca-starttls']);
    if (port('MF_WRONGCA_TLS_PORT'))
        plan.push([exchangeServer('wrongca-tls', readPair('wrongca'), true), port('MF_WRONGCA_TLS_PORT'), 'wrongca-tls']);
    if (port('MF_WRONGHOST_PORT'))
        plan.push([exchangeServer('wronghost', readPair('wronghost'), false), port('MF_WRONGHOST_PORT'), 'wronghost']);
    if (!plan.length) throw new Error('no ports given (MF_FAULT_PORT etc.)');
    const done = await Promise.all(plan.map(([s, p, l]) => listen(s, p, l)));
    process.stdout.write(`fault peer pid ${process.pid} listening: ${done.join(' ')}\n`);
    logSmtp(`started pid ${process.pid}: ${done.join(' ')}`);
}

function shutdown(sig) {
    logSmtp('stopping on ' + sig);
    for (const s of servers) {
        if (s.mfSockets) for (const sock of s.mfSockets) sock.destroy();
        try {
            s.close(() => {});
        } catch (e) {
            /* already closed */
        }
    }
    setTimeout(() => process.exit(0), 300).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

main().catch(err => {
    process.stderr.write('fault peer: ' + err.message + '\n');
    process.exit(1);
});
