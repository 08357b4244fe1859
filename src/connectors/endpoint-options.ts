/**
 * mqtt.js connection options for one side of a bridge: transport (TCP, TLS, WebSocket), trusted CAs
 * from a ConfigMap, and credentials from secrets, all read through the `<secrets dir>/<name>/<key>`
 * layout. Read again before every connection attempt, so rotated certificates, passwords and
 * service account tokens are picked up without a restart.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { BridgeEndpoint } from '../config/bridge-model.js';
import { SAT_METHOD } from '../security/authn/sat.js';
import type { SecretStore } from '../security/secrets.js';
import { ConfigError } from '../mqtt/errors.js';

export interface ConnectTarget {
  url: string;
  options: IClientOptions;
}

export function endpointOptions(endpoint: BridgeEndpoint, secrets: SecretStore, base: IClientOptions): ConnectTarget {
  const tls = endpoint.tls !== undefined;
  const scheme = endpoint.transport === 'webSocket' ? (tls ? 'wss' : 'ws') : tls ? 'mqtts' : 'mqtt';
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  const url = `${scheme}://${host}:${endpoint.port}${endpoint.transport === 'webSocket' ? endpoint.webSocketPath : ''}`;
  const options: IClientOptions = { ...base };
  if (endpoint.tls !== undefined) {
    options.rejectUnauthorized = true;
    if (endpoint.tls.caConfigMap !== undefined) {
      options.ca = secrets.readAll(endpoint.tls.caConfigMap, `${endpoint.field}.tls.trustedCaCertificateConfigMap`).map((e) => e.value);
    }
    if (endpoint.tls.serverName !== undefined) options.servername = endpoint.tls.serverName;
  }
  const auth = endpoint.auth;
  switch (auth.method) {
    case 'x509': {
      const who = `${endpoint.field}.authentication.x509.secretName`;
      options.cert = secrets.read(auth.secretName, 'tls.crt', who);
      options.key = secrets.read(auth.secretName, 'tls.key', who);
      break;
    }
    case 'usernamePassword': {
      const who = `${endpoint.field}.authentication.usernamePassword.secretName`;
      options.username = secrets.read(auth.secretName, 'username', who).toString('utf8').trim();
      options.password = secrets.read(auth.secretName, 'password', who);
      break;
    }
    case 'serviceAccountToken': {
      let token: string;
      try {
        token = readFileSync(auth.tokenPath, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(`${endpoint.field}.authentication.kubernetes: cannot read the token ${auth.tokenPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      options.properties = { ...options.properties, authenticationMethod: SAT_METHOD, authenticationData: Buffer.from(token) };
      break;
    }
    case 'none':
      break;
  }
  return { url, options };
}
