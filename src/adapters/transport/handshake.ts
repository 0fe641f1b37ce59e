/**
 * The handshake: before a connection carries a single message for the core, each side proves it
 * holds the cluster secret, and each learns who the other is.
 *
 * ```
 *   dialer D                                                   acceptor A
 *      │ ── hello {v, cluster, id: D, boot: bD, nonce: nD} ──────▶ │  checks v, cluster, id ≠ A
 *      │ ◀────── hello {v, cluster, id: A, boot: bA, nonce: nA} ── │
 *  checks v, cluster, id ≠ D,                                       │
 *  id = the node it meant to dial                                   │
 *      │ ── proof {mac: HMAC(k, 'dialer'   ‖ D ‖ A ‖ bD ‖ bA ‖ nD ‖ nA)} ─▶ │  verifies
 *      │ ◀─ proof {mac: HMAC(k, 'acceptor' ‖ A ‖ D ‖ bA ‖ bD ‖ nA ‖ nD)} ── │  established
 *  verifies; established                                            │
 *      │ ◀════════════════ messages, both ways ══════════════════▶ │
 * ```
 * (every MAC also covers a domain label, the protocol version and the cluster name; each field
 * is length-prefixed, so no two different transcripts concatenate to the same bytes)
 *
 * Why it resists what it must:
 * - Replay: every MAC covers both sides' fresh 32-byte nonces. A recorded handshake answers
 *   nonces that will never be asked again.
 * - Reflection: a MAC names its prover's role and puts the prover's id and nonce first. A node
 *   never computes a MAC for a transcript in which another node is the prover, so whatever it
 *   says cannot be turned around and presented back to it; a peer claiming our own id, or
 *   echoing our nonce, is refused outright.
 * - Offline guessing: the acceptor (whom anyone can reach) proves nothing until the dialer has
 *   proven itself, so a stranger gets no MAC to test guessed secrets against.
 * - Timing: MACs are compared with crypto.timingSafeEqual.
 *
 * What it does not do: it authenticates the start of the connection, not every later byte. An
 * attacker who can rewrite traffic in the middle of the network can relay a handshake and then
 * inject frames; against that, run the transport over mutual TLS (`tls` option), which keeps
 * this handshake on top. Any holder of the secret may claim any node id: the secret admits
 * cluster members, it does not tell them apart.
 *
 * This module only decides; it does no I/O. The TCP transport feeds it decoded handshake frames
 * and writes what it returns.
 */
import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../../core/types.js';
import { TransportError } from './errors.js';

/** Version of this handshake and of the messages that follow it. Peers must match exactly. */
export const HANDSHAKE_PROTOCOL_VERSION = 1;
export const HANDSHAKE_NONCE_BYTES = 32;
const MAC_BYTES = 32;
/**
 * The secret must be at least this long (16 bytes = 128 bits). A dialer's proof is a MAC a fake
 * acceptor could test guesses against offline, so the secret must be too long to guess.
 */
export const MIN_SECRET_BYTES = 16;
/** Longest node id, cluster name and boot id accepted from a peer. */
export const MAX_NAME_LENGTH = 255;
const MAX_REASON_LENGTH = 512;
const DOMAIN_LABEL = 'arpeggio/handshake';

export type HandshakeRole = 'dialer' | 'acceptor';

export interface HelloMessage {
  t: 'hello';
  /** HANDSHAKE_PROTOCOL_VERSION of the sender */
  v: number;
  cluster: string;
  id: NodeId;
  /** Random per process start: tells a restarted peer's new connection from a stale one. */
  boot: string;
  nonce: Uint8Array;
}

export interface ProofMessage {
  t: 'proof';
  mac: Uint8Array;
}

/** Sent before closing a connection whose handshake failed, so the other side can log why. */
export interface RejectMessage {
  t: 'reject';
  code: string;
  reason: string;
}

export type HandshakeMessage = HelloMessage | ProofMessage | RejectMessage;

export interface HandshakeInit {
  role: HandshakeRole;
  ownId: NodeId;
  cluster: string;
  secret: Uint8Array;
  /** This process's boot id (see HelloMessage.boot). */
  bootId: string;
  /** HANDSHAKE_NONCE_BYTES fresh random bytes; injected so tests can replay exact handshakes. */
  nonce: Uint8Array;
  /** The dialer's intended peer; a hello from anyone else is refused. Unset: any member. */
  expectedPeerId?: NodeId;
  /** Override only to test version mismatches. */
  protocolVersion?: number;
}

