/**
 * TLS for a node: certificates read from PEM files, for the peer transport (mutual TLS between
 * nodes, `--tls-*`) and for the client ports (RESP and HTTP, `--client-tls-*`).
 *
 * ```ts
 * const peer = loadPeerTls({ cert: 'n1.pem', key: 'n1-key.pem', ca: 'ca.pem' });     // TcpTlsOptions
 * const client = loadClientTls({ cert: 'n1.pem', key: 'n1-key.pem' });               // ServerTlsOptions
 * createRespServer(api, { tls: client });  createHttpServer(api, { tls: client });
 * ```
 *
 * Files are read and checked once, at start-up, so that a wrong path or a key that does not belong
 * to its certificate stops the node with a code and a line that says what to do, instead of
 * every connection failing later with an OpenSSL message. `scripts/dev-ca.sh` makes a development
 * CA and node certificates; docs/SECURITY.md says when to use which.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import type { TcpTlsOptions } from '../adapters/transport/tcp.js';
import { messageOf } from './errors.js';

/** TLS on a server that clients (redis-cli, ioredis, curl) connect to. */
export interface ServerTlsOptions {
  /** The server's certificate chain (PEM): leaf first, then any intermediates. */
  cert: string | Buffer;
  /** The server's private key (PEM). */
  key: string | Buffer;
  /** The CA(s) client certificates must chain to (PEM). Needed only with requireClientCert. */
  ca?: string | Buffer | (string | Buffer)[];
  /**
   * Refuse a client that presents no certificate signed by `ca` (mutual TLS). Default false: any
   * client may connect, and the password or token decides what it may do.
   */
  requireClientCert?: boolean;
  /**
   * From TCP accept to a finished TLS handshake; a client slower than this is cut (node's own
   * default is 120 s, a slow-loris window). Default 10000 ms: a handshake is 1–2 round trips.
   */
  handshakeTimeoutMs?: number;
}

export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** What node:tls and node:https servers take for a ServerTlsOptions. */
export function serverTlsOptions(o: ServerTlsOptions): tls.TlsOptions {
  if (o.requireClientCert === true && o.ca === undefined) {
    throw new Error('requireClientCert needs a ca: the CA that signs the client certificates');
  }
  return {
    cert: o.cert,
    key: o.key,
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    requestCert: o.requireClientCert === true,
    rejectUnauthorized: o.requireClientCert === true,
    minVersion: 'TLSv1.2',
    handshakeTimeout: o.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
  };
}

export type TlsConfigErrorCode =
  /** A certificate, key or CA file does not exist or cannot be read. */
  | 'TLS_FILE_UNREADABLE'
  /** A file is not PEM, the key does not belong to the certificate, or the certificate is expired. */
  | 'TLS_FILE_INVALID';

/** Why the TLS files could not be used. A definite failure: the node did not start. */
export class TlsConfigError extends Error {
  override readonly name = 'TlsConfigError';
  constructor(
    readonly code: TlsConfigErrorCode,
    /** What is wrong and what to do, without the code (the message is `CODE: detail`). */
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

export function isTlsConfigError(e: unknown): e is TlsConfigError {
  return e instanceof TlsConfigError;
}

/** File paths, and the flags they came from (for the error messages). */
export interface TlsFiles {
  cert: string;
  key: string;
  ca?: string;
  /** Flag names to quote in errors, e.g. `{ cert: '--tls-cert', … }`. Default: the field names. */
  labels?: { cert?: string; key?: string; ca?: string };
}

const MAKE_ONE = 'scripts/dev-ca.sh DIR makes a development CA and node certificates';

/** Reads one PEM file, or throws TLS_FILE_UNREADABLE / TLS_FILE_INVALID naming the flag. */
export function readPemFile(path: string, label: string, what: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? messageOf(e);
    throw new TlsConfigError(
      'TLS_FILE_UNREADABLE',
      `${label} ${path}: cannot read the ${what} (${reason}). Give the path of a PEM file this ` +
        `user can read (${MAKE_ONE})`,
    );
  }
  if (!pem.includes('-----BEGIN ')) {
    throw new TlsConfigError(
      'TLS_FILE_INVALID',
      `${label} ${path}: not a PEM file (no "-----BEGIN" line); expected the ${what} in PEM form`,
    );
  }
  return pem;
}

/**
 * Reads cert, key and (if given) CA and checks that they make a usable TLS context: the key
 * matches the certificate, the certificate is valid now, and it chains to the CA when one is given.
 */
function loadFiles(files: TlsFiles, nowMs: number): { cert: Buffer; key: Buffer; ca?: Buffer } {
  const label = { cert: 'cert', key: 'key', ca: 'ca', ...files.labels };
  const cert = readPemFile(files.cert, label.cert, 'certificate');
  const key = readPemFile(files.key, label.key, 'private key');
  const ca = files.ca !== undefined ? readPemFile(files.ca, label.ca, 'CA certificate') : undefined;
  try {
    tls.createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
  } catch (e) {
    throw new TlsConfigError(
      'TLS_FILE_INVALID',
      `${label.cert} ${files.cert} and ${label.key} ${files.key} do not make a usable certificate ` +
        `(${messageOf(e)}): the key must be the one the certificate was issued for`,
    );
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (e) {
    throw new TlsConfigError('TLS_FILE_INVALID', `${label.cert} ${files.cert}: ${messageOf(e)}`);
  }
  if (Date.parse(leaf.validTo) < nowMs || Date.parse(leaf.validFrom) > nowMs) {
    throw new TlsConfigError(
      'TLS_FILE_INVALID',
      `${label.cert} ${files.cert} is valid only from ${leaf.validFrom} to ${leaf.validTo}: ` +
        'issue a new one (peers and clients refuse a certificate outside its validity)',
    );
  }
  if (ca !== undefined) {
    const issuers = splitPem(ca).map((p) => new X509Certificate(p));
    if (!issuers.some((issuer) => leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey))) {
      throw new TlsConfigError(
        'TLS_FILE_INVALID',
        `${label.cert} ${files.cert} is not signed by ${label.ca} ${files.ca}: ` +
          'the other side verifies against that CA and would refuse this certificate',
      );
    }
  }
  return { cert, key, ...(ca ? { ca } : {}) };
}

function splitPem(pem: Buffer): string[] {
  return pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Mutual TLS between nodes: every node's certificate signed by the cluster CA. */
export function loadPeerTls(files: TlsFiles & { ca: string }, nowMs = Date.now()): TcpTlsOptions {
  const { cert, key, ca } = loadFiles(files, nowMs);
  return { cert, key, ca: ca as Buffer };
}

/** TLS on the client ports; with a CA, clients must present a certificate it signed. */
export function loadClientTls(files: TlsFiles, nowMs = Date.now()): ServerTlsOptions {
  // The CA here signs the clients, not this server's certificate: read it, do not chain to it.
  const { cert, key } = loadFiles({ cert: files.cert, key: files.key, labels: files.labels }, nowMs);
  if (files.ca === undefined) return { cert, key };
  const clientCa = readPemFile(files.ca, files.labels?.ca ?? 'ca', 'client CA certificate');
  return { cert, key, ca: clientCa, requireClientCert: true };
}
