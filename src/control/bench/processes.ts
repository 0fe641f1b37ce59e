/**
 * The benchmark's processes: free loopback ports, servers it starts (and stops by pid, even on an
 * error or Ctrl-C), their CPU time and peak memory from /proc, and installing missing peers.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { canBind } from '../ports.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a program to its end; resolves with its output, rejects on a non-zero exit. */
export function run(file: string, args: readonly string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error)
        reject(
          new Error(`${file} ${args.join(' ')}: ${error.message}\n${stderr}\n${`${stdout}`.slice(-500)}`),
        );
      else resolve(`${stdout}`);
    });
  });
}

export function which(program: string): Promise<string | null> {
  return run('sh', ['-c', `command -v ${program}`]).then(
    (out) => out.trim() || null,
    () => null,
  );
}

/**
 * A loopback port that is free now, and whose `port + alsoFree` offsets are too (Redis Cluster's
 * bus listens on port + 10000). Picked from 20000 … 29999 so every offset stays below 65536.
 */
export async function freePort(alsoFree: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    if (taken.has(port)) continue;
    if (!(await canBind(port))) continue;
    let ok = true;
    for (const off of alsoFree) if (!(await canBind(port + off))) ok = false;
    if (!ok) continue;
    taken.add(port);
    for (const off of alsoFree) taken.add(port + off);
    return port;
  }
  throw new Error('no free loopback port found in 20000-29999');
}
/** Ports handed out in this run, so two servers started before either listens do not collide. */
const taken = new Set<number>();

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Servers this benchmark started, by pid: all of them are stopped at the end. */
export class ProcessSet {
  private readonly children = new Map<number, { name: string; child: ChildProcess }>();

  /** Starts a server detached (its own process group: a terminal's Ctrl-C reaches only us), output to DIR/NAME.log. */
  start(name: string, file: string, args: readonly string[], logDir: string): number {
    const out = openSync(join(logDir, `${name}.log`), 'a');
    const child = spawn(file, args, { detached: true, stdio: ['ignore', out, out] });
    if (child.pid === undefined) throw new Error(`cannot start ${file}`);
    const pid = child.pid;
    this.children.set(pid, { name, child });
    child.once('exit', () => this.children.delete(pid));
    return pid;
  }

  get pids(): number[] {
    return [...this.children.keys()];
  }

  /** SIGTERM to each pid, then SIGKILL to what has not exited after `graceMs`. */
  async stop(pids: readonly number[] = this.pids, graceMs = 5000): Promise<void> {
    const alive = pids.filter((p) => this.children.has(p));
    for (const pid of alive) signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive.some((p) => this.children.has(p)) && Date.now() < deadline) await sleep(50);
    for (const pid of alive) if (this.children.has(pid)) signal(pid, 'SIGKILL');
    while (alive.some((p) => this.children.has(p)) && Date.now() < deadline + 2000) await sleep(50);
  }

  /** At once, for process exit handlers (no waiting possible). */
  killAllNow(): void {
    for (const pid of this.pids) signal(pid, 'SIGKILL');
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // it exited meanwhile
  }
}

/** CPU time and memory of one process, read from /proc. */
export interface ProcSample {
  pid: number;
  /** utime + stime, seconds. */
  cpuSeconds: number;
  /** VmHWM: the peak resident set, MiB. */
  peakRssMiB: number;
}

/** Clock ticks per second of /proc/PID/stat; 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100;

export function sampleProcess(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime, stime are 14, 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return { pid, cpuSeconds, peakRssMiB: hwm ? Number(hwm[1]) / 1024 : 0 };
  } catch {
    return null;
  }
}

/** CPU seconds the processes used between two samples, and each one's peak memory at the end. */
export function usageBetween(
  before: readonly (ProcSample | null)[],
  after: readonly (ProcSample | null)[],
): { cpuSeconds: number; peakRssMiB: number[] } {
  let cpuSeconds = 0;
  after.forEach((a, i) => {
    const b = before[i];
    if (a !== null && b !== null) cpuSeconds += a.cpuSeconds - b.cpuSeconds;
  });
  return { cpuSeconds, peakRssMiB: after.map((a) => a?.peakRssMiB ?? 0) };
}

/** Debian packages of the peers, and a program each one provides. */
export const PEER_PACKAGES: ReadonlyArray<{ pkg: string; program: string }> = [
  { pkg: 'redis-server', program: 'redis-server' },
  { pkg: 'redis-tools', program: 'redis-benchmark' },
  { pkg: 'etcd-server', program: 'etcd' },
  { pkg: 'etcd-client', program: 'etcdctl' },
];

/**
 * Installs the peers that are missing, with apt-get, when running as root; otherwise says what
 * to install. Returns one line per thing done or missing.
 */
export async function ensurePeers(log: (line: string) => void): Promise<string[]> {
  const missing: string[] = [];
  for (const { pkg, program } of PEER_PACKAGES) if ((await which(program)) === null) missing.push(pkg);
  if (missing.length === 0) return [];
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || (await which('apt-get')) === null) {
    return [
      `missing ${missing.join(', ')} (install them: apt-get install ${missing.join(' ')}); their rows are skipped`,
    ];
  }
  log(`installing ${missing.join(', ')} with apt-get (apt-get update first)`);
  await run('apt-get', ['update', '-qq']);
  await run('apt-get', ['install', '-y', '-qq', ...missing]);
  return [`installed ${missing.join(', ')} with apt-get`];
}
