/**
 * One authentication method of a BrokerAuthentication. Methods are tried in the configured order;
 * each first says whether it is *relevant* for the client's credentials, and the first relevant
 * method's verdict is final (Azure IoT MQ's rule). A webhook that cannot be reached is not relevant.
 */
import type { AuthVerdict, ConnectFacts, Principal } from '../../frontend/ports.js';

export type MethodKind = 'password' | 'x509' | 'sat' | 'custom' | 'anonymous';

/** The method is not for these credentials (or, `unavailable`, could not be asked): try the next. */
export interface NotRelevant {
  ok: 'not-relevant';
  unavailable?: string;
}

export type MethodResult = AuthVerdict | NotRelevant;

export interface AuthMethod {
  readonly kind: MethodKind;
  authenticate(facts: ConnectFacts): Promise<MethodResult>;
  /** AUTH packet of an exchange this method accepted (continuation or re-authentication). */
  continueAuth?(facts: ConnectFacts, reauthenticate: boolean, previous: Principal | undefined): Promise<AuthVerdict>;
  /**
   * After a configuration reload: may a principal this kind of method admitted earlier stay
   * connected? `proof` is what the earlier method recorded (see `recordProof`).
   */
  stillValid?(proof: Proof): boolean;
}

/** What a method remembers about an admitted principal, for re-checks after a reload. */
export interface Proof {
  kind: MethodKind;
  /** Password method: the username and the hash it was checked against. */
  username?: string;
  hash?: string;
}

const proofs = new WeakMap<Principal, Proof>();

export function recordProof(p: Principal, proof: Proof): Principal {
  proofs.set(p, proof);
  return p;
}

export function proofOf(p: Principal): Proof | undefined {
  return proofs.get(p);
}

export const notRelevant: NotRelevant = { ok: 'not-relevant' };
