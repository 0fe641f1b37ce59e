/**
 * Ports for processes started later. `listen(0)` hands out a port from the kernel's ephemeral
 * range, and so does every outgoing connection: a port found free, released and given to a node
 * that starts a second later can meanwhile become the local end of some client's connection, and
 * the node then fails with EADDRINUSE (seen in CI with two test files running side by side). A port
 * below the ephemeral range is never picked for an outgoing connection, so once probed free it
 * stays free unless someone binds it on purpose.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** The kernel's ephemeral range (Linux), or the IANA one elsewhere. */
export function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low > 0 && high >= low) return { low, high };
  } catch {
    // not Linux: fall through
  }
  return { low: 49152, high: 65535 };
}

/** True when `port` can be bound on `host` now. */
export function canBind(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * A port nothing listens on now, chosen at random below the ephemeral range (from 10000 up) so
 * that no outgoing connection takes it before the process it is meant for binds it. `pick`
 * supplies the random choice (tests pass a seeded one); falls back to an OS-chosen port when the
 * range is crowded.
 */
export async function reservablePort(
  pick: (n: number) => number = (n) => Math.floor(Math.random() * n),
): Promise<number> {
  const low = 10_000;
  const high = Math.min(ephemeralRange().low, 65_536);
  for (let attempt = 0; high > low && attempt < 50; attempt++) {
    const port = low + pick(high - low);
    if (await canBind(port)) return port;
  }
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
