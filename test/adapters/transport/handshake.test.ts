/**
 * The handshake as a pure state machine: two holders of the secret learn each other's ids;
 * nobody else gets in, whether they guess, replay a recorded handshake or reflect one back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { TransportError } from '../../../src/adapters/transport/errors.js';
import { encodeFrame, FLAG_CONTROL } from '../../../src/adapters/transport/frame.js';
import {
  HANDSHAKE_NONCE_BYTES,
  Handshake,
  type HandshakeInit,
  type HandshakeMessage,
  type HandshakeStep,
  MAX_NAME_LENGTH,
  rejectFor,
  secretBytes,
} from '../../../src/adapters/transport/handshake.js';

const SECRET = Buffer.from('correct horse battery staple 2024');
const OTHER_SECRET = Buffer.from('a different secret, also long');

function node(role: HandshakeInit['role'], ownId: string, extra: Partial<HandshakeInit> = {}): Handshake {
  return new Handshake({
    role,
    ownId,
    cluster: 'c1',
    secret: SECRET,
    bootId: `${ownId}-boot`,
    nonce: randomBytes(HANDSHAKE_NONCE_BYTES),
    ...extra,
  });
}

/** Runs a dialer and an acceptor against each other; returns what each concluded. */
function run(dialer: Handshake, acceptor: Handshake) {
  const transcript: { from: 'dialer' | 'acceptor'; message: HandshakeMessage }[] = [];
  let toAcceptor = dialer.start();
  assert.deepEqual(acceptor.start(), [], 'the acceptor says nothing before the dialer speaks');
  let dialerDone: HandshakeStep['established'];
  let acceptorDone: HandshakeStep['established'];
  let error: TransportError | undefined;
  try {
    while (toAcceptor.length > 0) {
      let toDialer: HandshakeMessage[] = [];
      for (const m of toAcceptor) {
        transcript.push({ from: 'dialer', message: m });
        const step = acceptor.receive(m);
        toDialer = toDialer.concat(step.send);
        acceptorDone ??= step.established;
      }
      toAcceptor = [];
      for (const m of toDialer) {
        transcript.push({ from: 'acceptor', message: m });
        const step = dialer.receive(m);
        toAcceptor = toAcceptor.concat(step.send);
        dialerDone ??= step.established;
      }
    }
  } catch (e) {
    assert.ok(e instanceof TransportError);
    error = e;
  }
  return { dialerDone, acceptorDone, transcript, error };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TransportError, `a TransportError, got ${e}`);
    return e.code;
  }
  return 'no error';
}

