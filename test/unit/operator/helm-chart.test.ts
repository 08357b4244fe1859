/**
 * Checks of helm/edgemq that need no `helm` binary (none is installable on this machine):
 * - Chart.yaml and values.yaml parse, and the defaults are secure;
 * - the resources the chart renders into its ConfigMap, rebuilt here the way the `edgemq.resources`
 *   template builds them (keep the two in step), load in edgemq and pass its security checks when
 *   bound to 0.0.0.0 as in the pod;
 * - every template has balanced actions and blocks;
 * - with EDGEMQ_HELMLITE set to a helmlite binary (helm/tools/helmlite: Helm's template engine, built
 *   from Debian's Go packages), the real templates render, and their ConfigMap equals the mirror.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import { connectorsFromDocuments } from '../../../src/config/load-connectors.js';
import { readYamlResources } from '../../../src/config/yaml-documents.js';
import { createLogger } from '../../../src/observability/logger.js';
import { Security } from '../../../src/security/security.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const chartDir = path.join(repoRoot, 'helm/edgemq');
type Obj = Record<string, any>;

const values = YAML.parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as Obj;
const clone = <T>(v: T): T => structuredClone(v);

/** Mirror of `edgemq.listenerServiceName` in templates/_helpers.tpl. */
function serviceName(fullname: string, spec: Obj): string {
  if (spec.serviceName) return spec.serviceName as string;
  const t = String(spec.serviceType ?? 'ClusterIp').toLowerCase();
  return t === 'loadbalancer' ? `${fullname}-loadbalancer` : t === 'nodeport' ? `${fullname}-nodeport` : fullname;
}

/** Mirror of `edgemq.addSan`. */
function addSan(tls: Obj, key: string, names: string[]): void {
  const cert = (tls[key] as Obj | undefined) ?? {};
  const san = (cert.san as Obj | undefined) ?? {};
  san.dns = [...new Set([...((san.dns as string[] | undefined) ?? []), ...names])];
  cert.san = san;
  tls[key] = cert;
}

