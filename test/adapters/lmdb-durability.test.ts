/**
 * The durability half of the Ready contract on a real disk: a write acknowledged after
 * `flushed()` survives the death of the process. A child process writes through the LMDB store
 * and prints "acked N" only once `flushed()` has resolved for write N; the test kills it with
 * SIGKILL at a random point while batches are in flight, reopens the directory, and looks for
 * every acknowledged write. Several rounds reuse the directory, so each round also opens an
 * environment left behind by a killed process.
 *
 * What SIGKILL cannot show: that the data is on the platter. The OS keeps a dead process's
 * written pages; only a power cut tests fsync (docs/STORAGE.md says how `flushed` waits for it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LmdbStore } from '../../src/adapters/storage/lmdb.js';
import type { Durability } from '../../src/adapters/storage/types.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const writer = join(root, 'test/fixtures/lmdb-writer.mjs');

// Copies of the writer's functions (test/fixtures/lmdb-writer.mjs): what write n of a round is.
function writtenKey(round: number, n: number): Uint8Array {
  return Uint8Array.of(round, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

function writtenValue(round: number, n: number): { round: number; n: number; payload: Uint8Array } {
  const payload = new Uint8Array(16 + ((n * 37) % 400));
  for (let i = 0; i < payload.length; i++) payload[i] = (n + i) & 255;
  return { round, n, payload };
}

interface Outcome {
  acked: number[];
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the writer and SIGKILLs it on its `killAtAck`-th acknowledgement (0: as soon as it is open). */
async function writeUntilKilled(
  dir: string,
  round: number,
  durability: Durability,
  killAtAck: number,
): Promise<Outcome> {
  const child = spawn(process.execPath, [writer, dir, String(round), durability], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked: number[] = [];
  let stderr = '';
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('acked ')) acked.push(Number(line.slice(6)));
      if ((line === 'ready' && killAtAck === 0) || acked.length === killAtAck) child.kill('SIGKILL');
    }
  });
  // 'close' comes after the output pipes are drained: every line the child wrote is counted.
  const [, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { acked, signal, stderr };
}

async function killRounds(durability: Durability, rounds: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'arpeggio-durability-'));
  const path = join(dir, 'node');
  const acknowledged = new Map<number, number[]>();
  try {
    for (let round = 1; round <= rounds; round++) {
      const killAtAck = Math.floor(Math.random() * 250);
      const { acked, signal, stderr } = await writeUntilKilled(path, round, durability, killAtAck);
      assert.equal(stderr, '', 'the writer ran without errors');
      assert.equal(signal, 'SIGKILL', 'the writer died by SIGKILL, not on its own');
      assert.ok(acked.length >= killAtAck, `round ${round}: ${acked.length} acks, killed at ${killAtAck}`);
      acknowledged.set(round, acked);

      const store = LmdbStore.open({ path });
      try {
        for (const [r, ns] of acknowledged) {
          for (const n of ns) {
            assert.deepStrictEqual(
              store.get('data', writtenKey(r, n)),
              writtenValue(r, n),
              `round ${r}, write ${n} was acknowledged (kill at ack ${killAtAck} of round ${round}), so it must survive`,
            );
          }
        }
      } finally {
        await store.close();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('every write acknowledged after flushed() survives SIGKILL of the process', { timeout: 30_000 }, () =>
  killRounds('flush', 3),
);

test(
  'with relaxed durability, a committed write survives SIGKILL too (the OS holds its pages)',
  { timeout: 30_000 },
  () => killRounds('relaxed', 2),
);
