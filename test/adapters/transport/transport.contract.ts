/**
 * The peer-transport contract (STYLE.md §5): what the runtime may rely on from any transport.
 * `describeTransportContract('tcp', …)` runs it against the TCP transport; an in-process or
 * simulated transport that the runtime could also use must pass the same claims.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { PeerTransport } from '../../../src/adapters/transport/types.js';
import type { NodeId } from '../../../src/core/types.js';

export interface TransportNetwork {
  /** Starts a transport for `id` that can reach every other transport of this network. */
  add(id: NodeId): Promise<PeerTransport>;
  /** Closes everything the network started. */
  dispose(): Promise<void>;
}

/** Resolves with the first `n` messages `t` receives (rejects after `timeoutMs`). */
function collect(t: PeerTransport, n: number, timeoutMs = 10_000): Promise<{ from: NodeId; msg: unknown }[]> {
  const got: { from: NodeId; msg: unknown }[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${got.length} of ${n} messages arrived`));
    }, timeoutMs);
    const off = t.onMessage((from, msg) => {
      got.push({ from, msg });
      if (got.length === n) {
        clearTimeout(timer);
        off();
        resolve(got);
      }
    });
  });
}

export function describeTransportContract(name: string, network: () => TransportNetwork): void {
  describe(`peer transport contract: ${name}`, { timeout: 30_000 }, () => {
    test('a message arrives unchanged, labelled with its sender', async (t) => {
      const net = network();
      t.after(() => net.dispose());
      const a = await net.add('a');
      const b = await net.add('b');
      const msg = { type: 'write', key: new Uint8Array([1, 2, 3]), vv: { a: 1 }, big: 2n ** 60n, none: null };
      const arrived = collect(b, 1);
      a.send('b', msg);
      assert.deepEqual(await arrived, [{ from: 'a', msg }]);
    });

    test('messages from one sender arrive in the order they were sent (fast-check sequences)', async (t) => {
      const net = network();
      t.after(() => net.dispose());
      const a = await net.add('a');
      const b = await net.add('b');
      const c = await net.add('c');
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.constantFrom('a', 'c'), fc.string({ maxLength: 8 })), {
            minLength: 1,
            maxLength: 40,
          }),
          async (sends) => {
            const arrived = collect(b, sends.length);
            for (const [from, text] of sends) (from === 'a' ? a : c).send('b', text);
            const got = await arrived;
            for (const sender of ['a', 'c']) {
              assert.deepEqual(
                got.filter((g) => g.from === sender).map((g) => g.msg),
                sends.filter(([f]) => f === sender).map(([, text]) => text),
                `per-sender order from ${sender}`,
              );
            }
          },
        ),
        { numRuns: 20 },
      );
    });

    test('send never throws, whatever it is given', async (t) => {
      const net = network();
      t.after(() => net.dispose());
      const a = await net.add('a');
      assert.doesNotThrow(() => {
        a.send('nobody-knows-me', 'x');
        a.send('a', 'myself');
        a.send('b', Symbol('not data') as unknown);
        a.send('b', new Map());
      });
    });

    test('nothing is delivered after close()', async (t) => {
      const net = network();
      t.after(() => net.dispose());
      const a = await net.add('a');
      const b = await net.add('b');
      const first = collect(b, 1);
      a.send('b', 'before');
      await first;
      let late = 0;
      b.onMessage(() => late++);
      await b.close();
      a.send('b', 'after');
      await a.close();
      assert.equal(late, 0);
    });
  });
}
