import net from 'node:net';
import { readFileSync } from 'node:fs';

/**
 * A port nothing listens on right now, found by binding port 0 and closing. Another process could
 * take it in between, so use it only for a bind that happens at once.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A free port for a process that binds it later and again after every restart (the supervisor pins
 * each child's ports so a restarted child comes back on the same address). Drawn below the kernel's
 * ephemeral range: ports from freePort() sit inside it, where any outgoing connection on the machine
 * may take one between our probe and the child's bind, and a pinned port lost that way stays lost.
 */
export async function pinnablePort(host = '127.0.0.1'): Promise<number> {
  const ceiling = ephemeralFloor();
  const floor = Math.min(10_000, ceiling - 1_000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = floor + Math.floor(Math.random() * (ceiling - floor));
    if (await canBind(port, host)) return port;
  }
  return freePort(host);
}

function ephemeralFloor(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 2_000) return low;
  } catch {
    // Not Linux: IANA's dynamic range starts at 49152.
  }
  return 32_768;
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}
