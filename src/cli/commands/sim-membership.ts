/**
 * `arpeggio sim membership`: SWIM failure detection in the deterministic simulator. Crashes
 * members of a cluster under message loss and reports detection time, false positives and message
 * load. Composition only: the experiment lives in src/sim/membership-experiment.ts.
 */
import { performance } from 'node:perf_hooks';
import {
  SWIM_PRESETS,
  type SwimConfig,
  type SwimPresetName,
  validateSwimConfig,
} from '../../core/membership/config.js';
import {
  type MembershipExperimentResult,
  PRESET_NETWORKS,
  runMembershipExperiment,
  type Summary,
} from '../../sim/membership-experiment.js';
import { boolFlag, choiceFlag, floatFlag, intFlag, parseFlags, positionals, UsageError } from '../args.js';
import { type Command, formatRows, Progress } from '../command.js';

const MAX_NODES = 1024;
const PRESETS = Object.keys(SWIM_PRESETS) as SwimPresetName[];

const usage = `arpeggio sim membership — SWIM failure detection: detection time, false positives, load

Usage: arpeggio sim membership --nodes N [flags]

Forms a cluster of N members (joining through the first three), then runs it for S seconds of
virtual time at message loss P, crashing C random members at evenly spaced times. A crashed
member restarts once every live member has declared it dead, and rejoins. Reports the time from
each crash to the first and to the last member declaring it dead (also in protocol periods),
suspicions and deaths of members that were up (false positives), and messages per member per
second. See docs/MEMBERSHIP.md for the protocol and the knobs.

Flags:
  --nodes N          members, 2 … ${MAX_NODES} (required)
  --loss P           probability that any message is lost, 0 … 0.9 (default 0)
  --preset NAME      knobs and network: ${PRESETS.join(', ')} (default lan; local and lan run on a
                     1 ms + exp(1 ms) one-way latency, wan on 40 ms + exp(10 ms))
  --duration-s S     virtual seconds measured after the cluster formed (default 600)
  --crashes C        members crashed during the run (default 10)
  --set KNOB=VALUE   override one knob of the preset (repeatable), e.g. --set retransmitMult=6;
                     knobs: ${Object.keys(SWIM_PRESETS.lan).join(', ')}
  --seed S           seed of the simulation; the same seed gives the same output (default 1)
  --json             print one JSON object instead of a table

Examples:
  arpeggio sim membership --nodes 16 --seed 1
  arpeggio sim membership --nodes 64 --loss 0.2 --duration-s 1800 --crashes 20 --json
  arpeggio sim membership --nodes 64 --loss 0.2 --set retransmitMult=6`;

interface SimMembershipOptions {
  nodes: number;
  loss: number;
  preset: SwimPresetName;
  /** Knobs given with --set, in the order given. */
  overrides: [keyof SwimConfig, number][];
  config: SwimConfig;
  durationS: number;
  crashes: number;
  seed: number;
  json: boolean;
}

function parse(argv: string[]): SimMembershipOptions {
  const p = parseFlags(argv, {
    nodes: { type: 'string' },
    loss: { type: 'string' },
    preset: { type: 'string' },
    'duration-s': { type: 'string' },
    crashes: { type: 'string' },
    set: { type: 'string', multiple: true },
    seed: { type: 'string' },
    json: { type: 'boolean' },
  });
  positionals(p, []);
  if (p.values.nodes === undefined) throw new UsageError('--nodes is required');
  const preset = choiceFlag(p, 'preset', 'lan', PRESETS);
  const overrides = ((p.values.set as string[] | undefined) ?? []).map(parseOverride);
  const config: SwimConfig = { ...SWIM_PRESETS[preset], ...Object.fromEntries(overrides) };
  try {
    validateSwimConfig(config);
  } catch (err) {
    throw new UsageError(`--set: ${(err as Error).message.replace(/^invariant violated: /, '')}`);
  }
  const nodes = intFlag(p, 'nodes', 0, { min: 2, max: MAX_NODES });
  const durationS = floatFlag(p, 'duration-s', 600, { min: 1, max: 7 * 24 * 3600 });
  const crashes = intFlag(p, 'crashes', 10, { min: 0, max: 100_000 });
  return {
    nodes,
    loss: floatFlag(p, 'loss', 0, { min: 0, max: 0.9 }),
    preset,
    overrides,
    config,
    durationS,
    crashes,
    seed: intFlag(p, 'seed', 1, { min: 0, max: 2 ** 32 - 1 }),
    json: boolFlag(p, 'json'),
  };
}

