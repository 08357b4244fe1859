/**
 * The admin API's routes under `/api/v1/` (documented in openapi.ts). Handlers only translate
 * between HTTP and the AdminContext; errors are JSON `{error}` with the status that says whose fault.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { ConfigError } from '../mqtt/errors.js';
import { AdminRequestError, type AdminContext } from './context.js';
import { resourcesWithStatus, runtimeStatusOf, type StatusFacts } from './resource-status.js';
import type { StatusDocument, StatusListener } from './status-document.js';
import { kindOf, nameOf } from '../config/resource-document.js';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain', 'application/json'];
const MAX_BODY = '1mb';

export function adminRouter(ctx: AdminContext): Router {
  const r = express.Router();
  const facts = (): StatusFacts => {
    const { config } = ctx.resources.current();
    const last = ctx.selfCheck?.last;
    return {
      config,
      open: ctx.frontEnd.open,
      pending: ctx.readiness.pending(),
      ...(last ? { selfCheck: { ok: last.ok, ...(last.error !== undefined ? { error: last.error } : {}) } } : {}),
    };
  };
  const listeners = (): StatusListener[] => {
    const { config } = ctx.resources.current();
    const out: StatusListener[] = [];
    for (const l of config.listeners) {
      for (const p of l.ports) {
        const open = ctx.frontEnd.open.find((o) => o.name === l.name && (p.port === 0 || o.port === p.port));
        out.push({ name: l.name, port: open?.port ?? p.port, protocol: p.protocol, tls: open?.tls ?? p.tls !== undefined, open: open !== undefined, ...(open ? { host: open.host } : {}) });
      }
    }
    return out;
  };

  r.get('/status', (_req, res) => {
    const f = facts();
    const { documents, config } = ctx.resources.current();
    const resources =
      documents.length > 0
        ? documents.map((d) => ({ kind: kindOf(d), name: nameOf(d) ?? '' }))
        : [{ kind: 'Broker', name: config.broker.name }, ...config.listeners.map((l) => ({ kind: 'BrokerListener', name: l.name }))];
    const doc: StatusDocument = {
      broker: ctx.brokerName,
      version: ctx.version,
      uptimeSeconds: Math.floor((Date.now() - ctx.startedAt) / 1000),
      ready: ctx.readiness.ready,
      pending: f.pending,
      stats: ctx.sessions.stats(),
      connections: ctx.frontEnd.clients().length,
      listeners: listeners(),
      ...(ctx.selfCheck?.last ? { selfCheck: ctx.selfCheck.last } : {}),
      resources: resources.map((x) => ({ ...x, ...runtimeStatusOf(x, f) })),
    };
    res.json(doc);
  });

  r.get('/metrics', async (_req, res) => {
    res.json(await ctx.metricsJson());
  });

  r.get('/clients', (_req, res) => {
    res.json(ctx.frontEnd.clients());
  });
  r.get('/clients/:clientId', (req, res) => {
    const c = ctx.frontEnd.clients().find((x) => x.clientId === req.params.clientId && x.connected);
    if (!c) return void res.status(404).json({ error: `client '${req.params.clientId}' is not connected` });
    res.json(c);
  });
  r.delete('/clients/:clientId', (req, res) => {
    if (!ctx.frontEnd.disconnectClient(req.params.clientId)) return void res.status(404).json({ error: `client '${req.params.clientId}' is not connected` });
    res.status(204).end();
  });

  r.get('/sessions', async (_req, res) => {
    res.json(await ctx.sessions.sessions());
  });
  r.get('/sessions/:clientId', async (req, res) => {
    const s = await ctx.sessions.session(req.params.clientId);
    if (!s) return void res.status(404).json({ error: `no session for client '${req.params.clientId}'` });
    res.json(s);
  });
  r.delete('/sessions/:clientId', async (req, res) => {
    if (!(await ctx.sessions.session(req.params.clientId))) return void res.status(404).json({ error: `no session for client '${req.params.clientId}'` });
    await ctx.sessions.deleteSession(req.params.clientId);
    res.status(204).end();
  });

  r.get('/retained', async (_req, res) => {
    res.json(await ctx.sessions.retained());
  });
  r.delete('/retained', async (req, res) => {
    const topic = req.query.topic;
    if (typeof topic !== 'string' || topic === '') return void res.status(400).json({ error: 'query parameter topic is required (the retained topic to clear)' });
    if (!(await ctx.sessions.retained()).some((m) => m.topic === topic)) return void res.status(404).json({ error: `no retained message on '${topic}'` });
    await ctx.sessions.clearRetained(topic);
    res.status(204).end();
  });

  r.get('/listeners', (_req, res) => {
    res.json(listeners());
  });

  r.get('/resources', (_req, res) => {
    res.json(resourcesWithStatus(ctx.resources.current().documents, facts()));
  });
  const yamlBody = express.text({ type: YAML_TYPES, limit: MAX_BODY });
  const bodyText = (req: Request): string => {
    if (typeof req.body !== 'string' || req.body.trim() === '') {
      throw new AdminRequestError(400, `request body must be YAML resources (content-type ${YAML_TYPES.slice(0, 2).join(' or ')})`);
    }
    return req.body;
  };
  r.post('/resources/validate', yamlBody, (req, res) => {
    res.json(ctx.resources.validate(bodyText(req)));
  });
  r.post('/resources', yamlBody, (req, res) => {
    res.json(ctx.resources.apply(bodyText(req)));
  });

  r.post('/selfcheck', async (_req, res) => {
    if (!ctx.selfCheck) return void res.status(404).json({ error: 'self-check is disabled (Broker spec.diagnostics.selfCheck.mode)' });
    res.json(await ctx.selfCheck.run());
  });

  r.use((req, res) => {
    res.status(404).json({ error: `no route ${req.method} ${req.baseUrl}${req.path}` });
  });
  r.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof AdminRequestError) return void res.status(err.status).json({ error: err.message, ...err.details });
    if (err instanceof ConfigError) return void res.status(400).json({ error: err.message, ...(err.resource ? { resource: err.resource } : {}), ...(err.field ? { field: err.field } : {}) });
    const e = err as { status?: number; type?: string; message?: string };
    if (e.type === 'entity.too.large') return void res.status(413).json({ error: `request body larger than ${MAX_BODY}` });
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return void res.status(e.status).json({ error: e.message ?? 'bad request' });
    res.status(500).json({ error: `internal error: ${(err as Error).message}` });
  });
  return r;
}
