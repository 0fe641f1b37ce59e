/**
 * `arpeggio torture` end to end: a real 3-node cluster (real processes on 127.0.0.1) under SIGKILL
 * and restart and SIGSTOP/SIGCONT while clients write over RESP. Claims: at quorum no
 * acknowledged write is lost; at linearizable none is lost and the register history is
 * linearizable; every node process is gone afterwards. And the fault schedule is a function of
 * its seed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { judgeRegisters } from '../../src/cli/commands/torture.js';
import { main } from '../../src/cli/main.js';
import { processRunning } from '../../src/control/node-probe.js';
import { FaultNetwork } from '../../src/control/torture/fault-proxy.js';
import { PARTITION_SHAPES, parseFaults, planFaults } from '../../src/control/torture/schedule.js';
import { applyPartition, runTorture } from '../../src/control/torture/torture.js';
import { SeededRandom } from '../../src/core/random.js';

describe('the fault schedule', () => {
  test('is the same for the same seed, uses only the faults asked for, and stays within the run', () => {
    const options = { durationMs: 60_000, faults: parseFaults('kill,pause') };
    const a = planFaults(new SeededRandom(7), options);
    assert.deepEqual(planFaults(new SeededRandom(7), options), a, 'one seed, one schedule');
    assert.notDeepEqual(planFaults(new SeededRandom(8), options), a, 'another seed, another schedule');
    assert.ok(a.length >= 5, `a minute holds several faults, got ${a.length}`);
    for (const [i, f] of a.entries()) {
      assert.ok(f.kind === 'kill' || f.kind === 'pause', `only the faults asked for: ${f.kind}`);
      assert.ok(f.atMs + f.holdMs <= 60_000, 'a fault ends within the run');
      if (i > 0) assert.ok(f.atMs >= a[i - 1].atMs + a[i - 1].holdMs, 'one fault at a time');
    }
    assert.throws(() => parseFaults('kill,flood'), /unknown fault 'flood'/);
  });
});

describe('partition shapes', () => {
  const five = ['a', 'b', 'c', 'd', 'e'];
  const cut = (shape: (typeof PARTITION_SHAPES)[number], nodes = five) => {
    const network = new FaultNetwork();
    const named = applyPartition(network, shape, nodes);
    const reaches = (x: string, y: string) => !network.blocks(x, y);
    return { network, named, reaches };
  };

  test('bridge: two halves that cannot reach each other, one node that reaches everyone', () => {
    const { named, reaches } = cut('bridge');
    assert.deepEqual(named, ['a']);
    for (const x of five) assert.ok(reaches('a', x) && reaches(x, 'a'), `the bridge reaches ${x}`);
    for (const [x, y] of [
      ['b', 'd'],
      ['b', 'e'],
      ['c', 'd'],
      ['c', 'e'],
    ])
      assert.ok(!reaches(x, y) && !reaches(y, x), `${x} and ${y} are cut`);
    assert.ok(reaches('b', 'c') && reaches('d', 'e'), 'each half is whole');
  });

  test('ring: each node reaches exactly its two neighbours, so no three nodes are fully connected', () => {
    const { named, reaches, network } = cut('ring');
    assert.deepEqual(named, five);
    for (const [i, x] of five.entries()) {
      const neighbours = five.filter((y) => y !== x && reaches(x, y));
      assert.deepEqual(neighbours.sort(), [five[(i + 4) % 5], five[(i + 1) % 5]].sort(), `${x}'s links`);
    }
    assert.equal(network.describe().length, 10, '5 of the 10 pairs cut, both ways');
  });

  test('too few nodes for a bridge or a ring: one node is isolated instead', () => {
    assert.deepEqual(cut('bridge', ['a', 'b']).named, ['a']);
    const { named, reaches } = cut('ring', ['a', 'b', 'c']);
    assert.deepEqual(named, ['a']);
    assert.ok(!reaches('a', 'b') && !reaches('c', 'a') && reaches('b', 'c'));
  });

  test('with overlap, faults of two different kinds hold at once; without it, the schedule is unchanged', () => {
    const base = { durationMs: 600_000, faults: parseFaults('all') };
    const plain = planFaults(new SeededRandom(5), base);
    assert.deepEqual(
      planFaults(new SeededRandom(5), { ...base, overlap: 0 }),
      plain,
      'overlap 0 changes nothing',
    );
    const plan = planFaults(new SeededRandom(5), { ...base, overlap: 0.5 });
    const pairs = plan.flatMap((f, i) => (f.overlaps ? [[plan[i - 1], f] as const] : []));
    assert.ok(
      pairs.length >= 10,
      `about half the faults get a partner, got ${pairs.length} of ${plan.length}`,
    );
    for (const [a, b] of pairs) {
      assert.notEqual(a.kind, b.kind, 'never two of one kind at once');
      assert.ok(!(a.kind.startsWith('kill') && b.kind.startsWith('kill')), 'never two restarts at once');
      assert.ok(a.kind !== 'churn' && b.kind !== 'churn', 'churn never overlaps');
      assert.ok(b.atMs > a.atMs && b.atMs < a.atMs + a.holdMs, 'the second starts while the first holds');
      assert.ok(!a.overlaps, 'at most two at once');
    }
    for (const [i, f] of plan.entries()) {
      if (i === 0 || f.overlaps) continue;
      const before = plan.slice(0, i).map((x) => x.atMs + x.holdMs);
      assert.ok(f.atMs >= Math.max(...before), 'a fault that does not overlap waits for all before it');
    }
    assert.throws(() => planFaults(new SeededRandom(5), { ...base, overlap: 2 }), /overlap must be within/);
  });

  test('the schedule draws every shape', () => {
    const plan = planFaults(new SeededRandom(3), { durationMs: 600_000, faults: ['partition'] });
    assert.deepEqual(new Set(plan.map((f) => f.shape)), new Set(PARTITION_SHAPES));
  });
});

describe('the command', () => {
  test('refuses bad flags with exit code 2 before starting anything', async () => {
    const errors: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => errors.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      assert.equal(await main(['torture', '--faults', 'kill,flood']), 2);
      assert.equal(await main(['torture', '--consistency', 'one']), 2);
      assert.equal(await main(['torture', '--nodes', '2']), 2);
    } finally {
      process.stderr.write = write;
    }
    assert.match(errors.join(''), /unknown fault 'flood'/, 'the message names the bad fault');
  });
});

describe('torture on real processes', () => {
  for (const consistency of ['quorum', 'linearizable'] as const) {
    test(`3 nodes, kill and pause, ${consistency}: no acknowledged write lost${consistency === 'linearizable' ? ', a linearizable history' : ''}`, async () => {
      const report = await runTorture({
        nodes: 3,
        durationMs: 9000,
        faults: ['kill', 'pause'],
        consistency,
        rate: 150,
        clients: 6,
        seed: 11,
        checkHistory: judgeRegisters,
      });
      const summary = JSON.stringify({ ...report, faults: report.faults.length });
      assert.equal(report.error, undefined, `the run completed: ${summary}`);
      assert.ok(report.faults.length >= 1, `faults were injected: ${summary}`);
      assert.ok(
        report.acknowledgedWrites > 100,
        `enough writes were acknowledged to mean something: ${summary}`,
      );
      assert.equal(
        report.lostAcknowledgedWrites,
        0,
        `every acknowledged write reads back from every node: ${summary}`,
      );
      if (consistency === 'linearizable') {
        assert.equal(report.history.verdict?.valid, true, `the register history is linearizable: ${summary}`);
        assert.ok(report.history.events > 100, 'the history is not trivial');
      }
      assert.ok(report.ok, summary);
      assert.ok(report.pids.length >= 4, `the restart made a new process: ${report.pids}`);
      for (const pid of report.pids) assert.equal(processRunning(pid), false, `node pid ${pid} was stopped`);
    });
  }
});