function parseOverride(text: string): [keyof SwimConfig, number] {
  const m = /^([A-Za-z]+)=(.+)$/.exec(text);
  if (!m) throw new UsageError(`--set takes KNOB=VALUE, got '${text}'`);
  const [, knob, raw] = m;
  if (!(knob in SWIM_PRESETS.lan)) {
    throw new UsageError(`--set: unknown knob '${knob}'; knobs: ${Object.keys(SWIM_PRESETS.lan).join(', ')}`);
  }
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value))
    throw new UsageError(`--set ${knob} must be a number, got '${raw}'`);
  return [knob as keyof SwimConfig, value];
}

/** The command line that reproduces a run exactly. */
function replayCommand(o: SimMembershipOptions): string {
  return (
    `arpeggio sim membership --nodes ${o.nodes} --loss ${o.loss} --preset ${o.preset} ` +
    o.overrides.map(([k, v]) => `--set ${k}=${v} `).join('') +
    `--duration-s ${o.durationS} --crashes ${o.crashes} --seed ${o.seed}`
  );
}

const seconds = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);

function timing(ms: Summary, periods: Summary | null): string {
  if (ms.count === 0) return 'none';
  const inPeriods = (x: number | null) => (periods && x !== null ? ` (${x} T)` : '');
  return (
    `mean ${seconds(ms.mean)}${inPeriods(periods?.mean ?? null)}, ` +
    `p50 ${seconds(ms.p50)}, p99 ${seconds(ms.p99)}${inPeriods(periods?.p99 ?? null)}, max ${seconds(ms.max)}`
  );
}

function table(
  r: MembershipExperimentResult,
  o: SimMembershipOptions,
  elapsedMs: number,
  replay: string,
): string {
  const c = r.config;
  const preset = o.preset;
  const overrides = o.overrides.map(([k, v]) => `, ${k} = ${v}`).join('');
  const d = r.detection;
  const f = r.falsePositives;
  const rows: [string, string][] = [
    [
      'cluster',
      `${r.nodes} members, preset ${preset}${overrides}: period T = ${c.probeIntervalMs} ms, probe timeout ` +
        `${c.probeTimeoutMs} ms, k = ${c.indirectChecks}, suspicion ${seconds(r.suspicionTimeoutMinMs)} … ` +
        `${seconds(r.suspicionTimeoutMaxMs)}`,
    ],
    ['network', `loss ${(100 * r.packetLossProbability).toFixed(1)}%, ${r.virtualDurationS} s virtual`],
    ['crashes', `${d.crashes}, declared dead by every live member: ${d.detectedByAll}`],
    ['first suspect', timing(d.firstSuspectMs, null)],
    ['first dead', timing(d.firstDeadMs, d.firstDeadPeriods)],
    ['all dead', `${timing(d.allDeadMs, d.allDeadPeriods)}; bound ${seconds(r.detectionBoundMs)}`],
    [
      'false +',
      `${f.suspicions} suspicions (${f.suspicionsPerMemberHour} per member-hour, ${f.suspicionsPerProbe} per ` +
        `probe), ${f.deaths} deaths (${f.deathsPerMemberHour} per member-hour) in ${f.memberHours} ` +
        `member-hours, ${f.probes} probes`,
    ],
    [
      'load',
      `${r.load.messagesPerMemberPerSecond} messages per member per second ` +
        `(${r.load.pingReqsPerMemberPerSecond} ping-reqs); ${r.load.refutations} refutations`,
    ],
    ['trace digest', r.traceDigest],
    ['elapsed', `${(elapsedMs / 1000).toFixed(1)} s`],
    ['replay', replay],
  ];
  return formatRows(rows);
}

export const simMembershipCommand: Command = {
  name: 'membership',
  summary: 'SWIM failure detection: detection time, false positives under loss, load',
  usage,
  async run(argv: string[]): Promise<number> {
    const o = parse(argv);
    const replay = replayCommand(o);
    const progress = new Progress();
    const started = performance.now();
    let result: MembershipExperimentResult;
    try {
      result = runMembershipExperiment({
        nodes: o.nodes,
        config: o.config,
        latency: PRESET_NETWORKS[o.preset],
        packetLossProbability: o.loss,
        durationMs: o.durationS * 1000,
        crashes: o.crashes,
        seed: o.seed,
        onProgress: (fraction) =>
          progress.update(`sim membership: ${Math.floor(100 * fraction)}% of ${o.durationS} s virtual`),
      });
    } catch (err) {
      progress.done();
      process.stderr.write(
        `arpeggio sim membership: failed with seed ${o.seed}: ${(err as Error).message}\n`,
      );
      process.stderr.write(`replay: ${replay}\n`);
      return 1;
    }
    progress.done();
    const elapsedMs = Math.round(performance.now() - started);
    if (o.json) process.stdout.write(`${JSON.stringify({ preset: o.preset, ...result, elapsedMs })}\n`);
    else process.stdout.write(`${table(result, o, elapsedMs, replay)}\n`);
    return 0;
  },
};
