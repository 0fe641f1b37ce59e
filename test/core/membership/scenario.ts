/**
 * Golden scenario scripts for membership, in the style of etcd's datadriven interaction tests
 * (raft/testdata/*.txt). A script is a sequence of blocks:
 *
 *   partition a,b|c,d,e      ← one command
 *   run 10s
 *   ----                     ← what the commands printed, compared with what they print now
 *   c dead@0: seen by a, b at 6.1–6.3 s
 *
 * Commands:
 *   cluster ID… [seed=N] [loss=P]   start members (all join through the first) until all see all
 *   run DURATION                    run (e.g. 500ms, 3s, 30T in protocol periods); print the
 *                                   events, one line per (subject, event, incarnation)
 *   converge [DURATION]             run until every live member sees every live member alive
 *   crash ID | restart ID | leave ID | remove ID | pause ID | resume ID
 *   partition A,B|C,D | heal | block A>B | loss P
 *   meta ID key=value…              the member changes its meta
 *   join ID SEED                    add a member that joins through SEED
 *   view [ID…]                      each live member's member list (default: every live member)
 *
 * Set ARPEGGIO_REWRITE=1 to rewrite the expected outputs from what the code prints now; review
 * the diff like any other change.
 */
import type { Meta } from '../../../src/core/membership/types.js';
import type { NodeId } from '../../../src/core/types.js';
import { type Cluster, startCluster, swimOf, testConfig } from './cluster.js';

export interface Block {
  commands: string[];
  expected: string[];
}

export function parseScript(text: string): Block[] {
  const blocks: Block[] = [];
  let current: Block | null = null;
  let inOutput = false;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '----') {
      inOutput = true;
      continue;
    }
    if (line === '' && inOutput) {
      if (current) blocks.push(current);
      current = null;
      inOutput = false;
      continue;
    }
    if (line === '' || (!inOutput && line.startsWith('#'))) continue;
    current ??= { commands: [], expected: [] };
    if (inOutput) current.expected.push(line);
    else current.commands.push(line);
  }
  if (current) blocks.push(current);
  return blocks;
}

export function formatScript(blocks: Block[], header: string[]): string {
  const parts = blocks.map((b) => [...b.commands, '----', ...b.expected].join('\n'));
  return `${[...header, ''].join('\n')}${parts.join('\n\n')}\n`;
}

const P = testConfig.probeIntervalMs;

function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|T)$/.exec(text);
  if (!m) throw new Error(`bad duration '${text}' (use 500ms, 3s or 30T)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * P;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** Runs scripts against one cluster; `exec` returns the lines a block prints. */
export class ScenarioRunner {
  private cluster: Cluster | null = null;

  exec(commands: string[]): string[] {
    const out: string[] = [];
    for (const command of commands) out.push(...this.run(command));
    return out;
  }

  private get c(): Cluster {
    if (!this.cluster) throw new Error('start with: cluster ID…');
    return this.cluster;
  }

  private run(command: string): string[] {
    const [verb, ...args] = command.split(/\s+/);
    switch (verb) {
      case 'cluster': {
        const ids = args.filter((a) => !a.includes('='));
        const opts = Object.fromEntries(args.filter((a) => a.includes('=')).map((a) => a.split('=')));
        this.cluster = startCluster(ids, {
          seed: Number(opts.seed ?? 1),
          network: { packetLossProbability: Number(opts.loss ?? 0) },
        });
        return [`formed at ${seconds(this.c.sim.now())} s`];
      }
      case 'run':
        return this.eventsDuring(() => this.c.sim.runFor(durationMs(args[0])));
      case 'converge': {
        const start = this.c.sim.now();
        const max = durationMs(args[0] ?? '600T');
        let ok = false;
        const events = this.eventsDuring(() => {
          ok = this.c.sim.runUntil(() => this.converged(), max, 1);
        });
        const took = `${seconds(this.c.sim.now() - start)} s`;
        return [...events, ok ? `converged after ${took}` : `NOT converged after ${took}`];
      }
      case 'crash':
        this.c.sim.crash(args[0]);
        return [];
      case 'restart':
        this.c.sim.restart(args[0]);
        return [];
      case 'remove':
        this.c.sim.remove(args[0]);
        return [];
      case 'pause':
        this.c.sim.pause(args[0]);
        return [];
      case 'resume':
        this.c.sim.resume(args[0]);
        return [];
      case 'leave':
        this.c.sim.request(args[0], { type: 'leave' });
        return [];
      case 'meta': {
        const meta: Meta = Object.fromEntries(args.slice(1).map((kv) => kv.split('=') as [string, string]));
        this.c.sim.request(args[0], { type: 'meta', meta });
        return [];
      }
      case 'join':
        this.c.add(args[0], [args[1]]);
        return [];
      case 'partition':
        this.c.sim.partition(
          args
            .join('')
            .split('|')
            .map((g) => g.split(',')),
        );
        return [];
      case 'heal':
        this.c.sim.heal();
        return [];
      case 'block': {
        const [from, to] = args[0].split('>');
        this.c.sim.blockLink(from, to);
        return [];
      }
      case 'loss':
        this.c.sim.setNetwork({ packetLossProbability: Number(args[0]) });
        return [];
      case 'view':
        return (args.length > 0 ? args : this.c.sim.liveNodeIds()).map((id) => this.view(id));
      default:
        throw new Error(`unknown command '${command}'`);
    }
  }

  private converged(): boolean {
    const live = this.c.sim.liveNodeIds();
    return live.every((o) => live.every((s) => this.c.stateSeenBy(o, s) === 'alive'));
  }

  private view(id: NodeId): string {
    const members = swimOf(this.c.sim, id).members();
    const show = (m: (typeof members)[number]) => {
      const meta = Object.entries(m.meta).map(([k, v]) => `${k}=${v}`);
      return `${m.id} ${m.state}@${m.incarnation}${meta.length > 0 ? `{${meta.join(',')}}` : ''}`;
    };
    return `${id}: ${members.map(show).join(', ')}`;
  }

  /** One line per (subject, event, incarnation): who saw it and when (first–last). */
  private eventsDuring(run: () => void): string[] {
    const from = this.c.events.length;
    run();
    const groups = new Map<string, { observers: Set<NodeId>; first: number; last: number }>();
    for (const e of this.c.events.slice(from)) {
      const key = `${e.subject} ${e.type}@${e.incarnation}`;
      const g = groups.get(key) ?? { observers: new Set(), first: e.atMs, last: e.atMs };
      g.observers.add(e.observer);
      g.last = e.atMs;
      groups.set(key, g);
    }
    return [...groups].map(([key, g]) => {
      const when =
        seconds(g.first) === seconds(g.last) ? seconds(g.first) : `${seconds(g.first)}–${seconds(g.last)}`;
      return `${key}: seen by ${[...g.observers].sort().join(', ')} at ${when} s`;
    });
  }
}
