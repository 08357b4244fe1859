/**
 * Counting wrappers around a port's authenticator and authorizer, for Azure IoT MQ's
 * `aio_broker_authentication_{successes,failures}` and `aio_broker_authorization_{allow,deny}`.
 * The counts are plain numbers that the metrics room reads at scrape time; a wrapper is built once
 * per port and configuration, so a decision costs one extra call and an increment.
 */
import type { AuthVerdict, Authenticator, Authorizer, ConnectFacts, Principal } from '../frontend/ports.js';

export interface SecurityCounters {
  authenticationSuccesses: number;
  authenticationFailures: number;
  authorizationAllow: number;
  authorizationDeny: number;
}

export function newSecurityCounters(): SecurityCounters {
  return { authenticationSuccesses: 0, authenticationFailures: 0, authorizationAllow: 0, authorizationDeny: 0 };
}

function countVerdict(c: SecurityCounters, v: AuthVerdict): AuthVerdict {
  if (v.ok === true) c.authenticationSuccesses++;
  else if (v.ok === false) c.authenticationFailures++;
  return v; // 'continue' is neither yet: the exchange goes on
}

export function countingAuthenticator(inner: Authenticator, c: SecurityCounters): Authenticator {
  return {
    authenticate: async (facts: ConnectFacts) => countVerdict(c, await inner.authenticate(facts)),
    continueAuth: async (facts: ConnectFacts, reauthenticate: boolean) => countVerdict(c, await inner.continueAuth(facts, reauthenticate)),
  };
}

function count(c: SecurityCounters, allowed: boolean): boolean {
  if (allowed) c.authorizationAllow++;
  else c.authorizationDeny++;
  return allowed;
}

export function countingAuthorizer(inner: Authorizer, c: SecurityCounters): Authorizer {
  const out: Authorizer = {
    canConnect: (p: Principal) => count(c, inner.canConnect(p)),
    canPublish: (p: Principal, topic: string) => count(c, inner.canPublish(p, topic)),
    canSubscribe: (p: Principal, filter: string) => count(c, inner.canSubscribe(p, filter)),
  };
  if (inner.canAccessStateStoreKey) {
    const keyCheck = inner.canAccessStateStoreKey.bind(inner);
    out.canAccessStateStoreKey = (p, key, access) => count(c, keyCheck(p, key, access));
  }
  return out;
}