/** Mirror of the `edgemq.resources` template: the documents of resources.yaml. */
function renderResources(v: Obj, fullname = 'edgemq', namespace = 'default'): Obj[] {
  const docs: Obj[] = [];
  const res = (kind: string, name: string, spec: unknown) => ({ apiVersion: 'mq.edgemq.io/v1beta1', kind, metadata: { name }, spec });
  // The chart sets the metrics port and the admin API (with its token secret) over broker.spec.
  const ops = v.operations as Obj;
  const admin = ops.admin.enabled ? { port: ops.admin.port, tokenSecretRef: ops.admin.existingSecret || `${fullname}-admin-token` } : { mode: 'Disabled' };
  const brokerSpec = mergeValues(clone(v.broker.spec ?? {}), { diagnostics: { metrics: { prometheusPort: ops.metrics.port } }, edgemq: { admin } });
  docs.push(res('Broker', v.broker.name, { ...brokerSpec, memoryProfile: v.broker.memoryProfile }));
  for (const name of Object.keys(v.listeners ?? {}).sort()) {
    const l = v.listeners[name] as Obj;
    if (!l.enabled) continue;
    const spec = clone((l.spec as Obj | undefined) ?? {});
    const svc = serviceName(fullname, spec);
    const dns = [svc, `${svc}.${namespace}`, `${svc}.${namespace}.svc`, `${svc}.${namespace}.svc.${v.clusterDomain}`];
    spec.brokerRef ??= v.broker.name;
    spec.serviceName = svc;
    if (spec.tls && 'automatic' in spec.tls) addSan(spec.tls, 'automatic', dns);
    for (const p of (spec.ports as Obj[] | undefined) ?? []) {
      if (p.tls && String(p.tls.mode ?? '').toLowerCase() === 'automatic') addSan(p.tls, 'certManagerCertificateSpec', dns);
    }
    docs.push(res('BrokerListener', name, spec));
  }
  for (const [key, kind] of [['authentications', 'BrokerAuthentication'], ['authorizations', 'BrokerAuthorization']] as const) {
    for (const name of Object.keys(v[key] ?? {}).sort()) if (v[key][name].enabled) docs.push(res(kind, name, clone(v[key][name].spec)));
  }
  docs.push(...clone((v.extraResources as Obj[] | undefined) ?? []));
  return docs;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'edgemq-helm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let seq = 0;

/** Writes the resources as the pod sees them (/etc/edgemq/resources/resources.yaml) and builds edgemq's security for --host 0.0.0.0. */
function startSecurity(v: Obj) {
  const dir = path.join(tmp, `case-${seq++}`);
  const resources = path.join(dir, 'resources');
  mkdirSync(resources, { recursive: true });
  writeFileSync(path.join(resources, 'resources.yaml'), renderResources(v).map((d) => YAML.stringify(d)).join('---\n'));
  const config = loadConfig([resources]);
  const security = new Security(config, {
    secretsDir: path.join(dir, 'secrets'),
    dataDir: path.join(dir, 'data'),
    host: '0.0.0.0',
    allowAnonymous: false,
    log: createLogger('silent'),
  });
  security.close();
  return config;
}

describe('helm/edgemq chart', () => {
  it('Chart.yaml is a Helm v2 application chart', () => {
    const chart = YAML.parse(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as Obj;
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'edgemq', type: 'application' });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof chart.appVersion).toBe('string');
  });

  it('defaults are secure: one exposed listener, TLS on 8883 with authentication; the plaintext one is off and pod-local', () => {
    const enabled = Object.entries(values.listeners as Obj).filter(([, l]) => l.enabled);
    expect(enabled.map(([n]) => n)).toEqual(['default']);
    const [port] = enabled[0]![1].spec.ports;
    expect(port).toMatchObject({ port: 8883, authenticationRef: 'default', tls: { mode: 'Automatic' } });
    expect(values.authentications.default.enabled).toBe(true);
    expect(values.listeners.loopback).toMatchObject({ enabled: false, expose: false });
    expect(values.listeners.loopback.spec.ports[0].tls).toBeUndefined();
    expect(values.networkPolicy.enabled).toBe(true);
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true });
    expect(values.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(values.host).toBe('0.0.0.0');
  });

  it('default resources load in edgemq and pass its security checks on 0.0.0.0', () => {
    const config = startSecurity(values);
    expect(config.warnings).toEqual([]);
    expect(config.broker.name).toBe('edgemq');
    expect(config.listeners.map((l) => [l.name, l.serviceName, l.ports.map((p) => p.port)])).toEqual([['default', 'edgemq', [8883]]]);
  });

  it('the Service DNS names go into the automatic certificate', () => {
    const listener = renderResources(values).find((d) => d.kind === 'BrokerListener')!;
    expect(listener.spec.ports[0].tls.certManagerCertificateSpec.san.dns).toEqual([
      'edgemq', 'edgemq.default', 'edgemq.default.svc', 'edgemq.default.svc.cluster.local',
    ]);
  });

  it('with the loopback listener enabled the resources still load (it opts into anonymous access explicitly)', () => {
    const v = clone(values);
    v.listeners.loopback.enabled = true;
    const config = startSecurity(v);
    expect(config.listeners.map((l) => l.name)).toEqual(['default', 'loopback']);
    // Without its allowAnonymous the broker refuses to serve it on 0.0.0.0: the secure default holds.
    delete v.listeners.loopback.spec.edgemq;
    expect(() => startSecurity(v)).toThrow(/without authentication/);
  });

  it('metrics on 9600 with prometheus.io annotations, HTTP probes, and the admin API behind a token', () => {
    expect(values.operations.metrics).toEqual({ port: 9600, annotations: true });
    expect(values.operations.admin).toMatchObject({ enabled: true, port: 9601, existingSecret: '', token: '' });
    expect(values.probes.type).toBe('httpGet');
    const config = startSecurity(values);
    expect(config.broker.operations).toEqual({
      metricsPort: 9600,
      selfCheck: { enabled: true, intervalSeconds: 30, timeoutSeconds: 15 },
      adminPort: 9601,
      adminRequired: false,
      adminTokenSecretRef: 'edgemq-admin-token',
    });
    const sts = readFileSync(path.join(chartDir, 'templates/statefulset.yaml'), 'utf8');
    expect(sts).toContain('prometheus.io/scrape: "true"');
    expect(sts).toMatch(/path: \/readyz\n\s+port: metrics/);
    expect(sts).toMatch(/path: \/healthz\n\s+port: metrics/);
    // Admin disabled: the Broker says so, and no token is needed.
    const v = clone(values);
    v.operations.admin.enabled = false;
    expect(startSecurity(v).broker.operations).toMatchObject({ adminPort: 0 });
  });

  it('memory profiles in the sizing table are the Broker schema\'s', () => {
    const helpers = readFileSync(path.join(chartDir, 'templates/_helpers.tpl'), 'utf8');
    for (const p of ['tiny', 'low', 'medium', 'high']) expect(helpers).toMatch(new RegExp(`"${p}" \\(dict "cpu"`));
  });

  it('every template has balanced {{ }} actions and blocks', () => {
    const files = readdirSync(path.join(chartDir, 'templates'));
    expect(files).toEqual(expect.arrayContaining(['_helpers.tpl', 'configmap.yaml', 'statefulset.yaml', 'services.yaml', 'NOTES.txt']));
    for (const f of files) {
      const text = readFileSync(path.join(chartDir, 'templates', f), 'utf8');
      expect(text.includes('\t'), `${f}: tab`).toBe(false);
      const actions = text.match(/\{\{[\s\S]*?\}\}/g) ?? [];
      expect(text.split('{{').length, `${f}: {{ vs }}`).toBe(text.split('}}').length);
      const opens = actions.filter((a) => /^\{\{-?\s*(if|range|with|define)\b/.test(a)).length;
      const ends = actions.filter((a) => /^\{\{-?\s*end\s*-?\}\}$/.test(a)).length;
      expect(ends, `${f}: if/range/with/define vs end`).toBe(opens);
    }
  });
});