/** Who the handshake proved the other side to be. */
export interface HandshakePeer {
  id: NodeId;
  boot: string;
}

export interface HandshakeStep {
  /** Messages to send to the peer now, in order. */
  send: HandshakeMessage[];
  /** Set once the peer has proven it holds the secret. */
  established?: HandshakePeer;
}

export type HandshakeState = 'new' | 'awaitHello' | 'awaitProof' | 'established' | 'failed';

/** Throws unless `secret` is long enough to be worth proving (MIN_SECRET_BYTES). */
export function secretBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new TypeError(
      `the cluster secret must be at least ${MIN_SECRET_BYTES} bytes (got ${bytes.length}); ` +
        'generate one with `openssl rand -hex 32`',
    );
  }
  return bytes;
}

export class Handshake {
  readonly #init: HandshakeInit;
  readonly #version: number;
  #state: HandshakeState = 'new';
  #peer: HandshakePeer | undefined;
  #peerNonce: Uint8Array | undefined;

  constructor(init: HandshakeInit) {
    if (init.nonce.length !== HANDSHAKE_NONCE_BYTES) {
      throw new TypeError(`a handshake nonce is ${HANDSHAKE_NONCE_BYTES} bytes`);
    }
    this.#init = init;
    this.#version = init.protocolVersion ?? HANDSHAKE_PROTOCOL_VERSION;
  }

  get state(): HandshakeState {
    return this.#state;
  }

  /** The peer's claimed identity once its hello arrived (proven only when established). */
  get peer(): HandshakePeer | undefined {
    return this.#peer;
  }

  /** What to send when the connection opens: the dialer speaks first, the acceptor waits. */
  start(): HandshakeMessage[] {
    this.#expectState('new', 'start() is called once');
    this.#state = 'awaitHello';
    return this.#init.role === 'dialer' ? [this.#hello()] : [];
  }

  /**
   * Handles one decoded handshake frame from the peer. Throws TransportError with a handshake
   * code when the peer is refused; `rejectFor(error)` is then the message to send it.
   */
  receive(message: unknown): HandshakeStep {
    try {
      return this.#receive(message);
    } catch (e) {
      this.#state = 'failed';
      throw e;
    }
  }

