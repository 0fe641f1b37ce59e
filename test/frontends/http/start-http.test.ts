/**
 * `arpeggio start --http-port` wires the HTTP door: the start line and the cluster view advertise
 * its endpoint, ARPEGGIO_HTTP_TOKEN guards every route but /healthz, and /metrics counts the
 * requests of every front door (here a SET through the RESP port).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { startNodeProcess } from '../../runtime/helpers.js';

const TOKEN = 'http-test-token-0123456789';

/** Sends one RESP command and resolves with the first reply line. */
async function resp(address: string, ...args: string[]): Promise<string> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const socket = connect(port, host);
  socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  const [line] = (await once(createInterface({ input: socket }), 'line')) as [string];
  socket.destroy();
  return line;
}

test('arpeggio start --http-port: advertised, token-guarded, and counting every door', {
  timeout: 30_000,
}, async () => {
  const node = await startNodeProcess(
    [
      '--peer-port',
      '0',
      '--resp-port',
      '0',
      '--http-port',
      '0',
      '--replicas',
      '1',
      '--read-quorum',
      '1',
      '--write-quorum',
      '1',
    ],
    { ARPEGGIO_HTTP_TOKEN: TOKEN },
  );
  try {
    const { line, first } = node;
    assert.equal(line.event, 'ready', first);
    assert.match(line.http, /^127\.0\.0\.1:\d+$/, 'bound and advertised on loopback by default');
    const base = `http://${line.http}`;
    const auth = { authorization: `Bearer ${TOKEN}` };

    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'liveness needs no token');
    const refused = await fetch(`${base}/v1/cluster`);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');

    const cluster = (await (await fetch(`${base}/v1/cluster`, { headers: auth })).json()) as {
      members: Array<{ id: string; endpoints: Record<string, string> }>;
    };
    const self = cluster.members.find((m) => m.id === line.id);
    assert.equal(self?.endpoints.http, line.http, 'the node advertises its HTTP endpoint to the cluster');
    assert.equal(self?.endpoints.resp, line.resp);

    assert.equal(await resp(line.resp, 'SET', 'from-redis', 'v'), '+OK');
    const viaHttp = await fetch(`${base}/v1/kv/from-redis`, { headers: auth });
    assert.equal(await viaHttp.text(), 'v', 'both doors serve the same store');
    const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    assert.match(metrics, /arpeggio_requests_total\{door="resp",command="set",level="quorum"\} 1/);
    assert.match(metrics, /arpeggio_requests_total\{door="http",command="get",level="quorum"\} 1/);
  } finally {
    await node.stop();
  }
});
