/** Shared pieces of the runtime tests: temp directories, captured logs, polling with a deadline. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Logger, pino } from 'pino';
import { reservablePort } from '../../src/control/ports.js';
import type { KvConfig } from '../../src/core/kv-node.js';
import type { KvReply, KvRequest } from '../../src/core/replication/messages.js';

export const SECRET = 'runtime-test-secret-0123456789abcdef';

/** SWIM and RPC fast enough that a cluster forms in well under a second on loopback. */
export const FAST_KV: Partial<KvConfig> = {
  swim: { probeIntervalMs: 200, probeTimeoutMs: 100, pushPullIntervalMs: 2000 },
  antiEntropyIntervalMs: 500,
};

export async function tempDir(
  prefix = 'arpeggio-runtime-',
): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface LogLine {
  level: number;
  msg: string;
  code?: string;
  [key: string]: unknown;
}

/** A pino logger whose lines the test can read. */
export function capturedLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { logger, lines };
}

/** Polls `check` every 20 ms until it holds; fails with `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A port nothing listens on, outside the ephemeral range (see src/control/ports.ts). */
export const freePort = reservablePort;

const enc = new TextEncoder();
const dec = new TextDecoder();

export { setReq } from '../sim/helpers.js';

export function getReq(key: string, consistency: KvRequest['consistency'] = 'quorum'): KvRequest {
  return { op: 'get', key: enc.encode(key), consistency };
}

/** The value of a successful get as a string (null when absent); throws on an error reply. */
export function valueText(reply: KvReply): string | null {
  if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply.value ? dec.decode(reply.value) : null;
}

/** The first stdout line of `arpeggio start --json`. */
export interface StartLine {
  event: string;
  id: string;
  resp: string;
  http: string;
  peer: string;
}

/**
 * Starts a real `arpeggio start --json` process on a fresh data directory (the flags given come
 * after `--data`), waits for its start line, and returns it with a `stop` that ends the process
 * (SIGTERM) and removes the directory.
 */
export async function startNodeProcess(
  flags: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ line: StartLine; first: string; stop: () => Promise<void> }> {
  const dir = await tempDir('arpeggio-process-');
  const bin = fileURLToPath(new URL('../../../bin/arpeggio.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [bin, 'start', '--json', '--log-level', 'warn', '--data', dir.path, ...flags],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ARPEGGIO_SECRET: SECRET, ...env },
    },
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await dir.remove();
  };
  try {
    const [first] = (await once(
      createInterface({ input: child.stdout as NodeJS.ReadableStream }),
      'line',
    )) as [string];
    return { line: JSON.parse(first) as StartLine, first, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
