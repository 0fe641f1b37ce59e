/**
 * Shared pieces of the end-to-end tests: a cluster directory whose node processes are killed by
 * pid whatever happens to the test (its `t.after` hook, and the test process's exit), Redis
 * clients, and bulk reads and writes through RESP.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { runningPid } from '../../src/control/node-probe.js';

/** Nodes are detached processes: nothing kills them when the test process ends, so this does. */
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of liveDirs) killNodes(dir);
});

/** SIGKILLs every node running on a directory of `dir` (n1/, n2/, …). */
export function killNodes(dir: string): number[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const name of names) {
    const pid = runningPid(join(dir, name));
    if (pid === null) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

/** A fresh directory for a cluster; its nodes are killed and it is removed after the test. */
export async function clusterDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'arpeggio-e2e-'));
  liveDirs.add(dir);
  t.after(async () => {
    killNodes(dir);
    liveDirs.delete(dir);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A Redis client on "host:port", closed after the test. */
export function redisAt(t: TestContext, address: string): Redis {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const client = new Redis({ host, port, lazyConnect: false, maxRetriesPerRequest: 1 });
  client.on('error', () => {
    // reported through the commands that fail
  });
  t.after(() => client.disconnect());
  return client;
}

export const keyName = (prefix: string, i: number) => `${prefix}${String(i).padStart(5, '0')}`;
export const expectedValue = (key: string) => `value of ${key}`;

/**
 * SETs every key (value `expectedValue(key)`) at `quorum`, spread over the clients, in pipelines of
 * `batch`; every reply must be OK (an acknowledged write).
 */
export async function writeKeys(clients: Redis[], keys: string[], batch = 100): Promise<void> {
  const chunks: string[][] = [];
  for (let i = 0; i < keys.length; i += batch) chunks.push(keys.slice(i, i + batch));
  await Promise.all(
    clients.map(async (client, c) => {
      await client.call('CONSISTENCY', 'quorum');
      for (let i = c; i < chunks.length; i += clients.length) {
        const pipeline = client.pipeline();
        for (const key of chunks[i]) pipeline.set(key, expectedValue(key));
        const results = (await pipeline.exec()) ?? [];
        for (const [j, [error, reply]] of results.entries()) {
          assert.equal(error, null, `SET ${chunks[i][j]} failed: ${error?.message}`);
          assert.equal(reply, 'OK');
        }
      }
    }),
  );
}

/** Keys whose value read at `quorum` through `client` is not `expectedValue(key)` (MGET in batches). */
export async function missingKeys(client: Redis, keys: string[], batch = 200): Promise<string[]> {
  await client.call('CONSISTENCY', 'quorum');
  const missing: string[] = [];
  for (let i = 0; i < keys.length; i += batch) {
    const chunk = keys.slice(i, i + batch);
    const values = await client.mget(...chunk);
    for (const [j, v] of values.entries()) if (v !== expectedValue(chunk[j])) missing.push(chunk[j]);
  }
  return missing;
}
