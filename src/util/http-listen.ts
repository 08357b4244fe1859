/** Listening and closing for the operator-facing HTTP servers (metrics port, admin port). */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Resolves to the bound port; a bind error names the resource field that chose the port. */
export function listenOn(server: http.Server, host: string, port: number, field: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`${field}: cannot listen on ${host}:${port}: ${err.code ?? err.message}`)));
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Closes the server and its keep-alive connections (a scraper or browser may hold one open). */
export function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
