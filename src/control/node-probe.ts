/**
 * How a manager looks at a node process from outside: is it running (its data directory's lock
 * names a live process), and what does it say about itself (`ARPEGGIO.STATUS` over its RESP port).
 *
 * Both work from any shell: nothing here needs to be the node's parent process.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseAddress } from '../adapters/transport/tcp.js';
import { LOCK_FILE } from '../runtime/lock.js';
import type { NodeHostStatus } from '../runtime/node-host.js';

/**
 * The pid of the process that runs the node on `dataDir`, or null when none does. The lock file
 * names its holder by pid and, on Linux, by the process start time: a pid the OS has reused for
 * another program is not the node. A node killed with SIGKILL leaves its lock behind; that lock
 * names a dead pid, so the node counts as stopped.
 */
export function runningPid(dataDir: string): number | null {
  let holder: { pid?: unknown; startTicks?: unknown };
  try {
    holder = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8'));
  } catch {
    return null; // no lock (never started, or stopped cleanly), or one being written right now
  }
  if (typeof holder.pid !== 'number') return null;
  const pid = holder.pid;
  if (!processExists(pid)) return null;
  if (typeof holder.startTicks !== 'string') return pid;
  const now = startTicksOf(pid);
  return now === undefined || now === holder.startTicks ? pid : null;
}

/** Whether `pid` exists and, if `startTicks` is given, is the same process (not a reused pid). */
export function isSameProcess(pid: number, startTicks: string | undefined): boolean {
  if (!processExists(pid)) return false;
  if (startTicks === undefined) return true;
  const now = startTicksOf(pid);
  return now === undefined || now === startTicks;
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` is a process that still runs: an exited child its parent has not reaped yet (a
 * zombie) holds its pid but runs no more, so it does not count.
 */
export function processRunning(pid: number): boolean {
  return processExists(pid) && startTicksOf(pid) !== 'exited';
}

/** Linux: the process's start time (field 22 of /proc/PID/stat); undefined elsewhere or when gone. */
export function startTicksOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // State Z, a zombie, has exited: it runs no more although its pid is not free yet.
    if (fields[0] === 'Z') return 'exited';
    return fields[19];
  } catch {
    return undefined;
  }
}

/** A node's status through its RESP port (`ARPEGGIO.STATUS`); rejects when it does not answer in time. */
export async function fetchStatus(respAddress: string, timeoutMs = 1000): Promise<NodeHostStatus> {
  const text = await respCommand(respAddress, ['ARPEGGIO.STATUS'], timeoutMs);
  return JSON.parse(text) as NodeHostStatus;
}

/**
 * Sends one command and reads one reply: a simple string, bulk string or integer comes back as
 * text, an error reply rejects with its text. Enough RESP for a manager; clients use a real library.
 */
export function respCommand(address: string, args: string[], timeoutMs: number): Promise<string> {
  const { host, port } = parseAddress(address);
  const request = Buffer.concat([
    Buffer.from(`*${args.length}\r\n`),
    ...args.map((a) => Buffer.from(`$${Buffer.byteLength(a)}\r\n${a}\r\n`)),
  ]);
  return new Promise<string>((resolve, reject) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    const finish = (error: Error | null, value?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value as string);
    };
    const timer = setTimeout(
      () => finish(new Error(`no reply from ${address} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => socket.write(request));
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error(`${address} closed the connection before replying`)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const reply = parseReply(received);
      if (reply === undefined) return;
      if (reply.error !== undefined) finish(new Error(reply.error));
      else finish(null, reply.text);
    });
  });
}

/** One complete reply at the start of `buf`, or undefined when more bytes are needed. */
function parseReply(buf: Buffer): { text?: string; error?: string } | undefined {
  const lineEnd = buf.indexOf('\r\n');
  if (lineEnd < 0) return undefined;
  const kind = String.fromCharCode(buf[0]);
  const line = buf.toString('utf8', 1, lineEnd);
  if (kind === '+' || kind === ':') return { text: line };
  if (kind === '-') return { error: line };
  if (kind === '$') {
    const length = Number(line);
    if (length < 0) return { text: '' };
    if (buf.length < lineEnd + 2 + length + 2) return undefined;
    return { text: buf.toString('utf8', lineEnd + 2, lineEnd + 2 + length) };
  }
  return { error: `unexpected reply type '${kind}'` };
}
