/**
 * What the protocol layer needs from security, declared here so the front end depends on
 * interfaces only. The security room implements them; until it is configured, loopback-only
 * anonymous access applies (see `openAccess`).
 */
export interface Principal {
  clientId: string;
  username?: string;
  attributes: Record<string, string>;
}

export interface ConnectFacts {
  clientId: string;
  username?: string;
  password?: Buffer;
  protocolVersion: 3 | 4 | 5;
  /** MQTT 5 enhanced authentication. */
  authenticationMethod?: string;
  authenticationData?: Buffer;
  listener: string;
  remoteAddress: string;
  /** Verified TLS client certificate chain (leaf first), when the listener does mutual TLS. */
  clientCertificates?: import('node:crypto').X509Certificate[];
}

export type AuthVerdict =
  | { ok: true; principal: Principal; /** ms epoch when the credentials expire */ expiresAt?: number }
  | { ok: false; reasonCode: number; message?: string }
  /** Enhanced authentication continues: send AUTH 0x18 with this data and wait for the client's AUTH. */
  | { ok: 'continue'; authenticationData?: Buffer };

export interface Authenticator {
  authenticate(facts: ConnectFacts): Promise<AuthVerdict>;
  /** Next step of an enhanced authentication exchange (AUTH packet from the client). */
  continueAuth(facts: ConnectFacts, reauthenticate: boolean): Promise<AuthVerdict>;
}

export interface Authorizer {
  /** CONNECT authorization (client id narrowing); a refusal is CONNACK 0x87 (3.1.1: 0x05). */
  canConnect(p: Principal): boolean;
  canPublish(p: Principal, topic: string): boolean;
  canSubscribe(p: Principal, filter: string): boolean;
  /** State-store key access (Azure IoT MQ `stateStoreResources`); absent = no state-store rules. */
  canAccessStateStoreKey?(p: Principal, key: Buffer, access: 'read' | 'write'): boolean;
}

/**
 * What the security room decides for one listening port: TLS, and which authenticator/authorizer
 * serve it. `authn()`/`authz()` are asked per accepted connection, so a configuration reload reaches
 * every new connection without touching the listeners.
 */
export interface PortSecurity {
  /** TLS server options (key, cert, ca, requestCert); undefined = plain TCP / WebSocket. */
  tls?: import('node:tls').TlsOptions;
  /** Receives each TLS server of the port, so certificate reloads can call `setSecureContext`. */
  attachServer?(server: import('node:tls').Server): void;
  authn(): Authenticator;
  authz(): Authorizer;
}

/** Shared by every principal without attributes (one fewer object per idle connection). */
export const NO_ATTRIBUTES: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** No authentication configured: every client is anonymous; enhanced authentication methods are unknown. */
export const openAccess: Authenticator & Authorizer = {
  async authenticate(f) {
    if (f.authenticationMethod) return { ok: false, reasonCode: 0x8c, message: 'no authentication method configured' };
    return { ok: true, principal: { clientId: f.clientId, username: f.username, attributes: NO_ATTRIBUTES } };
  },
  async continueAuth() {
    return { ok: false, reasonCode: 0x8c, message: 'no authentication method configured' };
  },
  canConnect: () => true,
  canPublish: () => true,
  canSubscribe: () => true,
};
