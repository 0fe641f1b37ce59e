/**
 * A cluster of real node processes with TLS everywhere, as an operator sets it up: certificates
 * from scripts/dev-ca.sh, mutual TLS between nodes (--tls-*), TLS on the client ports
 * (--client-tls-*), a RESP password and an HTTP token. A write over RESP-over-TLS on one node is
 * read back over HTTPS from the other (and by redis-cli --tls and curl --cacert); a plain-text
 * client gets nothing from a TLS port; a client without the password or token is refused; a node
 * with the wrong cluster secret, with a certificate from another CA, or without TLS cannot join,
 * and says why.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { eventually, SECRET } from '../runtime/helpers.js';
import { devCa, type Pki } from './pki.js';

const bin = fileURLToPath(new URL('../../../bin/arpeggio.js', import.meta.url));
const run = promisify(execFile);
const PASSWORD = 'resp-password-for-the-tls-test';
const TOKEN = 'http-token-for-the-tls-test';

interface StartLine {
  event: 'ready' | 'failed';
  id: string;
  peer: string;
  resp: string | null;
  http: string | null;
  tls?: { peer: boolean; client: boolean };
  code?: string;
  message?: string;
}

interface Node {
  pid: number;
  line: StartLine;
  stderr(): string;
  /** SIGTERM by pid, then SIGKILL if it has not exited in 5 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** Every node process this file started, stopped by pid at the end whatever happened. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
});

/** Starts `arpeggio start --json` on `dataDir` and resolves with its first stdout line. */
async function startNode(dataDir: string, flags: string[], secret = SECRET): Promise<Node> {
  const child = spawn(
    process.execPath,
    [bin, 'start', '--json', '--log-level', 'warn', '--data', dataDir, ...flags],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ARPEGGIO_SECRET: secret } },
  );
  children.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      const killer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    children.delete(child);
  };
  const line = await new Promise<StartLine>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const end = out.indexOf('\n');
      if (end >= 0) resolve(JSON.parse(out.slice(0, end)) as StartLine);
    });
    void exited.then(([code]) => reject(new Error(`exited (${code}) before its start line:\n${stderr}`)));
  }).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  return { pid: child.pid as number, line, stderr: () => stderr, stop };
}

function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

