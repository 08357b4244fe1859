/**
 * Bearer-token authentication of the admin API. The token lives in a secret
 * (`<secrets dir>/<name>/token`, a Kubernetes Secret mounted there by the Helm chart) and is read on
 * each request, so rotating the secret needs no restart. Without a token the API is only served on
 * a loopback address: the same rule as the MQTT listeners.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, Response } from 'express';

export type TokenSource = () => string | undefined;

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares digests, so neither the length nor the content leaks through timing. */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * `token` undefined and no mutual TLS = open (loopback only; the caller enforced that). A configured
 * but unreadable token refuses everyone: failing open would hand the broker to anyone who can reach
 * the port. With mutual TLS a verified client certificate is enough; without one, the token decides.
 */
export function bearerAuth(token: TokenSource | undefined, mutualTls = false) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (mutualTls && (req.socket as TLSSocket).authorized === true) return next();
    if (token === undefined) {
      if (!mutualTls) return next();
      res.status(401).json({ error: 'a client certificate signed by the admin CA is required' });
      return;
    }
    const expected = token();
    if (expected === undefined || expected === '') {
      res.status(503).json({ error: 'admin API token secret cannot be read; every request is refused until it can' });
      return;
    }
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) {
      res.status(401).set('www-authenticate', 'Bearer realm="edgemq"').json({ error: 'missing bearer token (Authorization: Bearer <token>)' });
      return;
    }
    if (!tokenMatches(match[1]!.trim(), expected)) {
      res.status(401).set('www-authenticate', 'Bearer realm="edgemq", error="invalid_token"').json({ error: 'invalid bearer token' });
      return;
    }
    next();
  };
}
