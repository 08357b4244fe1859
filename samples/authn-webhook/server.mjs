// A minimal custom authentication webhook for edgemq (and Azure IoT MQ): protocol 0.5.0.
//
//   node server.mjs            (needs `npm install express`; TLS files below, see README.md)
//
// The broker POSTs `/?api-version=0.5.0` with one of
//   {"type":"connect","username":"u","password":"<base64>","certs":"<PEM>","enhancedAuthentication":{"method":"m","data":"<base64>"}}
//   {"type":"auth","enhancedAuthentication":{"method":"m","data":"<base64>"}}          (MQTT 5 AUTH / re-authentication)
// and expects
//   200 {"expiry":"<RFC 3339>"?, "attributes":{...}?}   admitted; attributes feed BrokerAuthorization rules;
//                                                        at expiry the client must re-authenticate or is disconnected
//   403 {"reason":<CONNACK code>, "message":"..."}       refused with that reason code (134 = bad username or password)
//   422 {"supportedVersions":["0.5.0"]}                   the broker retries with a version listed here
// If the server cannot be reached or times out, the broker treats the method as "not relevant" and tries the next one.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { timingSafeEqual } from 'node:crypto';
import express from 'express';

// Replace with your user store. Never keep plain passwords in production: see `edgemq passwd` for PBKDF2 hashes.
const USERS = {
  'sensor-1': { password: 'change-me', attributes: { building: '17', role: 'sensor' }, lifetimeSeconds: 3600 },
  'dashboard': { password: 'change-me-too', attributes: { role: 'viewer' } },
};

const app = express();
app.use((req, res, next) => {
  if (req.path !== '/') return res.status(404).send('not found');
  if (req.method !== 'POST') return res.status(405).send('only POST');
  const version = req.query['api-version'];
  if (version === undefined) return res.status(400).send('missing api-version');
  if (version !== '0.5.0') return res.status(422).json({ supportedVersions: ['0.5.0'] });
  next();
});
app.use(express.json({ type: 'application/json' }));

app.post('/', (req, res) => {
  const body = req.body ?? {};
  if (body.type === 'auth') {
    // Enhanced authentication (e.g. a token refresh) would be checked here.
    return res.status(403).json({ reason: 140, message: 'enhanced authentication not supported' });
  }
  if (body.type !== 'connect') return res.status(400).send('type must be connect or auth');
  const user = USERS[body.username];
  const given = Buffer.from(body.password ?? '', 'base64');
  const wanted = Buffer.from(user?.password ?? '');
  if (!user || given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
    return res.status(403).json({ reason: 134, message: 'bad username or password' });
  }
  const answer = { attributes: user.attributes };
  if (user.lifetimeSeconds) answer.expiry = new Date(Date.now() + user.lifetimeSeconds * 1000).toISOString();
  res.json(answer);
});

const port = Number(process.env.PORT ?? 8443);
https
  .createServer(
    {
      cert: readFileSync(process.env.TLS_CERT ?? 'tls.crt'),
      key: readFileSync(process.env.TLS_KEY ?? 'tls.key'),
      // Mutual TLS: only the broker (holding a certificate from this CA) may ask.
      ...(process.env.CLIENT_CA ? { ca: readFileSync(process.env.CLIENT_CA), requestCert: true, rejectUnauthorized: true } : {}),
    },
    app,
  )
  .listen(port, () => console.log(`authentication webhook listening on https://localhost:${port}`));
