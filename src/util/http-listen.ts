/** Listening and closing for the operator-facing HTTP servers (metrics port, admin port). */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An operator port (metrics, admin) another process holds. A process of `edgemq cluster` exits
 * with OPS_PORT_IN_USE_EXIT for it, and its supervisor starts it again on fresh ports: a metrics
 * port must not keep a back end, and the partitions it serves, down.
 */
export class OpsPortInUseError extends Error {
  readonly code = 'EDGEMQ_OPS_PORT_IN_USE';
}

export const OPS_PORT_IN_USE_EXIT = 3;

/** Resolves to the bound port; a bind error names the resource field that chose the port. */
export function listenOn(server: http.Server, host: string, port: number, field: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const message = `${field}: cannot listen on ${host}:${port}: ${err.code ?? err.message}`;
      reject(err.code === 'EADDRINUSE' && port !== 0 ? new OpsPortInUseError(message) : new Error(message));
    });
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Closes the server and its keep-alive connections (a scraper or browser may hold one open). */
export function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
