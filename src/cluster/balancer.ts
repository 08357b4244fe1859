/**
 * One client address for a cluster on one machine: a TCP (layer 4) balancer that hands each new
 * connection to the next front end in turn, skipping one that refuses. On Kubernetes the Service
 * does this; `edgemq cluster --balance-port M` runs this one in the supervisor. It only copies
 * bytes (with backpressure, through pipe), so MQTT, TLS and WebSockets pass through unchanged.
 */
import net from 'node:net';
import type { Logger } from 'pino';

export interface BalancerTarget {
  host: string;
  port: number;
}

export class Balancer {
  private next = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly targets: () => BalancerTarget[],
    private readonly log?: Logger,
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as net.AddressInfo).port));
    });
  }

  private accept(client: net.Socket): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    const list = this.targets();
    const attempt = (tries: number) => {
      if (tries >= list.length) {
        this.log?.warn('balancer: no front end accepts connections');
        client.destroy();
        return;
      }
      const t = list[this.next++ % list.length]!;
      const upstream = net.connect(t.port, t.host);
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        this.sockets.add(upstream);
        upstream.once('close', () => {
          this.sockets.delete(upstream);
          client.destroy();
        });
        upstream.on('error', () => upstream.destroy());
        client.once('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.once('error', () => {
        upstream.destroy();
        if (!client.destroyed) attempt(tries + 1);
      });
    };
    attempt(0);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
