/**
 * The admin HTTP server (default port 9601): the REST API under `/api/v1/` behind bearer-token
 * authentication, its OpenAPI document at `/api/openapi.json`, and the web console at `/` (static
 * files built by Vite into `dist/console/`, shipped in the package).
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { closeServer, listenOn } from '../util/http-listen.js';
import { bearerAuth, type TokenSource } from './auth.js';
import type { AdminContext } from './context.js';
import { openApiDocument } from './openapi.js';
import { adminRouter } from './routes.js';

/** `dist/console/`: the same path from `src/admin/` (tests, tsx) and from `dist/admin/` (the package). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url));

export function adminApp(ctx: AdminContext, token: TokenSource | undefined, consoleDir = CONSOLE_DIR, mutualTls = false): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/api/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  app.use('/api/v1', bearerAuth(token, mutualTls), adminRouter(ctx));
  app.use('/api', (req, res) => {
    res.status(404).json({ error: `no route ${req.method} ${req.originalUrl}` });
  });
  if (existsSync(consoleDir)) {
    app.use(express.static(consoleDir, { index: 'index.html', maxAge: 0 }));
  } else {
    app.get('/', (_req, res) => {
      res.status(503).type('text/plain').send('the web console is not built: run `npm run build` (it writes dist/console/)\n');
    });
  }
  return app;
}

export class AdminServer {
  private server: http.Server | undefined;
  port = 0;

  constructor(
    private readonly app: Express,
    private readonly host: string,
    private readonly requestedPort: number,
    private readonly log: Logger,
    /** HTTPS (and with `ca`, client certificates checked against it: mutual TLS). */
    private readonly tls?: { cert: Buffer; key: Buffer; ca?: Buffer },
  ) {}

  async start(): Promise<void> {
    const t = this.tls;
    // Client certificates are asked for, not required at the handshake: a request without one gets a
    // JSON 401 (or may still use the token) instead of a bare TLS alert.
    const server = t
      ? https.createServer({ cert: t.cert, key: t.key, ...(t.ca ? { ca: t.ca, requestCert: true, rejectUnauthorized: false } : {}) }, this.app)
      : http.createServer(this.app);
    this.port = await listenOn(server, this.host, this.requestedPort, 'Broker spec.edgemq.admin.port');
    this.server = server;
    this.log.info({ host: this.host, port: this.port, tls: t !== undefined, mutualTls: t?.ca !== undefined }, 'admin API and console listening');
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await closeServer(s);
  }
}