/** One HTTPS GET trusting `ca`; resolves with the status and body. */
function httpsGet(address: string, path: string, ca: Buffer, token?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const req = https.get({ ...hostPort(address), path, ca, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** Connects without TLS, sends `bytes`, resolves with what came back once the server hung up. */
function plainExchange(address: string, bytes: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(hostPort(address), () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Sends one RESP command over TLS without AUTH; resolves with the first reply line. */
function tlsUnauthenticated(address: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...hostPort(address), ca }, () => socket.write('GET tls-key\r\n'));
    let got = '';
    socket.setEncoding('utf8').on('data', (c: string) => {
      got += c;
      if (got.includes('\r\n')) {
        socket.destroy();
        resolve(got.slice(0, got.indexOf('\r\n')));
      }
    });
    socket.on('error', reject);
  });
}

const nodeTls = (pki: Pki, name: string) => [
  '--tls-cert',
  pki.path(`${name}.pem`),
  '--tls-key',
  pki.path(`${name}-key.pem`),
  '--tls-ca',
  pki.path('ca.pem'),
];
const clientTls = (pki: Pki, name: string) => [
  '--client-tls-cert',
  pki.path(`${name}.pem`),
  '--client-tls-key',
  pki.path(`${name}-key.pem`),
];

test('a cluster with TLS between nodes and on client ports serves TLS clients and refuses everyone else', {
  timeout: 60_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'arpeggio-e2e-tls-'));
  const nodes: Node[] = [];
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(dir, { recursive: true, force: true });
  });
  const pki = devCa(join(dir, 'pki'), ['n1', 'n2']);
  const rogue = devCa(join(dir, 'rogue-pki'), ['n1']);
  const ca = pki.read('ca.pem');
  const common = ['--resp-port', '0', '--http-port', '0', '--replicas', '2', '--password', PASSWORD];
  const withToken = [...common, '--http-token', TOKEN];

  const n1 = await startNode(join(dir, 'n1'), [
    '--peer-port',
    '0',
    '--id',
    'n1',
    ...withToken,
    ...nodeTls(pki, 'n1'),
    ...clientTls(pki, 'n1'),
  ]);
  nodes.push(n1);
  assert.equal(n1.line.event, 'ready', n1.stderr());
  assert.deepEqual(n1.line.tls, { peer: true, client: true });
  const n2 = await startNode(join(dir, 'n2'), [
    '--peer-port',
    '0',
    '--id',
    'n2',
    '--join',
    n1.line.peer,
    ...withToken,
    ...nodeTls(pki, 'n2'),
    ...clientTls(pki, 'n2'),
  ]);
  nodes.push(n2);
  assert.equal(n2.line.event, 'ready', `n2 joins n1 over mutual TLS: ${n2.stderr()}`);
  const resp1 = n1.line.resp as string;
  const http2 = n2.line.http as string;

  // Nodes that must not get in, started at once: their join deadline is the slowest part.
  const refused = Promise.all([
    startNode(
      join(dir, 'wrong-secret'),
      ['--peer-port', '0', '--join', n1.line.peer, ...nodeTls(pki, 'n2'), '--join-timeout-ms', '3000'],
      'another-cluster-secret-0123456789',
    ),
    startNode(join(dir, 'rogue'), [
      '--peer-port',
      '0',
      '--join',
      n1.line.peer,
      ...nodeTls(rogue, 'n1'),
      '--join-timeout-ms',
      '2000',
    ]),
    startNode(join(dir, 'plain'), ['--peer-port', '0', '--join', n1.line.peer, '--join-timeout-ms', '2000']),
  ]);

  // A write over RESP inside TLS on n1 …
  const redis = new Redis({
    ...hostPort(resp1),
    tls: { ca },
    password: PASSWORD,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
  });
  redis.on('error', () => {});
  t.after(() => redis.disconnect());
  await redis.connect();
  await eventually(
    'n1 acknowledges a quorum write (both nodes in its view)',
    async () => (await redis.set('tls-key', 'written over RESP-over-TLS').catch(() => null)) === 'OK',
  );
  // … is read over HTTPS from n2.
  await eventually('n2 serves the value over HTTPS', async () => {
    const got = await httpsGet(http2, '/v1/kv/tls-key', ca, TOKEN);
    return got.status === 200 && got.body === 'written over RESP-over-TLS';
  });

  // The operator's tools, as docs/SECURITY.md shows them (.ci/run installs both).
  const cli = await run('redis-cli', [
    '--tls',
    '--cacert',
    pki.path('ca.pem'),
    '-h',
    hostPort(resp1).host,
    '-p',
    String(hostPort(resp1).port),
    '--no-auth-warning',
    '-a',
    PASSWORD,
    'GET',
    'tls-key',
  ]);
  assert.equal(cli.stdout.trim(), 'written over RESP-over-TLS', 'redis-cli --tls --cacert reads it');
  const curl = await run('curl', [
    '-sS',
    '--cacert',
    pki.path('ca.pem'),
    '-H',
    `Authorization: Bearer ${TOKEN}`,
    `https://${http2}/v1/kv/tls-key`,
  ]);
  assert.equal(curl.stdout, 'written over RESP-over-TLS', 'curl --cacert reads it over HTTPS');

  // Plain text on a TLS port: no reply, the connection is closed.
  assert.equal((await plainExchange(resp1, 'PING\r\n')).length, 0, 'plain RESP gets no reply');
  const plainHttp = await plainExchange(http2, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.ok(!plainHttp.toString('latin1').includes('alive'), 'plain HTTP gets no API answer');
  // TLS without the password or the token.
  assert.equal(await tlsUnauthenticated(resp1, ca), '-NOAUTH Authentication required.');
  assert.equal((await httpsGet(http2, '/v1/kv/tls-key', ca)).status, 401);
  // A client that does not trust the CA refuses the node.
  await assert.rejects(httpsGet(http2, '/healthz', Buffer.from('')), /certificate|self-signed|unable/);

  const [wrongSecret, rogueNode, plainNode] = await refused;
  nodes.push(wrongSecret, rogueNode, plainNode);
  assert.equal(wrongSecret.line.event, 'failed');
  assert.equal(wrongSecret.line.code, 'JOIN_REFUSED', 'TLS passed, the secret did not');
  assert.match(wrongSecret.line.message ?? '', /BAD_PROOF|secret/);
  assert.equal(rogueNode.line.event, 'failed');
  assert.equal(
    rogueNode.line.code,
    'JOIN_REFUSED',
    'a certificate from another CA is a refusal, not a timeout',
  );
  assert.match(rogueNode.line.message ?? '', /TLS_ERROR/, 'the joiner says TLS failed');
  assert.equal(plainNode.line.event, 'failed', 'a node without TLS cannot join');
  await eventually('n1 logs the refused TLS connection', () =>
    n1.stderr().includes('refused a connection: TLS failed'),
  );
  const status = await httpsGet(n1.line.http as string, '/v1/cluster', ca, TOKEN);
  assert.equal(status.status, 200);
  const members = (JSON.parse(status.body) as { members: { id: string }[] }).members.map((m) => m.id);
  assert.deepEqual(members.sort(), ['n1', 'n2'], 'only the two nodes with the CA and the secret are members');
});
