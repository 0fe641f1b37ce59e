#!/usr/bin/env node
// Micro-benchmark of the peer transport: frame encode/decode rates, CRC-32C throughput, and two
// TcpTransports on 127.0.0.1 (sequential round trips and a one-way stream). Prints JSON.
// Run after a build: `npx tsc -p tsconfig.json && node scripts/bench-transport.mjs`.
import { performance } from 'node:perf_hooks';
import { crc32c } from '../dist/src/adapters/transport/crc32c.js';
import { encodeFrame, FrameDecoder } from '../dist/src/adapters/transport/frame.js';
import { TcpTransport } from '../dist/src/adapters/transport/tcp.js';

const SECRET = 'bench-secret-0123456789abcdef';

/** Runs `fn` repeatedly for about `ms` milliseconds (after a warm-up); returns calls per second. */
function rate(fn, ms = 500) {
  const warmUntil = performance.now() + 100;
  while (performance.now() < warmUntil) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    now = performance.now();
  }
  return Math.round(n / ((now - start) / 1000));
}

// A typical replication message: a write of a 100-byte value with its record metadata.
const small = {
  type: 'rpc-req',
  id: '3.17',
  attempt: 1,
  idempotent: false,
  toEpoch: 3,
  payload: {
    op: 'write',
    key: new Uint8Array(16).fill(7),
    record: {
      value: new Uint8Array(100).fill(1),
      hlc: 1_700_000_000_000,
      writer: 'n1',
      expiresAtMs: 0,
      vv: { n1: 5, n2: 3 },
    },
  },
};
const large = {
  type: 'range',
  entries: Array.from({ length: 64 }, (_, i) => ({ k: i, v: new Uint8Array(1024) })),
};

function codec(value) {
  const frame = encodeFrame(value);
  const decoder = new FrameDecoder();
  return {
    frameBytes: frame.length,
    encodePerSec: rate(() => encodeFrame(value)),
    decodePerSec: rate(() => {
      decoder.push(frame);
      decoder.next();
    }),
  };
}

async function loopback() {
  const addresses = new Map();
  const make = async (nodeId) => {
    const t = new TcpTransport(
      { addressOf: (id) => addresses.get(id) },
      { nodeId, cluster: 'bench', secret: SECRET },
    );
    await t.listen();
    addresses.set(nodeId, t.address());
    return t;
  };
  const a = await make('a');
  const b = await make('b');
  await a.connect(b.address());
  b.onMessage((from, msg) => {
    if (msg.type === 'ping') b.send(from, { type: 'pong', seq: msg.seq });
  });

  // Sequential round trips: one message in flight at a time (latency-bound).
  const roundTrips = 5000;
  let resolveDone;
  let seq = 0;
  const done = new Promise((r) => (resolveDone = r));
  a.onMessage((_from, msg) => {
    if (msg.type !== 'pong') return;
    if (++seq === roundTrips) resolveDone();
    else a.send('b', { type: 'ping', seq });
  });
  let start = performance.now();
  a.send('b', { type: 'ping', seq: 0 });
  await done;
  const rttSec = (performance.now() - start) / 1000;

  // One-way stream: many messages in flight (throughput-bound), in bursts the queue bounds allow.
  const streamed = 200_000;
  let received = 0;
  let resolveStream;
  const streamDone = new Promise((r) => (resolveStream = r));
  b.onMessage((_from, msg) => {
    if (msg.type === 'data' && ++received === streamed) resolveStream();
  });
  start = performance.now();
  for (let i = 0; i < streamed; i += 5000) {
    for (let j = i; j < i + 5000; j++) a.send('b', { type: 'data', seq: j, payload: small.payload });
    await new Promise((r) => setImmediate(r));
  }
  await streamDone;
  const streamSec = (performance.now() - start) / 1000;
  const dropped = a.metrics().dropped.queueFull;
  await a.close();
  await b.close();
  return {
    sequentialRoundTripsPerSec: Math.round(roundTrips / rttSec),
    meanRoundTripUs: Math.round((rttSec / roundTrips) * 1e6),
    streamMessagesPerSec: Math.round(streamed / streamSec),
    streamDroppedQueueFull: dropped,
  };
}

const mib = new Uint8Array(1 << 20).map((_, i) => i * 13);
const result = {
  node: process.version,
  smallMessage: codec(small),
  largeMessage: codec(large),
  crc32cMiBPerSec: Math.round(rate(() => crc32c(mib), 300)),
  loopback: await loopback(),
};
console.log(JSON.stringify(result, null, 2));
