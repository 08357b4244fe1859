/**
 * The admin API's OpenAPI 3.1 document, served at `/api/openapi.json`. Written out by hand next to
 * the routes (routes.ts); test/admin checks that every route here answers and every answered route
 * is here.
 */
import { EDGEMQ_VERSION } from '../observability/sys-topics.js';

const json = (schema: object, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => json(ref('Error'), description);
const clientIdParam = { name: 'clientId', in: 'path', required: true, schema: { type: 'string' }, description: 'MQTT client id (URL-encoded).' };
const authErrors = { '401': error('Missing or invalid bearer token.'), '503': error('The token secret cannot be read.') };
const yamlBody = {
  required: true,
  description: 'Resources as `edgemq serve --config` takes them: multi-document YAML (or JSON).',
  content: { 'application/yaml': { schema: { type: 'string' } }, 'text/plain': { schema: { type: 'string' } } },
};

export const OPENAPI_PATHS = {
  '/api/v1/status': {
    get: { operationId: 'getStatus', summary: 'Broker summary: readiness, counters, listeners, self-check, resource status.', responses: { '200': json(ref('Status')), ...authErrors } },
  },
  '/api/v1/metrics': {
    get: { operationId: 'getMetrics', summary: 'The Prometheus metrics as JSON (prom-client format), for dashboards and the console.', responses: { '200': json({ type: 'array' }), ...authErrors } },
  },
  '/api/v1/clients': {
    get: { operationId: 'listClients', summary: 'Live client connections.', responses: { '200': json({ type: 'array', items: ref('Client') }), ...authErrors } },
  },
  '/api/v1/clients/{clientId}': {
    get: { operationId: 'getClient', parameters: [clientIdParam], responses: { '200': json(ref('Client')), '404': error('No such connected client.'), ...authErrors } },
    delete: {
      operationId: 'disconnectClient',
      summary: 'Disconnect a client (MQTT 5: DISCONNECT 0x98 Administrative action). Its session stays, as after any disconnect.',
      parameters: [clientIdParam],
      responses: { '204': { description: 'Disconnected.' }, '404': error('No such connected client.'), ...authErrors },
    },
  },
  '/api/v1/sessions': {
    get: { operationId: 'listSessions', summary: 'Sessions with subscriptions, queue depth and inflight count.', responses: { '200': json({ type: 'array', items: ref('Session') }), ...authErrors } },
  },
  '/api/v1/sessions/{clientId}': {
    get: { operationId: 'getSession', parameters: [clientIdParam], responses: { '200': json(ref('Session')), '404': error('No such session.'), ...authErrors } },
    delete: {
      operationId: 'deleteSession',
      summary: 'Delete a session (subscriptions and queued messages); a live connection is closed.',
      parameters: [clientIdParam],
      responses: { '204': { description: 'Deleted.' }, '404': error('No such session.'), ...authErrors },
    },
  },
  '/api/v1/retained': {
    get: { operationId: 'listRetained', summary: 'Retained messages (topic, QoS, size).', responses: { '200': json({ type: 'array', items: ref('Retained') }), ...authErrors } },
    delete: {
      operationId: 'clearRetained',
      summary: 'Clear the retained message of one topic (an empty retained PUBLISH, as a client would send).',
      parameters: [{ name: 'topic', in: 'query', required: true, schema: { type: 'string' } }],
      responses: { '204': { description: 'Cleared.' }, '400': error('No topic given.'), '404': error('No retained message on that topic.'), ...authErrors },
    },
  },
  '/api/v1/listeners': {
    get: { operationId: 'listListeners', summary: 'Configured listener ports and whether they are open.', responses: { '200': json({ type: 'array', items: ref('Listener') }), ...authErrors } },
  },
  '/api/v1/resources': {
    get: { operationId: 'listResources', summary: 'The resources in force, each with status.runtimeStatus (Running, Degraded, Failed).', responses: { '200': json({ type: 'array', items: ref('Resource') }), ...authErrors } },
    post: {
      operationId: 'applyResources',
      summary: 'Validate and apply resources through the configuration reload path; kept across restarts.',
      requestBody: yamlBody,
      responses: {
        '200': json(ref('ApplyResult')),
        '400': error('Invalid YAML or resources (the message names the file position and field, as for --config).'),
        '422': error('Valid, but refused: it would make the broker insecure (e.g. a port without authentication on a non-loopback address) or names a secret that cannot be read.'),
        ...authErrors,
      },
    },
  },
  '/api/v1/resources/validate': {
    post: {
      operationId: 'validateResources',
      summary: 'Validate resources without applying them.',
      requestBody: yamlBody,
      responses: { '200': json(ref('ApplyResult')), '400': error('Invalid.'), '422': error('Would be refused by apply.'), ...authErrors },
    },
  },
  '/api/v1/selfcheck': {
    post: { operationId: 'runSelfCheck', summary: 'Run one self-check round now.', responses: { '200': json(ref('SelfCheck')), '404': error('Self-check is disabled.'), ...authErrors } },
  },
} as const;

export function openApiDocument(): object {
  return {
    openapi: '3.1.0',
    info: {
      title: 'edgemq admin API',
      version: EDGEMQ_VERSION,
      description: 'Remote management of an edgemq broker: clients, sessions, retained messages, listeners, resources and their status.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths: OPENAPI_PATHS,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The token of the secret named by Broker spec.edgemq.admin.tokenSecretRef.' } },
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
        Client: {
          type: 'object',
          properties: {
            clientId: { type: 'string' },
            connected: { type: 'boolean' },
            listener: { type: 'string' },
            remoteAddress: { type: 'string' },
            protocolVersion: { type: 'integer', enum: [3, 4, 5] },
            username: { type: 'string' },
            since: { type: 'integer', description: 'ms since the epoch' },
          },
        },
        Session: {
          type: 'object',
          properties: {
            clientId: { type: 'string' },
            online: { type: 'boolean' },
            protocolVersion: { type: 'integer' },
            sessionExpirySeconds: { type: 'integer' },
            expiresAt: { type: 'integer' },
            subscriptions: { type: 'array', items: { type: 'object', properties: { filter: { type: 'string' }, qos: { type: 'integer' } } } },
            queued: { type: 'integer' },
            inflight: { type: 'integer' },
            hasWill: { type: 'boolean' },
          },
        },
        Retained: { type: 'object', properties: { topic: { type: 'string' }, qos: { type: 'integer' }, bytes: { type: 'integer' }, expiresAt: { type: 'integer' } } },
        Listener: {
          type: 'object',
          required: ['name', 'port', 'protocol', 'tls', 'open'],
          properties: { name: { type: 'string' }, port: { type: 'integer' }, protocol: { type: 'string', enum: ['mqtt', 'websockets'] }, tls: { type: 'boolean' }, open: { type: 'boolean' }, host: { type: 'string' } },
        },
        Resource: {
          type: 'object',
          description: 'The resource as written, plus status.runtimeStatus.',
          properties: {
            apiVersion: { type: 'string' },
            kind: { type: 'string' },
            metadata: { type: 'object' },
            spec: { type: 'object' },
            status: {
              type: 'object',
              properties: {
                runtimeStatus: {
                  type: 'object',
                  properties: { status: { type: 'string', enum: ['Running', 'Degraded', 'Failed', 'Unknown'] }, description: { type: 'string' } },
                },
              },
            },
          },
        },
        ApplyResult: { type: 'object', properties: { applied: { type: 'boolean' }, warnings: { type: 'array', items: { type: 'string' } }, sessionsEnded: { type: 'integer' } } },
        SelfCheck: {
          type: 'object',
          properties: { ok: { type: 'boolean' }, lost: { type: 'boolean' }, error: { type: 'string' }, at: { type: 'integer' }, latencyMs: { type: 'object', additionalProperties: { type: 'number' } } },
        },
        Status: {
          type: 'object',
          properties: {
            broker: { type: 'string' },
            version: { type: 'string' },
            uptimeSeconds: { type: 'integer' },
            ready: { type: 'boolean' },
            pending: { type: 'array', items: { type: 'string' } },
            stats: {
              type: 'object',
              description: 'Broker counters (src/core/broker-stats.ts); on a cluster front end, summed over the partitions it reaches.',
              required: ['sessions', 'connected', 'subscriptions', 'retained', 'messagesReceived', 'messagesSent', 'messagesDropped', 'queued', 'inflight'],
              additionalProperties: { type: 'integer' },
            },
            connections: { type: 'integer' },
            listeners: { type: 'array', items: { $ref: '#/components/schemas/Listener' } },
            selfCheck: { $ref: '#/components/schemas/SelfCheck' },
            resources: {
              type: 'array',
              items: { type: 'object', properties: { kind: { type: 'string' }, name: { type: 'string' }, status: { type: 'string', enum: ['Running', 'Degraded', 'Failed', 'Unknown'] }, description: { type: 'string' } } },
            },
          },
        },
      },
    },
  };
}