  #receive(message: unknown): HandshakeStep {
    if (this.#state === 'established' || this.#state === 'failed' || this.#state === 'new') {
      throw new TransportError('BAD_HANDSHAKE', `handshake message in state ${this.#state}`);
    }
    const m = message as Partial<Record<string, unknown>> | null;
    if (typeof m !== 'object' || m === null || typeof m.t !== 'string') {
      throw new TransportError('BAD_HANDSHAKE', 'not a handshake message');
    }
    if (m.t === 'reject') {
      const code = boundedString(m.code, 64) ?? '?';
      const reason = boundedString(m.reason, MAX_REASON_LENGTH) ?? '';
      throw new TransportError('PEER_REJECTED', `peer refused the handshake with ${code}: ${reason}`);
    }
    if (this.#state === 'awaitHello') {
      if (m.t !== 'hello')
        throw new TransportError('BAD_HANDSHAKE', `expected hello, got ${boundedString(m.t, 16)}`);
      this.#acceptHello(m);
      this.#state = 'awaitProof';
      return { send: [this.#init.role === 'dialer' ? this.#proof() : this.#hello()] };
    }
    if (m.t !== 'proof')
      throw new TransportError('BAD_HANDSHAKE', `expected proof, got ${boundedString(m.t, 16)}`);
    const mac = m.mac;
    if (!(mac instanceof Uint8Array) || mac.length !== MAC_BYTES) {
      throw new TransportError('BAD_HANDSHAKE', 'proof without a 32-byte mac');
    }
    const peer = this.#peer!;
    const peerRole: HandshakeRole = this.#init.role === 'dialer' ? 'acceptor' : 'dialer';
    const expected = this.#mac(peerRole, peer, this.#peerNonce!, this.#self(), this.#init.nonce);
    if (!timingSafeEqual(expected, mac)) {
      throw new TransportError(
        'BAD_PROOF',
        'the proof does not match: the peer does not hold the cluster secret',
      );
    }
    this.#state = 'established';
    // The acceptor proves itself only now that the dialer has (see "offline guessing" above).
    return { send: this.#init.role === 'acceptor' ? [this.#proof()] : [], established: peer };
  }

  #acceptHello(m: Partial<Record<string, unknown>>): void {
    const id = boundedString(m.id, MAX_NAME_LENGTH);
    const boot = boundedString(m.boot, MAX_NAME_LENGTH);
    const cluster = boundedString(m.cluster, MAX_NAME_LENGTH);
    const nonce = m.nonce;
    if (typeof m.v !== 'number' || !id || boot === undefined || cluster === undefined) {
      throw new TransportError('BAD_HANDSHAKE', 'malformed hello');
    }
    if (!(nonce instanceof Uint8Array) || nonce.length !== HANDSHAKE_NONCE_BYTES) {
      throw new TransportError('BAD_HANDSHAKE', `hello without a ${HANDSHAKE_NONCE_BYTES}-byte nonce`);
    }
    if (m.v !== this.#version) {
      throw new TransportError(
        'VERSION_MISMATCH',
        `peer speaks handshake version ${m.v}, this node ${this.#version}`,
      );
    }
    if (cluster !== this.#init.cluster) {
      throw new TransportError(
        'CLUSTER_MISMATCH',
        `peer is in cluster '${cluster}', this node in '${this.#init.cluster}'`,
      );
    }
    if (id === this.#init.ownId || timingSafeEqual(nonce, this.#init.nonce)) {
      throw new TransportError('SELF_CONNECT', `peer claims this node's own id '${id}' or nonce`);
    }
    const expectedId = this.#init.expectedPeerId;
    if (expectedId !== undefined && id !== expectedId) {
      throw new TransportError('UNEXPECTED_PEER', `dialled '${expectedId}' but reached '${id}'`);
    }
    this.#peer = { id, boot };
    this.#peerNonce = nonce;
  }

  #self(): HandshakePeer {
    return { id: this.#init.ownId, boot: this.#init.bootId };
  }

  #hello(): HelloMessage {
    const { cluster, ownId, bootId, nonce } = this.#init;
    return { t: 'hello', v: this.#version, cluster, id: ownId, boot: bootId, nonce };
  }

  #proof(): ProofMessage {
    const peer = this.#peer!;
    return {
      t: 'proof',
      mac: this.#mac(this.#init.role, this.#self(), this.#init.nonce, peer, this.#peerNonce!),
    };
  }

  /** The MAC by which `prover`, in `role`, answers `verifier`'s nonce. */
  #mac(
    role: HandshakeRole,
    prover: HandshakePeer,
    proverNonce: Uint8Array,
    verifier: HandshakePeer,
    verifierNonce: Uint8Array,
  ): Uint8Array {
    const hmac = createHmac('sha256', this.#init.secret);
    const fields: (string | Uint8Array)[] = [
      DOMAIN_LABEL,
      String(this.#version),
      this.#init.cluster,
      role,
      prover.id,
      verifier.id,
      prover.boot,
      verifier.boot,
      proverNonce,
      verifierNonce,
    ];
    const length = Buffer.alloc(4);
    for (const field of fields) {
      const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : field;
      length.writeUInt32BE(bytes.length, 0);
      hmac.update(length);
      hmac.update(bytes);
    }
    return hmac.digest();
  }

  #expectState(state: HandshakeState, why: string): void {
    if (this.#state !== state) throw new Error(`invariant violated: ${why} (state ${this.#state})`);
  }
}

/**
 * The reject message that tells a refused peer why, or undefined when saying anything would be
 * pointless: the peer refused us first, or it does not speak the frame protocol at all.
 */
export function rejectFor(error: TransportError): RejectMessage | undefined {
  switch (error.code) {
    case 'BAD_HANDSHAKE':
    case 'BAD_PROOF':
    case 'CLUSTER_MISMATCH':
    case 'VERSION_MISMATCH':
    case 'UNEXPECTED_PEER':
    case 'SELF_CONNECT':
    case 'HANDSHAKE_TIMEOUT':
      return { t: 'reject', code: error.code, reason: error.detail };
    default:
      return undefined;
  }
}

function boundedString(value: unknown, maxLength: number): string | undefined {
  return typeof value === 'string' && value.length <= maxLength ? value : undefined;
}
