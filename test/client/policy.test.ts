/**
 * The client's retry policy and typed errors, against a scripted fetch (no sockets): definite
 * transient errors are retried on the next node, indefinite ones only for idempotent calls, and
 * a node that keeps failing gets its circuit breaker opened.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ArpeggioError, type ClientComponents, connect, etagOf } from '../../src/client/index.js';
import { SeededRandom } from '../../src/core/random.js';

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
}

/** A fetch that answers from `script` in order and records what it was asked. */
function scripted(script: Array<(url: string) => Response | Error>) {
  const sent: Sent[] = [];
  let i = 0;
  const fake = (async (url: string | URL, init?: RequestInit) => {
    sent.push({
      url: String(url),
      method: init?.method ?? 'GET',
      headers: (init?.headers ?? {}) as Record<string, string>,
    });
    const step = script[Math.min(i++, script.length - 1)](String(url));
    if (step instanceof Error) throw step;
    return step;
  }) as typeof fetch;
  return { fetch: fake, sent };
}

const errorReply = (status: number, code: string, definite: boolean) =>
  new Response(JSON.stringify({ error: { code, definite, message: `scripted ${code}` } }), { status });
const refused = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });

function components(fetchFn: typeof globalThis.fetch): Partial<ClientComponents> {
  return { fetch: fetchFn, random: new SeededRandom(1), sleep: async () => {}, clock: () => 0 };
}

describe('the client retry policy', () => {
  test('a definite transient error is retried on the next node until one answers', async () => {
    const { fetch, sent } = scripted([
      () => errorReply(503, 'QUORUM_UNAVAILABLE', true),
      () => refused(),
      () => new Response('v', { status: 200 }),
    ]);
    const db = await connect({ nodes: ['n1:1', 'n2:2', 'n3:3'], routing: 'direct' }, components(fetch));
    assert.equal(await db.getString('k'), 'v');
    assert.deepEqual(
      sent.map((s) => new URL(s.url).host),
      ['n1:1', 'n2:2', 'n3:3'],
      'each retry goes to a node this call has not tried yet',
    );
  });

  test('an indefinite error is retried for a plain set but not for a conditional one', async () => {
    const plain = scripted([
      () => errorReply(504, 'TIMEOUT', false),
      () => new Response(null, { status: 204 }),
    ]);
    const db = await connect({ nodes: ['n1:1', 'n2:2'], routing: 'direct' }, components(plain.fetch));
    assert.equal(await db.set('k', 'v'), true, 'writing the same value twice is harmless');
    assert.equal(plain.sent.length, 2);

    const conditional = scripted([
      () => errorReply(504, 'TIMEOUT', false),
      () => new Response(null, { status: 204 }),
    ]);
    const db2 = await connect({ nodes: ['n1:1', 'n2:2'], routing: 'direct' }, components(conditional.fetch));
    await assert.rejects(db2.set('k', 'v', { ifAbsent: true }), (e: unknown) => {
      assert.ok(e instanceof ArpeggioError);
      assert.equal(e.code, 'TIMEOUT');
      assert.equal(e.definite, false, 'the caller learns the write may have happened');
      assert.equal(e.node, 'n1:1');
      return true;
    });
    assert.equal(conditional.sent.length, 1, 'a retry could fail its own condition and misreport');
  });

  test('a definite refusal that is not transient is not retried and comes back typed', async () => {
    const { fetch, sent } = scripted([() => errorReply(400, 'BAD_REQUEST', true)]);
    const db = await connect({ nodes: ['n1:1', 'n2:2'], routing: 'direct' }, components(fetch));
    await assert.rejects(db.get('k'), {
      name: 'ArpeggioError',
      code: 'BAD_REQUEST',
      definite: true,
      status: 400,
    });
    assert.equal(sent.length, 1);
  });

  test('retries stop after `retries` more attempts with the last error', async () => {
    const { fetch, sent } = scripted([() => errorReply(503, 'OVERLOADED', true)]);
    const db = await connect({ nodes: ['n1:1'], routing: 'direct', retries: 2 }, components(fetch));
    await assert.rejects(db.get('k'), { code: 'OVERLOADED', definite: true });
    assert.equal(sent.length, 3, 'the first attempt and two retries');
  });

  test('a node that keeps refusing connections has its breaker opened and is skipped', async () => {
    const { fetch, sent } = scripted([
      (url) => (url.includes('bad:1') ? refused() : new Response('v', { status: 200 })),
    ]);
    const db = await connect(
      { nodes: ['bad:1', 'good:2'], routing: 'direct', breakerFailureThreshold: 2 },
      components(fetch),
    );
    for (let i = 0; i < 5; i++) assert.equal(await db.getString('k'), 'v');
    const toBad = sent.filter((s) => s.url.includes('bad:1')).length;
    assert.equal(toBad, 2, 'after two refusals the open breaker keeps calls off the node');
  });

  test('cas sends If-Match with the ETag the node gives the expected value, and reports a mismatch as false', async () => {
    const { fetch, sent } = scripted([() => errorReply(412, 'PRECONDITION_FAILED', true)]);
    const db = await connect({ nodes: ['n1:1'], routing: 'direct' }, components(fetch));
    assert.equal(await db.cas('k', 'old', 'new'), false);
    assert.equal(sent[0].headers['if-match'], etagOf('old'));
    assert.equal(etagOf('v1'), '"O_wmlZTvZJIo6adLqwDwQu_JHVr"', 'the ETag of docs/HTTP-API.md');
  });

  test('connect fails with UNREACHABLE, definite, naming the node, when no seed answers', async () => {
    const { fetch } = scripted([() => refused()]);
    await assert.rejects(connect({ nodes: ['127.0.0.1:9'] }, components(fetch)), {
      code: 'UNREACHABLE',
      definite: true,
      node: '127.0.0.1:9',
    });
  });
});
