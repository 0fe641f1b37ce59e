/**
 * One node process per data directory. LMDB itself lets several processes open one environment
 * (it is a multi-process database), so two `arpeggio start --data same/` would both run, as two
 * nodes or as one node twice, each with its own memory of what it acknowledged: a split brain
 * inside one replica. The lock file forbids it.
 *
 * The lock is a file `LOCK` in the data directory naming its holder: pid, host name and, on Linux,
 * the process start time from /proc (a pid alone can be reused after the holder died). It is
 * created atomically with its content (written to a private file, then hard-linked into place,
 * which fails if `LOCK` exists), so a reader never sees a half-written lock.
 *
 * A holder that died without releasing (SIGKILL, power cut) leaves a stale file. The next start
 * sees that the process is gone and takes the lock over: it renames the stale file aside (only one
 * contender's rename can move a given file), checks that it moved the stale lock and not a fresh
 * one taken meanwhile, and retries the create. A lock held from another host (a shared network
 * file system) cannot be checked, so it is never taken over: the operator removes it.
 */
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { messageOf, RuntimeError } from './errors.js';

export const LOCK_FILE = 'LOCK';

export interface LockHolder {
  pid: number;
  host: string;
  /** Process start time in clock ticks since boot (/proc/PID/stat field 22); absent off Linux. */
  startTicks?: string;
  /** When the lock was taken (ISO 8601), for the operator. */
  takenAt: string;
}

/** Data directories locked by this process (two hosts in one process must not share one either). */
const heldHere = new Set<string>();

const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ENOSPC', 'EDQUOT']);

export class DataDirLock {
  /** The stale holder this lock replaced, if any: a sign that the previous run did not stop cleanly. */
  readonly replacedStale: LockHolder | undefined;
  private released = false;

  private constructor(
    readonly dir: string,
    readonly path: string,
    private readonly content: string,
    replacedStale: LockHolder | undefined,
  ) {
    this.replacedStale = replacedStale;
  }

  /**
   * Creates `dir` if needed and locks it. Throws `DATA_DIR_NOT_WRITABLE` when the directory cannot
   * be created or written, `DATA_DIR_LOCKED` when a live process (or another host) holds it.
   */
  static acquire(dir: string): DataDirLock {
    let real: string;
    try {
      makeDirectory(resolve(dir));
      real = realpathSync(dir);
    } catch (e) {
      throw notWritable(dir, e);
    }
    if (heldHere.has(real)) {
      throw new RuntimeError('DATA_DIR_LOCKED', `${dir} is already open in this process`);
    }
    const path = join(real, LOCK_FILE);
    const mine: LockHolder = {
      pid: process.pid,
      host: hostname(),
      takenAt: new Date().toISOString(),
      ...optional('startTicks', startTicksOf(process.pid)),
    };
    const content = `${JSON.stringify(mine)}\n`;
    let replaced: LockHolder | undefined;
    // A few rounds: each round either takes the lock, fails for good, or clears one stale file.
    for (let round = 0; round < 4; round++) {
      if (tryCreate(path, content)) {
        heldHere.add(real);
        return new DataDirLock(real, path, content, replaced);
      }
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw notWritable(dir, e);
      }
      const holder = parseHolder(text);
      if (holder === undefined) {
        throw new RuntimeError(
          'DATA_DIR_LOCKED',
          `${path} exists but does not name a holder; if no node runs on ${dir}, delete it`,
        );
      }
      if (holder.host !== hostname()) {
        throw new RuntimeError(
          'DATA_DIR_LOCKED',
          `${dir} is locked by pid ${holder.pid} on host ${holder.host} (since ${holder.takenAt}); ` +
            `this host cannot tell whether it still runs; if it does not, delete ${path}`,
        );
      }
      if (isAlive(holder)) {
        throw new RuntimeError(
          'DATA_DIR_LOCKED',
          `${dir} is in use by pid ${holder.pid} (since ${holder.takenAt}); stop that node first, ` +
            'or give this one another --data directory',
        );
      }
      if (!removeStale(path, text)) {
        throw new RuntimeError('DATA_DIR_LOCKED', `another process is taking the lock of ${dir} right now`);
      }
      replaced = holder;
    }
    throw new RuntimeError('DATA_DIR_LOCKED', `could not take the lock of ${dir}: it keeps changing hands`);
  }

  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    heldHere.delete(this.dir);
    try {
      if (readFileSync(this.path, 'utf8') === this.content) unlinkSync(this.path);
    } catch {
      // Gone already, or unreadable: nothing of ours to remove.
    }
  }
}

/**
 * `mkdir -p`, one level at a time. (Node 20's `mkdirSync(…, { recursive: true })` never returns
 * for a path under /proc, where mkdir fails with ENOENT although the parent exists.)
 */
function makeDirectory(dir: string, depth = 0): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir || depth > 64) throw e;
    makeDirectory(parent, depth + 1);
    mkdirSync(dir);
  }
}

/** Creates the lock file with its full content in one atomic step; false if it exists. */
function tryCreate(path: string, content: string): boolean {
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const fd = openSync(temp, 'wx', 0o644);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  } catch (e) {
    throw notWritable(path, e);
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // never created
    }
  }
}

/**
 * Moves the stale lock (whose content was `staleText`) out of the way. Returns false if what it
 * moved was someone else's fresh lock, which it then puts back.
 */
function removeStale(path: string, staleText: string): boolean {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true; // removed by someone else
    throw notWritable(path, e);
  }
  const moved = readFileSync(aside, 'utf8');
  if (moved === staleText) {
    unlinkSync(aside);
    return true;
  }
  // A contender took the lock between our read and our rename: give it back.
  try {
    linkSync(aside, path);
  } finally {
    unlinkSync(aside);
  }
  return false;
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid !== 'number' || typeof h.host !== 'string') return undefined;
    return { pid: h.pid, host: h.host, takenAt: String(h.takenAt), ...optional('startTicks', h.startTicks) };
  } catch {
    return undefined;
  }
}

/** Whether the holder process still runs: its pid exists and, where known, started when it did. */
function isAlive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (holder.startTicks === undefined) return holder.pid !== process.pid;
  const now = startTicksOf(holder.pid);
  // A live pid that started at another time is a reused pid, not the holder.
  return now === undefined || now === holder.startTicks;
}

/** Linux: the process's start time (field 22 of /proc/PID/stat); undefined elsewhere. */
function startTicksOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function notWritable(what: string, e: unknown): RuntimeError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const hint = NOT_WRITABLE.has(code) ? ' (check the permissions and free space of the directory)' : '';
  return new RuntimeError('DATA_DIR_NOT_WRITABLE', `cannot write ${what}: ${messageOf(e)}${hint}`, {
    cause: e,
  });
}
