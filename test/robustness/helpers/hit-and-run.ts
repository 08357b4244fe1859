import net from 'node:net';

/** Opens a socket, writes `bytes` and closes it at once, without waiting for anything. */
export function hitAndRun(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.end(bytes);
      s.destroy();
    });
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}
