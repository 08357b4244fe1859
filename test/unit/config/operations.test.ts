import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { AZURE_2023, AZURE_V1, broker, configErrorOf } from './fixtures.js';

describe('operations settings (diagnostics, self-check, admin API)', () => {
  it('reads the later diagnostics shape and spec.edgemq.admin', () => {
    const c = parseConfigText(
      broker('b', '{diagnostics: {metrics: {prometheusPort: 9700}, selfCheck: {mode: Disabled, intervalSeconds: 60, timeoutSeconds: 5}}, edgemq: {admin: {port: 9701, tokenSecretRef: admin-token}}}', AZURE_V1),
      'b.yaml',
    );
    expect(c.broker.operations).toEqual({
      metricsPort: 9700,
      selfCheck: { enabled: false, intervalSeconds: 60, timeoutSeconds: 5 },
      adminPort: 9701,
      adminRequired: false,
      adminTokenSecretRef: 'admin-token',
    });
  });

  it('reads the 2023 flat diagnostics fields', () => {
    const c = parseConfigText(broker('b', '{diagnostics: {enableMetrics: false, enableSelfCheck: true, selfCheckFrequencySeconds: 45, selfCheckTimeoutSeconds: 20}}', AZURE_2023), 'b.yaml');
    expect(c.broker.operations).toMatchObject({ metricsPort: 0, selfCheck: { enabled: true, intervalSeconds: 45, timeoutSeconds: 20 } });
  });

  it('admin mode Disabled turns the port off; Enabled makes the API required', () => {
    expect(parseConfigText(broker('b', '{edgemq: {admin: {mode: Disabled}}}'), 'b.yaml').broker.operations).toMatchObject({ adminPort: 0, adminRequired: false });
    expect(parseConfigText(broker('b', '{edgemq: {admin: {mode: enabled}}}'), 'b.yaml').broker.operations).toMatchObject({ adminPort: 9601, adminRequired: true });
  });

  it('refuses a self-check interval outside Azure range, naming the field', () => {
    const e = configErrorOf(() => parseConfigText(broker('b', '{diagnostics: {selfCheck: {intervalSeconds: 5}}}'), 'b.yaml'));
    expect(e.message).toContain('spec.diagnostics.selfCheck.intervalSeconds: must be >= 30 (got 5)');
  });

  it('refuses a metrics port that is not a port', () => {
    const e = configErrorOf(() => parseConfigText(broker('b', '{diagnostics: {metrics: {prometheusPort: 70000}}}'), 'b.yaml'));
    expect(e.message).toContain('spec.diagnostics.metrics.prometheusPort: must be <= 65535');
  });
});

describe('admin API TLS settings', () => {
  it('reads spec.edgemq.admin.tls and requires its secretName', () => {
    const c = parseConfigText(broker('b', '{edgemq: {admin: {tls: {secretName: admin-tls, trustedClientCaCert: admin-ca}}}}'), 'b.yaml');
    expect(c.broker.operations.adminTls).toEqual({ secretName: 'admin-tls', trustedClientCaCert: 'admin-ca' });
    const e = configErrorOf(() => parseConfigText(broker('b', '{edgemq: {admin: {tls: {trustedClientCaCert: admin-ca}}}}'), 'b.yaml'));
    expect(e.message).toMatch(/spec\.edgemq\.admin\.tls\.secretName: is required/);
  });
});
