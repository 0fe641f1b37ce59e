/**
 * Micro benchmarks inside this process: a peer RPC round trip over two TcpTransports on
 * loopback, storage put + flush and get through LmdbStore, frame encode and decode, and the ring
 * lookup. Each gives operations per second (one at a time: the latency's inverse).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../adapters/storage/lmdb.js';
import { encodeFrame, FrameDecoder } from '../../adapters/transport/frame.js';
import { TcpTransport } from '../../adapters/transport/tcp.js';
import { identifierOf } from '../../core/id.js';
import { Ring } from '../../core/ring.js';
import { opsPerSecond } from './load.js';
import type { BenchRow } from './report.js';

const microRow = (op: string, opsPerSec: number, note: string): BenchRow => ({
  scenario: 'micro',
  system: 'arpeggio',
  op,
  pipeline: 1,
  nodes: 1,
  opsPerSec,
  p50Ms: opsPerSec > 0 ? 1000 / opsPerSec : null,
  p99Ms: null,
  p999Ms: null,
  cpuSecondsPer1kOps: null,
  peakRssMiB: [],
  runs: 1,
  note,
});

/** A message about the size of a replicated write: key, 100-byte value, version vector. */
const sampleMessage = () => ({
  type: 'put',
  id: 12345,
  key: new Uint8Array(randomBytes(16)),
  value: new Uint8Array(randomBytes(100)),
  clock: { n1: 3, n2: 7, n3: 1 },
  hlc: 1_700_000_000_000,
});

export async function runMicro(durationMs: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];

  const message = sampleMessage();
  rows.push(
    microRow(
      'frame-encode',
      await opsPerSecond(durationMs, () => encodeFrame(message)),
      'encodeFrame of a ~150-byte message',
    ),
  );
  const frame = encodeFrame(message);
  const decoder = new FrameDecoder();
  rows.push(
    microRow(
      'frame-decode',
      await opsPerSecond(durationMs, () => {
        decoder.push(frame);
        return decoder.next();
      }),
      'FrameDecoder push + next of the same frame',
    ),
  );

  const ring = Ring.fromMembers(
    Array.from({ length: 100 }, (_, i) => `n${i + 1}`),
    16,
  );
  const keyIds = Array.from({ length: 1024 }, (_, i) => identifierOf(`key:${i}`));
  let k = 0;
  rows.push(
    microRow(
      'ring-successor-of',
      await opsPerSecond(durationMs, () => ring.successorOf(keyIds[k++ & 1023])),
      'Ring.successorOf on 100 nodes × 16 vnodes',
    ),
  );

  const dir = mkdtempSync(join(tmpdir(), 'arpeggio-bench-lmdb-'));
  const store = LmdbStore.open({ path: dir, durability: 'flush' });
  try {
    const value = new Uint8Array(100);
    let i = 0;
    rows.push(
      microRow(
        'storage-put-flush',
        await opsPerSecond(durationMs, async () => {
          store.apply([{ table: 'data', key: Buffer.from(`key:${i++ % 100000}`), value }]);
          await store.flushed();
        }),
        'LmdbStore apply of one 100-byte write, then flushed() (fdatasync), one at a time',
      ),
    );
    let j = 0;
    rows.push(
      microRow(
        'storage-get',
        await opsPerSecond(durationMs, () => store.get('data', Buffer.from(`key:${j++ % Math.max(1, i)}`))),
        'LmdbStore get of a present key',
      ),
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const secret = randomBytes(32);
  const a = new TcpTransport({}, { nodeId: 'bench-a', cluster: 'bench', secret });
  const b = new TcpTransport({}, { nodeId: 'bench-b', cluster: 'bench', secret });
  try {
    await a.listen();
    await b.listen();
    b.onMessage((from, msg) => b.send(from, msg));
    let waiting: (() => void) | null = null;
    a.onMessage(() => {
      const w = waiting;
      waiting = null;
      w?.();
    });
    await a.connect(b.address() as string);
    const roundTrip = () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
        a.send('bench-b', message);
      });
    await roundTrip();
    rows.push(
      microRow(
        'rpc-round-trip',
        await opsPerSecond(durationMs, roundTrip),
        'TcpTransport a → b → a on loopback, one message in flight',
      ),
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  return rows;
}
