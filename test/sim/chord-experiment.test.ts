/**
 * The experiment behind `arpeggio sim chord`, and the command itself, on rings small enough for
 * a unit test. The full-size figures are in docs/SIMULATION.md.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UsageError } from '../../src/cli/args.js';
import { simChordCommand } from '../../src/cli/commands/sim-chord.js';
import { type ChordExperimentOptions, quantile, runChordExperiment } from '../../src/sim/chord-experiment.js';

const base: ChordExperimentOptions = {
  nodes: 64,
  vnodes: 1,
  keys: 6400,
  lookups: 1000,
  failFraction: 0,
  successors: 12,
  seed: 1,
};

describe('chord experiment', () => {
  test('a ring built by simulated joins answers every lookup, in about ½·log2 N hops', () => {
    const r = runChordExperiment(base);
    assert.equal(r.ringBuild, 'simulated-join');
    assert.equal(r.ringMembers, 64);
    assert.equal(r.failedLookups, 0);
    assert.equal(r.expectedHops, 3);
    assert.ok(Math.abs(r.meanHops - r.expectedHops) / r.expectedHops <= 0.15, `mean hops ${r.meanHops}`);
    assert.ok(r.p50Hops <= r.p99Hops);
    assert.equal(r.keysPerNode.mean, 100);
    assert.ok(r.keysPerNode.p1 <= r.keysPerNode.mean && r.keysPerNode.mean <= r.keysPerNode.p99);
  });

  test('the same seed gives the same result and trace; another seed another trace', () => {
    const small = { ...base, nodes: 16, keys: 1000, lookups: 200 };
    const a = runChordExperiment(small);
    assert.deepEqual(runChordExperiment(small), a);
    assert.notEqual(runChordExperiment({ ...small, seed: 2 }).traceDigest, a.traceDigest);
  });

  test('above the size limit the ring starts stabilized, and lookups still route through messages', () => {
    const r = runChordExperiment({ ...base, vnodes: 4, directBuildAboveMembers: 128 });
    assert.equal(r.ringBuild, 'direct');
    assert.equal(r.ringMembers, 256);
    assert.equal(r.failedLookups, 0);
    assert.ok(r.messagesSent > r.lookups * 2, 'lookups and their acknowledgements are messages');
  });

  test('simultaneous node failures: after half the nodes fail at once, no lookup fails when successor lists are 2·log2 N long', () => {
    const r = runChordExperiment({ ...base, nodes: 128, keys: 12_800, failFraction: 0.5, successors: 14 });
    assert.equal(r.failedNodes, 64);
    assert.equal(r.ringHealed, true);
    assert.equal(r.liveRingMembers, 64);
    assert.equal(r.failedLookupsUnexplained, 0);
    assert.equal(r.failedLookups, 0);
    assert.equal(r.keysPerNode.mean, 200, 'the keys of the dead are spread over the living');
  });

  test('with successor lists of one, the keys whose only listed holder died are counted', () => {
    const r = runChordExperiment({ ...base, failFraction: 0.5, successors: 1 });
    // Each key's list is just its owner, which died with probability ½.
    assert.ok(r.lookupsWhoseSuccessorListAllDied > 300 && r.lookupsWhoseSuccessorListAllDied < 700);
    assert.equal(r.failedLookupsUnexplained, 0);
  });

  test('quantile is the nearest rank', () => {
    assert.equal(quantile([], 0.5), 0);
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.99), 4);
    assert.equal(quantile([1, 2, 3, 4], 0.01), 1);
  });
});

/** Runs the command with stdout captured. */
async function runCommand(argv: string[]): Promise<{ code: number; out: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await simChordCommand.run(argv), out };
  } finally {
    process.stdout.write = write;
  }
}

describe('arpeggio sim chord', () => {
  test('--json prints one object with the measured figures, the seed and the trace digest', async () => {
    const { code, out } = await runCommand(['--nodes', '16', '--lookups', '200', '--seed', '3', '--json']);
    assert.equal(code, 0);
    const r = JSON.parse(out) as Record<string, unknown>;
    for (const field of [
      'nodes',
      'vnodes',
      'ringMembers',
      'meanHops',
      'p50Hops',
      'p99Hops',
      'expectedHops',
      'keysPerNode',
      'failedLookups',
      'lookupsWhoseSuccessorListAllDied',
      'ringBuild',
      'traceDigest',
      'elapsedMs',
      'seed',
    ]) {
      assert.ok(field in r, `missing ${field}`);
    }
    assert.equal(r.seed, 3);
    assert.equal(r.keys, 10_000, 'default keys: 100 per ring member, at least 10000');
    assert.equal(r.successors, 8, 'default r = 2·⌈log2 16⌉');
  });

  test('without --json it prints a table that ends with the replay command', async () => {
    const { code, out } = await runCommand(['--nodes', '8', '--lookups', '50']);
    assert.equal(code, 0);
    assert.match(out, /hops +mean/);
    assert.match(out, /replay +arpeggio sim chord --nodes 8 --vnodes 1 .* --seed 1\n$/);
  });

  test('bad flags are usage errors that name the flag', async () => {
    const cases: [string[], RegExp][] = [
      [[], /--nodes is required/],
      [['--nodes', '0'], /--nodes must be between 1 and/],
      [['--nodes', 'many'], /--nodes must be an integer/],
      [['--nodes', '8', '--fail-fraction', '1'], /--fail-fraction must be between 0 and 0.95/],
      [['--nodes', '8', '--vnodes', '0'], /--vnodes must be between 1 and/],
      [['--nodes', '65536', '--vnodes', '256'], /ring members/],
      [['--nodes', '8', '--frobnicate'], /frobnicate/],
    ];
    for (const [argv, message] of cases) {
      await assert.rejects(
        simChordCommand.run(argv),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
      );
    }
  });
});