describe('handshake', () => {
  test('two holders of the secret prove it to each other and learn each other’s id and boot', () => {
    const { dialerDone, acceptorDone, transcript, error } = run(node('dialer', 'n1'), node('acceptor', 'n2'));
    assert.equal(error, undefined);
    assert.deepEqual(dialerDone, { id: 'n2', boot: 'n2-boot' });
    assert.deepEqual(acceptorDone, { id: 'n1', boot: 'n1-boot' });
    assert.deepEqual(
      transcript.map((t) => `${t.from}:${t.message.t}`),
      ['dialer:hello', 'acceptor:hello', 'dialer:proof', 'acceptor:proof'],
    );
  });

  test('a wrong secret is refused with BAD_PROOF, and the acceptor never proves anything to it', () => {
    const stranger = node('dialer', 'mallory', { secret: OTHER_SECRET });
    const { acceptorDone, transcript, error } = run(stranger, node('acceptor', 'n2'));
    assert.equal(error?.code, 'BAD_PROOF');
    assert.equal(acceptorDone, undefined);
    assert.ok(
      transcript.every((t) => t.from === 'dialer' || t.message.t !== 'proof'),
      'no acceptor MAC reaches an unproven dialer, so it has nothing to test guessed secrets against',
    );
    assert.deepEqual(rejectFor(error!), { t: 'reject', code: 'BAD_PROOF', reason: error!.detail });
  });

  test('an acceptor with a wrong secret is caught by the dialer', () => {
    // The dialer proves first, so it is the acceptor that notices: from either side the
    // handshake fails at the first proof checked.
    const { dialerDone, error } = run(node('dialer', 'n1'), node('acceptor', 'n2', { secret: OTHER_SECRET }));
    assert.equal(error?.code, 'BAD_PROOF');
    assert.equal(dialerDone, undefined);
  });

  test('replaying a recorded handshake fails: the acceptor asks a fresh nonce', () => {
    const recorded = run(node('dialer', 'n1'), node('acceptor', 'n2')).transcript;
    const dialerSaid = recorded.filter((t) => t.from === 'dialer').map((t) => t.message);
    const fresh = node('acceptor', 'n2');
    fresh.start();
    fresh.receive(dialerSaid[0]); // the old hello is accepted: it proves nothing by itself
    assert.equal(
      codeOf(() => fresh.receive(dialerSaid[1])),
      'BAD_PROOF',
    );
  });

  test('reflecting a node’s own proof back at it fails', () => {
    // Mallory (no secret) has n1 dial her (session 2) while she dials n1 (session 1), choosing
    // nonces so both sessions cover the same pair, and hands n1's session-2 proof back to it
    // in session 1.
    const asDialer = node('dialer', 'n1');
    const [hello2] = asDialer.start() as [Extract<HandshakeMessage, { t: 'hello' }>];
    const asAcceptor = node('acceptor', 'n1');
    asAcceptor.start();
    const [hello1] = asAcceptor.receive({
      t: 'hello',
      v: 1,
      cluster: 'c1',
      id: 'x',
      boot: 'b',
      nonce: hello2.nonce,
    }).send as [Extract<HandshakeMessage, { t: 'hello' }>];
    const [proof2] = asDialer.receive({
      t: 'hello',
      v: 1,
      cluster: 'c1',
      id: 'x',
      boot: 'b',
      nonce: hello1.nonce,
    }).send;
    assert.equal(proof2.t, 'proof');
    assert.equal(
      codeOf(() => asAcceptor.receive(proof2)),
      'BAD_PROOF',
    );
  });

  test('a peer claiming our own id, or echoing our nonce, is refused as SELF_CONNECT', () => {
    const acceptor = node('acceptor', 'n1');
    acceptor.start();
    const mirror = node('dialer', 'n1').start()[0];
    assert.equal(
      codeOf(() => acceptor.receive(mirror)),
      'SELF_CONNECT',
    );

    const dialer = node('dialer', 'n1');
    const [hello] = dialer.start() as [Extract<HandshakeMessage, { t: 'hello' }>];
    assert.equal(
      codeOf(() => dialer.receive({ ...hello, id: 'n2' })),
      'SELF_CONNECT',
      'our own nonce reflected',
    );
  });

  test('cluster, version and identity mismatches are refused by name', () => {
    assert.equal(
      run(node('dialer', 'n1', { cluster: 'other' }), node('acceptor', 'n2')).error?.code,
      'CLUSTER_MISMATCH',
    );
    assert.equal(
      run(node('dialer', 'n1', { protocolVersion: 2 }), node('acceptor', 'n2')).error?.code,
      'VERSION_MISMATCH',
    );
    assert.equal(
      run(node('dialer', 'n1', { expectedPeerId: 'n3' }), node('acceptor', 'n2')).error?.code,
      'UNEXPECTED_PEER',
      'a stale address that now belongs to another node',
    );
  });

  test('malformed and out-of-order messages are BAD_HANDSHAKE; a reject is PEER_REJECTED with its reason', () => {
    const fresh = () => {
      const a = node('acceptor', 'n2');
      a.start();
      return a;
    };
    const hello = { t: 'hello', v: 1, cluster: 'c1', id: 'n1', boot: 'b', nonce: randomBytes(32) };
    const bad: [string, unknown][] = [
      ['not an object', 'hello'],
      ['a proof before the hello', { t: 'proof', mac: randomBytes(32) }],
      ['a short nonce', { ...hello, nonce: randomBytes(8) }],
      ['a nonce that is not bytes', { ...hello, nonce: 'x'.repeat(32) }],
      ['an empty id', { ...hello, id: '' }],
      ['an overlong id', { ...hello, id: 'x'.repeat(MAX_NAME_LENGTH + 1) }],
      ['a numeric id', { ...hello, id: 7 }],
    ];
    for (const [what, m] of bad)
      assert.equal(
        codeOf(() => fresh().receive(m)),
        'BAD_HANDSHAKE',
        what,
      );

    const afterHello = fresh();
    afterHello.receive(hello);
    assert.equal(
      codeOf(() => afterHello.receive({ t: 'proof', mac: randomBytes(5) })),
      'BAD_HANDSHAKE',
    );
    assert.equal(
      codeOf(() => afterHello.receive(hello)),
      'BAD_HANDSHAKE',
      'a failed handshake stays failed',
    );

    const refused = fresh();
    try {
      refused.receive({ t: 'reject', code: 'BAD_PROOF', reason: 'no secret' });
      assert.fail('a reject ends the handshake');
    } catch (e) {
      assert.ok(e instanceof TransportError && e.code === 'PEER_REJECTED');
      assert.match(e.message, /BAD_PROOF: no secret/, 'the peer’s reason is kept for the log');
    }
  });

  test('a short secret is refused at configuration time', () => {
    assert.throws(() => secretBytes('hunter2'), /at least 16 bytes/);
    assert.equal(secretBytes('x'.repeat(16)).length, 16);
  });

  test('the largest legal hello fits in a 1 KiB handshake frame', () => {
    const long = 'x'.repeat(MAX_NAME_LENGTH);
    const [hello] = node('dialer', long, { cluster: long, bootId: long }).start();
    const frame = encodeFrame(hello, { flags: FLAG_CONTROL, maxPayloadBytes: 1024 });
    assert.ok(frame.length < 1024 + 12);
  });
});
