/**
 * `arpeggio start` with a password (ARPEGGIO_PASSWORD here, as an operator should pass it): a
 * client without AUTH is refused with Redis's NOAUTH; after AUTH the same commands work; a wrong
 * password is WRONGPASS.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { startNodeProcess } from './helpers.js';

const PASSWORD = 'resp-password-0123';

/** Sends commands on one connection and resolves with the first line of each reply. */
async function session(address: string, commands: string[][]): Promise<string[]> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const socket = connect(port, '127.0.0.1');
  const lines = createInterface({ input: socket });
  const replies: string[] = [];
  for (const args of commands) {
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    const [line] = (await once(lines, 'line')) as [string];
    replies.push(line);
  }
  socket.destroy();
  return replies;
}

test('arpeggio start with a password: NOAUTH before AUTH, WRONGPASS for a wrong one, served after', {
  timeout: 30_000,
}, async () => {
  const node = await startNodeProcess(
    ['--peer-port', '0', '--resp-port', '0', '--replicas', '1', '--read-quorum', '1', '--write-quorum', '1'],
    { ARPEGGIO_PASSWORD: PASSWORD },
  );
  try {
    assert.equal(node.line.event, 'ready', node.first);
    const replies = await session(node.line.resp, [
      ['PING'],
      ['SET', 'k', 'v'],
      ['AUTH', 'wrong'],
      ['AUTH', PASSWORD],
      ['SET', 'k', 'v'],
      ['GET', 'k'],
    ]);
    assert.equal(replies[0], '+PONG', 'PING is allowed before AUTH (health checks)');
    assert.equal(replies[1], '-NOAUTH Authentication required.');
    assert.match(replies[2], /^-WRONGPASS/);
    assert.equal(replies[3], '+OK');
    assert.equal(replies[4], '+OK');
    assert.equal(replies[5], '$1');
  } finally {
    await node.stop();
  }
});
