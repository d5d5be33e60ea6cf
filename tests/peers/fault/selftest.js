'use strict';
/*
 * Self-test of the fault peer: drives every scenario with a tiny SMTP client
 * (plain node net/tls, independent of smtp-server) and checks the exact
 * replies. Needs the peers running:
 *
 *   tests/peers/peers.sh start DIR
 *   node tests/peers/fault/selftest.js DIR
 *
 * Prints PASS/FAIL per check, exits 1 on any failure. Takes a few seconds;
 * the rate-limit check sends 31 messages as a throwaway user.
 */
const fs = require('fs');
const net = require('net');
const tls = require('tls');
const path = require('path');

const dir = process.argv[2];
if (!dir) {
    console.error('usage: node selftest.js DIR');
    process.exit(2);
}
const env = {};
for (const line of fs.readFileSync(path.join(dir, 'peers.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1').replace(/\\ /g, ' ');
}
const CA = fs.readFileSync(env.MF_PEER_CA);
const FAULT = Number(env.MF_FAULT_PORT);
const RAW = Number(env.MF_FAULT_RAW_PORT);
const run = Date.now().toString(36);

/* ---------------------------------------------------------- tiny client */

class Client {
    constructor(sock) {
        this.sock = sock;
        this.buf = '';
        this.waiters = [];
        this.closed = false;
        this.attach(sock);
    }
    attach(sock) {
        sock.setEncoding('latin1');
        sock.on('data', d => {
            this.buf += d;
            this.pump();
        });
        sock.on('close', () => {
            this.closed = true;
            this.pump();
        });
        sock.on('error', () => {});
    }
    static connect(port) {
        return new Promise((resolve, reject) => {
            const s = net.connect(port, '127.0.0.1', () => resolve(new Client(s)));
            s.once('error', reject);
        });
    }
    // one complete reply: lines up to "NNN text"; or {closed:true}
    pump() {
        while (this.waiters.length) {
            const lines = [];
            let rest = this.buf;
            let done = false;
            let idx;
            while ((idx = rest.indexOf('\r\n')) !== -1) {
                const line = rest.slice(0, idx);
                rest = rest.slice(idx + 2);
                lines.push(line);
                if (!/^\d{3}-/.test(line)) {
                    done = true;
                    break;
                }
            }
            if (done) {
                this.buf = rest;
                const w = this.waiters.shift();
                clearTimeout(w.timer);
                w.resolve({ code: Number(lines[lines.length - 1].slice(0, 3)) || 0, lines, text: lines.join('\n') });
            } else if (this.closed) {
                const w = this.waiters.shift();
                clearTimeout(w.timer);
                w.resolve({ code: 0, closed: true, lines: [], text: '<closed>' });
            } else {
                return;
            }
        }
    }
    reply(ms = 5000) {
        return new Promise(resolve => {
            const w = { resolve };
            w.timer = setTimeout(() => {
                this.waiters.splice(this.waiters.indexOf(w), 1);
                resolve({ code: 0, timeout: true, lines: [], text: '<timeout>' });
            }, ms);
            this.waiters.push(w);
            this.pump();
        });
    }
    write(s) {
        this.sock.write(s);
    }
    async cmd(line, ms) {
        this.write(line + '\r\n');
        return this.reply(ms);
    }
    starttls(servername = 'localhost') {
        return new Promise((resolve, reject) => {
            this.sock.removeAllListeners('data');
            this.sock.removeAllListeners('close');
            const t = tls.connect({ socket: this.sock, ca: CA, servername, minVersion: 'TLSv1.2' }, () => {
                this.sock = t;
                this.attach(t);
                resolve(t);
            });
            t.once('error', reject);
        });
    }
    close() {
        this.sock.destroy();
    }
}

const b64 = s => Buffer.from(s).toString('base64');

async function session(user, secret, { mech = 'PLAIN' } = {}) {
    const c = await Client.connect(FAULT);
    await c.reply();
    await c.cmd('EHLO selftest.example');
    const st = await c.cmd('STARTTLS');
    if (st.code !== 220) throw new Error('STARTTLS: ' + st.text);
    await c.starttls();
    c.ehlo = await c.cmd('EHLO selftest.example');
    if (user) {
        if (mech === 'PLAIN') c.auth = await c.cmd('AUTH PLAIN ' + b64(`\0${user}\0${secret}`));
        else if (mech === 'XOAUTH2') c.auth = await c.cmd('AUTH XOAUTH2 ' + b64(`user=${user}\x01auth=Bearer ${secret}\x01\x01`));
        else {
            await c.cmd('AUTH LOGIN');
            await c.cmd(b64(user));
            c.auth = await c.cmd(b64(secret));
        }
    }
    return c;
}

async function sendOne(c, from, rcpts, body) {
    const r = { mail: await c.cmd(`MAIL FROM:<${from}>`) };
    if (r.mail.code !== 250) return r;
    r.rcpt = [];
    for (const to of rcpts) r.rcpt.push(await c.cmd(`RCPT TO:<${to}>`));
    r.data = await c.cmd('DATA');
    if (r.data.code !== 354) return r;
    c.write(body + '\r\n.\r\n');
    r.end = await c.reply();
    return r;
}

/* --------------------------------------------------------------- checks */

let failures = 0;
function check(name, cond, detail) {
    if (cond) console.log('PASS  ' + name);
    else {
        failures++;
        console.log('FAIL  ' + name + (detail ? '\n      | ' + String(detail).split('\n').join('\n      | ') : ''));
    }
}
const starts = (r, prefix) => r && r.text && r.lines.length && r.lines[r.lines.length - 1].startsWith(prefix);

function mailLogLines() {
    try {
        return fs.readFileSync(env.MF_FAULT_MAIL_LOG, 'utf8').trim().split('\n').filter(Boolean).map(JSON.parse);
    } catch (e) {
        return [];
    }
}

async function main() {
    // banner, EHLO before/after TLS
    {
        const c = await Client.connect(FAULT);
        const banner = await c.reply();
        check('banner 220 ... Microsoft ESMTP MAIL Service ready', /^220 \S+ ESMTP Microsoft ESMTP MAIL Service ready/.test(banner.text), banner.text);
        const e1 = await c.cmd('EHLO selftest.example');
        check('EHLO before TLS: STARTTLS, no AUTH', /250-STARTTLS|250 STARTTLS/.test(e1.text) && !/AUTH/.test(e1.text), e1.text);
        const a = await c.cmd('AUTH PLAIN ' + b64('\0x\0good'));
        check('AUTH before TLS -> 504 5.7.4', starts(a, '504 5.7.4 Unrecognized authentication type'), a.text);
        const m = await c.cmd('MAIL FROM:<a@example.test>');
        check('MAIL before TLS -> 530 5.7.0', starts(m, '530 5.7.0 Must issue a STARTTLS command first'), m.text);
        c.close();
    }
    {
        const c = await session(null);
        check(
            'EHLO after TLS: AUTH LOGIN PLAIN XOAUTH2, SIZE, ENHANCEDSTATUSCODES, DSN',
            /250-AUTH LOGIN PLAIN XOAUTH2/.test(c.ehlo.text) && /SIZE 37748736/.test(c.ehlo.text) && /ENHANCEDSTATUSCODES/.test(c.ehlo.text) && /DSN/.test(c.ehlo.text),
            c.ehlo.text
        );
        const x = await c.cmd('XYZZY');
        check('unknown command -> 500 5.5.2 (one enhanced code)', /^500 5\.5\.2 [^0-9]/.test(x.text), x.text);
        const m = await c.cmd('MAIL FROM:<a@example.test>');
        check('MAIL after TLS without AUTH -> 530 5.7.57', starts(m, '530 5.7.57 Client not authenticated to send mail.'), m.text);
        c.close();
    }
    // authentication scenarios
    {
        const u = `ok-${run}@example.test`;
        for (const mech of ['PLAIN', 'LOGIN']) {
            const c = await session(u, 'good', { mech });
            check(`AUTH ${mech} good -> 235 2.7.0`, starts(c.auth, '235 2.7.0 Authentication successful'), c.auth.text);
            c.close();
        }
        let c = await session(u, 'good-token', { mech: 'XOAUTH2' });
        check('AUTH XOAUTH2 good-token -> 235 2.7.0', starts(c.auth, '235 2.7.0 Authentication successful'), c.auth.text);
        c.close();
        c = await session(u, 'expired-token', { mech: 'XOAUTH2' });
        check('AUTH XOAUTH2 other token -> 535 5.7.3', starts(c.auth, '535 5.7.3 Authentication unsuccessful'), c.auth.text);
        c.close();
        c = await session(u, 'bad', { mech: 'PLAIN' });
        check('AUTH PLAIN wrong password -> 535 5.7.3', starts(c.auth, '535 5.7.3 Authentication unsuccessful'), c.auth.text);
        c.close();
        c = await session('smtpauth-disabled@example.test', 'good', { mech: 'LOGIN' });
        check('smtpauth-disabled -> 535 5.7.139 ...', starts(c.auth, '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.'), c.auth.text);
        c.close();
        c = await session('smtpauth-disabled@example.test', 'good-token', { mech: 'XOAUTH2' });
        check('smtpauth-disabled with XOAUTH2 -> 535 5.7.139 too', starts(c.auth, '535 5.7.139'), c.auth.text);
        c.close();
        c = await session('basic-off@example.test', 'good', { mech: 'PLAIN' });
        check('basic-off PLAIN -> 550 5.7.30', starts(c.auth, '550 5.7.30 Basic authentication is not supported for Client Submission.'), c.auth.text);
        c.close();
        c = await session('basic-off@example.test', 'good-token', { mech: 'XOAUTH2' });
        check('basic-off XOAUTH2 -> 235 (OAuth still works)', starts(c.auth, '235 2.7.0'), c.auth.text);
        c.close();
    }
    // recipients, data, mail log
    {
        const u = `rcpt-${run}@example.test`;
        const c = await session(u, 'good');
        await c.cmd(`MAIL FROM:<${u}>`);
        const b = await c.cmd('RCPT TO:<blocked@example.test>');
        check('RCPT blocked@ -> 550 5.7.708', starts(b, '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.'), b.text);
        const n = await c.cmd('RCPT TO:<unknown@example.test>');
        check('RCPT unknown@ -> 550 5.1.10', starts(n, '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'), n.text);
        await c.cmd('RSET');
        const tag = `dots-${run}`;
        const body = `Message-ID: <${tag}@selftest>\r\nSubject: ${tag}\r\n\r\n..leading dot line\r\nlast line`;
        const r = await sendOne(c, u, ['x@example.test', 'y@example.test'], body);
        check('MAIL -> 250 2.1.0 Sender OK', starts(r.mail, '250 2.1.0 Sender OK'), r.mail.text);
        check('RCPT -> 250 2.1.5 Recipient OK', starts(r.rcpt[0], '250 2.1.5 Recipient OK'), r.rcpt[0].text);
        check('DATA -> 354', starts(r.data, '354 '), r.data.text);
        check('end of DATA -> 250 2.0.0 OK <message-id>', starts(r.end, `250 2.0.0 OK <${tag}@selftest>`), r.end.text);
        const rec = mailLogLines().find(x => x.data.includes(tag));
        check(
            'mail log: from, to[], size, dot-unstuffed data',
            rec && rec.from === u && rec.to.join(',') === 'x@example.test,y@example.test' && rec.data.includes('\r\n.leading dot line\r\n') && rec.size === Buffer.byteLength(rec.data),
            JSON.stringify(rec)
        );
        const q = await c.cmd('QUIT');
        check('QUIT -> 221 2.0.0', starts(q, '221 2.0.0'), q.text);
        c.close();
    }
    {
        const c = await session('quota@example.test', 'good');
        const r = await sendOne(c, 'quota@example.test', ['x@example.test'], 'Subject: q\r\n\r\nq');
        check('quota@ -> 554 5.2.0 ... at end of DATA', r.end && starts(r.end, '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message ['), r.end && r.end.text);
        c.close();
    }
    {
        const u = `drop-${run}@example.test`;
        const c = await session(u, 'good');
        await c.cmd(`MAIL FROM:<${u}>`);
        await c.cmd('RCPT TO:<drop@example.test>');
        const d = await c.cmd('DATA');
        c.write('Subject: drop\r\n\r\n' + 'x'.repeat(2000) + '\r\n');
        const after = await c.reply(3000);
        check('RCPT drop@ -> connection destroyed in DATA (no reply)', d.code === 354 && after.closed === true, after.text);
        c.close();
    }
    // sender thread limit: 4th concurrent connection of one user
    {
        const u = `threads-${run}@example.test`;
        const cs = [];
        for (let i = 0; i < 4; i++) cs.push(await session(u, 'good'));
        const m4 = await cs[3].cmd(`MAIL FROM:<${u}>`);
        check('4th concurrent connection -> 432 4.3.2 at MAIL', starts(m4, '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded'), m4.text);
        const m1 = await cs[0].cmd(`MAIL FROM:<${u}>`);
        check('1st connection still gets 250 at MAIL', starts(m1, '250 2.1.0'), m1.text);
        cs[1].close();
        await new Promise(r => setTimeout(r, 200));
        const m4b = await cs[3].cmd(`MAIL FROM:<${u}>`);
        check('after one closes, the 4th may send', starts(m4b, '250 2.1.0'), m4b.text);
        cs.forEach(c => c.close());
    }
    // 30 messages/minute
    {
        const u = `rate-${run}@example.test`;
        const c = await session(u, 'good');
        let okCount = 0;
        for (let i = 0; i < 30; i++) {
            const r = await sendOne(c, u, ['x@example.test'], `Subject: rate ${i}\r\n\r\nbody`);
            if (r.end && r.end.code === 250) okCount++;
        }
        const m = await c.cmd(`MAIL FROM:<${u}>`);
        check('30 messages accepted in a minute', okCount === 30, okCount);
        check('31st MAIL -> 451 4.7.500 Server busy ... (S77719)', starts(m, '451 4.7.500 Server busy. Please try again later from [127.0.0.1]. (S77719)'), m.text);
        c.close();
    }
    // raw port
    const raw = async ehlo => {
        const c = await Client.connect(RAW);
        const banner = await c.reply();
        const r = await c.cmd('EHLO ' + ehlo, 1500);
        return { c, banner, r };
    };
    {
        const { c, banner, r } = await raw('nostarttls');
        check('raw banner 220 raw.fault.test ESMTP', banner.text === '220 raw.fault.test ESMTP', banner.text);
        check('raw nostarttls: EHLO without STARTTLS', r.code === 250 && !/STARTTLS/.test(r.text), r.text);
        c.close();
    }
    {
        const { c, r } = await raw('slow');
        check('raw slow: no reply to EHLO', r.timeout === true, r.text);
        c.close();
    }
    {
        const { c, r } = await raw('garbage');
        check('raw garbage: reply line without a code', r.code === 0 && !r.timeout && !r.closed && !/^\d{3}/.test(r.lines[0]), r.text);
        c.close();
    }
    {
        const { c, r } = await raw('longline');
        check('raw longline: one 250 line of > 100 KB', r.code === 250 && r.lines.length === 1 && r.lines[0].length > 100 * 1024, r.lines[0] && r.lines[0].length);
        c.close();
    }
    {
        const { c, r } = await raw('helo-only');
        const h = await c.cmd('HELO selftest.example');
        const m = await c.cmd('MAIL FROM:<a@example.test>');
        check('raw helo-only: 502 to EHLO, 250 to HELO and MAIL', r.code === 502 && h.code === 250 && m.code === 250, [r.text, h.text, m.text].join('\n'));
        c.close();
    }
    {
        const { c, r } = await raw('eof');
        check('raw eof: connection closed instead of a reply', r.closed === true, r.text);
        c.close();
    }
    {
        const { c, r } = await raw('shutdown');
        check('raw shutdown: 421 4.3.2', starts(r, '421 4.3.2'), r.text);
        c.close();
    }
    {
        const { c, r } = await raw('split');
        check('raw split: byte-at-a-time EHLO reply reassembles', r.code === 250 && /PIPELINING/.test(r.text), r.text);
        c.close();
    }
    {
        const { c } = await raw('inject');
        c.write('STARTTLS\r\n');
        await new Promise(res => setTimeout(res, 300));
        check('raw inject: "220 2.0.0 Ready\\r\\n250 injected\\r\\n" in one go', c.buf === '220 2.0.0 Ready\r\n250 injected\r\n', JSON.stringify(c.buf));
        // a client that ignores the extra line and carries on gets real TLS
        c.buf = '';
        await c.starttls();
        const e = await c.cmd('EHLO after.tls');
        check('raw inject: TLS then works (verified), EHLO 250', e.code === 250, e.text);
        c.close();
    }
    console.log(failures ? `${failures} FAILED` : 'all passed');
    process.exit(failures ? 1 : 0);
}

main().catch(err => {
    console.error('selftest crashed:', err);
    process.exit(1);
});