/** Helm's values merge: maps merge deeply, everything else is replaced. */
function mergeValues(base: Obj, over: Obj): Obj {
  const out = clone(base);
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k]) ? mergeValues(out[k], v as Obj) : v;
  }
  return out;
}

const helmlite = process.env.EDGEMQ_HELMLITE;
describe.skipIf(!helmlite)('helm/edgemq rendered by helmlite (Helm 3 template engine)', () => {
  const fixture = path.join(import.meta.dirname, 'fixtures/all-options-values.yaml');
  const render = (release: string, namespace: string, ...files: string[]) => {
    const r = spawnSync(helmlite!, [chartDir, release, namespace, ...files], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const docs = YAML.parseAllDocuments(r.stdout);
    for (const d of docs) expect(d.errors, String(d.errors)).toEqual([]);
    return docs.map((d) => d.toJS() as Obj).filter((d) => d);
  };
  const resourcesOf = (docs: Obj[]) => YAML.parseAllDocuments(docs.find((d) => d.kind === 'ConfigMap')!.data['resources.yaml']).map((d) => d.toJS() as Obj);

  it('defaults: the expected objects, and the ConfigMap is what the mirror builds', () => {
    const docs = render('edgemq', 'default');
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'ClusterRoleBinding/default-edgemq-tokenreview', 'ConfigMap/edgemq-resources', 'NetworkPolicy/edgemq',
      'Secret/edgemq-admin-token', 'Service/edgemq', 'Service/edgemq-admin', 'Service/edgemq-headless', 'ServiceAccount/edgemq', 'StatefulSet/edgemq',
    ]);
    expect(resourcesOf(docs)).toEqual(renderResources(values));
    const sts = docs.find((d) => d.kind === 'StatefulSet')!;
    const c = sts.spec.template.spec.containers[0];
    expect([...c.command, ...c.args]).toEqual(['node', '--max-semi-space-size=8', 'dist/cli/main.js', 'serve', '--config', '/etc/edgemq/resources', '--data-dir', '/var/lib/edgemq', '--host', '0.0.0.0', '--secrets-dir', '/etc/edgemq/secrets']);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.ports.filter((p: Obj) => p.name === 'metrics' || p.name === 'admin').map((p: Obj) => p.containerPort)).toEqual([9600, 9601]);
    expect(sts.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9600', 'prometheus.io/path': '/metrics' });
    const secret = docs.find((d) => d.kind === 'Secret')!;
    expect(Buffer.from(secret.data.token, 'base64').toString()).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(c.volumeMounts).toEqual(expect.arrayContaining([{ name: 'admin-token', mountPath: '/etc/edgemq/secrets/edgemq-admin-token', readOnly: true }]));
    const np = docs.find((d) => d.kind === 'NetworkPolicy')!;
    expect(np.spec.ingress[0].ports.map((p: Obj) => p.port)).toEqual([8883, 9600, 9601]);
    expect(c.resources).toEqual({ requests: { cpu: '250m', memory: '1Gi' }, limits: { memory: '1Gi' } });
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it('every option at once: the ConfigMap is what the mirror builds and it loads in edgemq', () => {
    const docs = render('r1', 'ns1', fixture);
    const v = mergeValues(values, YAML.parse(readFileSync(fixture, 'utf8')) as Obj);
    expect(resourcesOf(docs)).toEqual(renderResources(v, 'r1-edgemq', 'ns1'));
    const dir = mkdtempSync(path.join(tmp, 'all-'));
    writeFileSync(path.join(dir, 'resources.yaml'), docs.find((d) => d.kind === 'ConfigMap')!.data['resources.yaml']);
    const config = loadConfig([dir]);
    expect(config.listeners.map((l) => l.name)).toEqual(['default', 'loopback', 'np', 'ws']);
    const services = docs.filter((d) => d.kind === 'Service').map((d) => [d.metadata.name, d.spec.type, (d.spec.ports ?? []).map((p: Obj) => p.port)]);
    expect(services).toEqual([
      ['r1-edgemq', 'ClusterIP', [8883]],
      ['r1-edgemq-loadbalancer', 'LoadBalancer', [8084]],
      ['r1-edgemq-nodeport', 'NodePort', [8885]],
      ['r1-edgemq-headless', undefined, []],
      ['r1-edgemq-admin', 'ClusterIP', [9600, 9601]],
    ]);
    const np = docs.find((d) => d.kind === 'NetworkPolicy')!;
    expect(np.spec.ingress[0].ports.map((p: Obj) => p.port)).toEqual([8883, 8885, 8084, 9600, 9601]);
  });

  it('connectors: a ConfigMap edgemq connector loads and a Deployment that the broker\'s selectors do not match', () => {
    const file = path.join(tmp, 'connectors.yaml');
    writeFileSync(
      file,
      YAML.stringify({
        connectors: {
          cloud: {
            enabled: true,
            spec: {
              clientIdPrefix: 'site1-',
              remoteBrokerConnection: { endpoint: 'mqtt.example.com:8883', tls: { trustedCaCertificateConfigMap: 'cloud-ca' }, authentication: { x509: { secretName: 'cert' } } },
              localBrokerConnection: { tls: { tlsEnabled: true, trustedCaCertificateConfigMap: 'edgemq-ca' }, authentication: { kubernetes: {} } },
            },
            routes: [{ name: 'telemetry', direction: 'local-to-remote', source: 'telemetry/#', target: 'site1/{topic}' }],
            secretMounts: [{ name: 'cloud-ca', kind: 'ConfigMap' }, { name: 'cert' }],
          },
          off: { enabled: false, routes: [] },
        },
      }),
    );
    const docs = render('r1', 'ns1', file);
    const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'r1-edgemq-connector-cloud')!;
    const { connectors } = connectorsFromDocuments(readYamlResources(cm.data['connector.yaml'], 'connector.yaml'));
    expect(connectors[0]).toMatchObject({ name: 'cloud', local: { host: 'r1-edgemq.ns1.svc', port: 8883, auth: { method: 'serviceAccountToken' } } });
    expect(connectors[0]!.routes.map((r) => r.name)).toEqual(['telemetry']);
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name)).toEqual(['r1-edgemq-connector-cloud']);
    const pod = deployments[0].spec.template;
    const c = pod.spec.containers[0];
    expect(c.args).toEqual(['connector', '--config', '/etc/edgemq/connector', '--secrets-dir', '/etc/edgemq/secrets', '--metrics-port', '9600', '--metrics-host', '0.0.0.0']);
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9600, protocol: 'TCP' }]);
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10 });
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5 });
    expect(pod.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9600', 'prometheus.io/path': '/metrics' });
    expect(pod.spec.volumes.find((v: Obj) => v.name === 'sat').projected.sources[0].serviceAccountToken).toEqual({ path: 'mq-sat', audience: 'edgemq', expirationSeconds: 86400 });
    const brokerSelector = docs.find((d) => d.kind === 'StatefulSet')!.spec.selector.matchLabels as Obj;
    expect(Object.entries(brokerSelector).every(([k, v]) => pod.metadata.labels[k] === v)).toBe(false);

    // Another port, and no scrape annotations when the chart's are off.
    const values = YAML.parse(readFileSync(file, 'utf8'));
    values.connectors.cloud.metricsPort = 9700;
    values.operations = { metrics: { annotations: false } };
    writeFileSync(file, YAML.stringify(values));
    const other = render('r1', 'ns1', file).find((d) => d.kind === 'Deployment')!.spec.template;
    expect(other.spec.containers[0].args.slice(-4)).toEqual(['--metrics-port', '9700', '--metrics-host', '0.0.0.0']);
    expect(other.spec.containers[0].ports[0].containerPort).toBe(9700);
    expect(Object.keys(other.metadata.annotations)).toEqual(['checksum/config']);
  });

  it('refuses an unknown memory profile and a chart without listeners', () => {
    const bad = path.join(tmp, 'bad.yaml');
    writeFileSync(bad, 'broker: {memoryProfile: huge}\n');
    expect(spawnSync(helmlite!, [chartDir, 'r', 'ns', bad], { encoding: 'utf8' }).stderr).toMatch(/memoryProfile: "huge" is not one of/);
    writeFileSync(bad, 'listeners: {default: {enabled: false}}\n');
    expect(spawnSync(helmlite!, [chartDir, 'r', 'ns', bad], { encoding: 'utf8' }).stderr).toMatch(/no enabled listener/);
  });
});
