/**
 * The Authenticator of one BrokerAuthentication: its methods in the configured order, the first
 * relevant one deciding. When none is relevant the client gets a CONNACK refusal straight away:
 * 0x88 Server unavailable if a webhook/token reviewer could not be reached, 0x8C Bad authentication
 * method if it asked for an enhanced method nobody serves, else 0x87 Not authorized.
 */
import type { Logger } from 'pino';
import type { AuthVerdict, Authenticator, ConnectFacts, Principal } from '../../frontend/ports.js';
import { RC } from '../../mqtt/reason-codes.js';
import { notRelevant, proofOf, recordProof, type AuthMethod, type MethodResult } from './method.js';

export class AnonymousMethod implements AuthMethod {
  readonly kind = 'anonymous';
  constructor(private readonly attributes: Record<string, string>) {}

  async authenticate(f: ConnectFacts): Promise<MethodResult> {
    // Only clients that present nothing: a wrong password must never fall back to anonymous.
    if (f.username !== undefined || f.password !== undefined || f.authenticationMethod || f.clientCertificates?.length) return notRelevant;
    return { ok: true, principal: recordProof({ clientId: f.clientId, attributes: { ...this.attributes } }, { kind: 'anonymous' }) };
  }
}

export class MethodChain implements Authenticator {
  /** Which method accepted a CONNECT, so its AUTH packets go back to it. Keyed by the channel's facts. */
  private readonly owners = new WeakMap<ConnectFacts, { method: AuthMethod; principal?: Principal }>();

  constructor(
    readonly name: string,
    readonly methods: AuthMethod[],
    private readonly log: Logger,
  ) {}

  async authenticate(f: ConnectFacts): Promise<AuthVerdict> {
    let unavailable: string | undefined;
    for (const m of this.methods) {
      let r: MethodResult;
      try {
        r = await m.authenticate(f);
      } catch (err) {
        this.log.error({ authentication: this.name, method: m.kind, err: (err as Error).message }, 'authentication method failed');
        return { ok: false, reasonCode: RC.UnspecifiedError, message: 'authentication failed' };
      }
      if (r.ok === 'not-relevant') {
        if (r.unavailable) {
          unavailable ??= r.unavailable;
          this.log.warn({ authentication: this.name, method: m.kind, clientId: f.clientId, reason: r.unavailable }, 'authentication method unavailable; trying the next');
        }
        continue;
      }
      this.owners.set(f, { method: m, ...(r.ok === true ? { principal: r.principal } : {}) });
      if (r.ok === false) this.log.info({ authentication: this.name, method: m.kind, clientId: f.clientId, rc: r.reasonCode, reason: r.message }, 'authentication refused');
      return r;
    }
    if (unavailable) return { ok: false, reasonCode: RC.ServerUnavailable, message: 'authentication service unavailable' };
    if (f.authenticationMethod) return { ok: false, reasonCode: RC.BadAuthenticationMethod, message: `authentication method ${f.authenticationMethod} is not served here` };
    return { ok: false, reasonCode: RC.NotAuthorized, message: 'no authentication method accepts these credentials' };
  }

  async continueAuth(f: ConnectFacts, reauthenticate: boolean): Promise<AuthVerdict> {
    const owner = this.owners.get(f);
    if (!owner?.method.continueAuth) return { ok: false, reasonCode: RC.BadAuthenticationMethod, message: 'this method cannot continue or re-authenticate' };
    let v: AuthVerdict;
    try {
      v = await owner.method.continueAuth(f, reauthenticate, owner.principal);
    } catch (err) {
      this.log.error({ authentication: this.name, method: owner.method.kind, err: (err as Error).message }, 'authentication method failed');
      return { ok: false, reasonCode: RC.UnspecifiedError, message: 'authentication failed' };
    }
    if (v.ok === true) owner.principal = v.principal;
    return v;
  }

  /** After a reload: may a principal admitted by an earlier configuration stay connected? */
  stillValid(p: Principal): boolean {
    const proof = proofOf(p);
    if (!proof) return false;
    const m = this.methods.find((x) => x.kind === proof.kind);
    return m !== undefined && (m.stillValid?.(proof) ?? true);
  }

  close(): void {
    for (const m of this.methods) (m as { close?: () => void }).close?.();
  }
}
