#!/usr/bin/env node
/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, or scripts/measure-cluster.sh --cpu-prof):
 * busy time, busy time per layer of Arpeggio (the first frame on the stack that belongs to a
 * layer: RESP front door, core, transport, storage, host), and the functions with the most self
 * time. Idle time is left out of every percentage.
 *
 * Usage: node scripts/cpu-profile-summary.mjs FILE.cpuprofile|DIR [--top N]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
if (args.length === 0 || args.includes('--help')) {
  console.log('usage: node scripts/cpu-profile-summary.mjs FILE.cpuprofile|DIR [--top N]');
  process.exit(args.length === 0 ? 2 : 0);
}
const top = args.includes('--top') ? Number(args[args.indexOf('--top') + 1]) : 25;
let file = args[0];
if (statSync(file).isDirectory()) {
  const found = readdirSync(file).filter((f) => f.endsWith('.cpuprofile'));
  if (found.length === 0) {
    console.error(`no .cpuprofile in ${file}`);
    process.exit(1);
  }
  file = join(file, found.sort().at(-1));
}
const profile = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

const LAYERS = [
  ['gc', (_url, fn) => fn === '(garbage collector)'],
  ['resp', (url) => url.includes('/frontends/resp/')],
  ['http', (url) => url.includes('/frontends/http/')],
  ['core', (url) => url.includes('/src/core/')],
  ['transport', (url) => url.includes('/adapters/transport/')],
  [
    'storage',
    (url) => url.includes('/adapters/storage/') || url.includes('/lmdb/') || url.includes('release-queue'),
  ],
  ['host', (url) => url.includes('/src/runtime/')],
];
const short = (url) => url.replace(/^.*\/(node_modules\/[^/]+|dist\/src)\//, '$1/');
const layers = new Map();
const functions = new Map();
let busy = 0;
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  if (node.callFrame.functionName === '(idle)') continue;
  busy += us;
  let layer = 'other';
  for (let at = id; at !== undefined; at = parentOf.get(at)) {
    const f = byId.get(at).callFrame;
    const hit = LAYERS.find(([, test]) => test(f.url, f.functionName));
    if (hit) {
      layer = hit[0];
      break;
    }
  }
  layers.set(layer, (layers.get(layer) ?? 0) + us);
  const f = node.callFrame;
  const name = `${f.functionName || '(anonymous)'} ${f.url ? `${short(f.url)}:${f.lineNumber + 1}` : ''}`;
  functions.set(name, (functions.get(name) ?? 0) + us);
}
const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
console.log(`${file}\nbusy ${(busy / 1e6).toFixed(2)} s (idle excluded)\n\nby layer:`);
for (const [layer, us] of sorted(layers)) console.log(`${pct(us)}  ${layer}`);
console.log(`\ntop ${top} functions by self time:`);
for (const [name, us] of sorted(functions).slice(0, top)) console.log(`${pct(us)}  ${name}`);
