import net from 'node:net';

/**
 * A port nothing listens on right now, found by binding port 0 and closing. Used where a port must
 * be known before the process that binds it starts (the supervisor pins each child's ports so a
 * restart comes back on the same address); another process could take it in between, rarely.
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
