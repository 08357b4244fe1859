/**
 * The web console in a real browser (Debian's chromium driven by playwright-core, no browser
 * download) against a running broker: a connecting client appears, a click disconnects it, and a
 * screenshot is kept as a test artifact (test/artifacts/, not committed). The console is built
 * here with Vite first, so the test also checks that the build works (CI runs no separate build).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, repoRoot, startBroker, waitForPort, type RunningBroker } from '../helpers/broker.js';
import { tempDir, writeSecret } from '../security/helpers.js';

const CHROMIUM = process.env.EDGEMQ_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(repoRoot, 'test', 'artifacts');
const TOKEN = 'console-test-token';

let broker: RunningBroker;
let browser: Browser;
let consoleUrl: string;
let port: number;
const clients: MqttClient[] = [];

beforeAll(async () => {
  await build({ configFile: path.join(repoRoot, 'src/admin/console/vite.config.ts'), logLevel: 'error' });
  expect(existsSync(path.join(repoRoot, 'dist/console/index.html'))).toBe(true);
  const secrets = tempDir('edgemq-console-');
  writeSecret(secrets, 'admin', { token: TOKEN });
  port = await freePort();
  const adminPort = await freePort();
  broker = await startBroker({
    port,
    config: `apiVersion: mq.edgemq.io/v1beta1
kind: Broker
metadata: {name: console-demo}
spec:
  edgemq: {durability: memory, sysIntervalSeconds: 0, admin: {tokenSecretRef: admin}}
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerListener
metadata: {name: plant-floor}
spec: {brokerRef: console-demo, port: ${port}}
`,
    args: ['--secrets-dir', secrets, '--admin-port', String(adminPort)],
  });
  await waitForPort(adminPort);
  consoleUrl = `http://127.0.0.1:${adminPort}/`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(clients.map((c) => c.endAsync().catch(() => {})));
  await broker?.stop();
});

describe('web console', () => {
  it('asks for the token, shows a connecting client, disconnects it by a click', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(consoleUrl);
    // Behind authentication: the console asks for the admin token first.
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByTestId('readiness').textContent(), { timeout: 15_000 }).toBe('ready');

    // Some traffic, so the cards and the throughput chart have something to show.
    const sensor = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'press-7-sensor', protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(sensor);
    const dashboard = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'line-dashboard', protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(dashboard);
    await dashboard.subscribeAsync('plant/#', { qos: 1 });
    for (let i = 0; i < 40; i++) await sensor.publishAsync(`plant/press-7/temp`, String(20 + (i % 5)), { qos: 1 });

    const row = page.locator('[data-testid="clients"] tr[data-client="press-7-sensor"]');
    await row.waitFor({ timeout: 15_000 });
    await expect.poll(() => page.locator('[data-testid="sessions"]').textContent()).toContain('plant/# (QoS 1)');
    await expect.poll(() => page.locator('[data-testid="resources"]').textContent()).toContain('BrokerListenerplant-floorRunning');

    mkdirSync(ARTIFACTS, { recursive: true });
    for (let i = 0; i < 3; i++) {
      await sensor.publishAsync(`plant/press-7/temp`, String(21 + i), { qos: 1 });
      await page.waitForTimeout(1000); // let the charts gather a few samples for the screenshot
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'console.png'), fullPage: true });

    const disconnected = new Promise<number | undefined>((resolve) => sensor.once('disconnect', (p) => resolve(p.reasonCode)));
    await row.getByRole('button', { name: 'Disconnect' }).click();
    expect(await disconnected).toBe(0x98);
    await row.waitFor({ state: 'detached', timeout: 15_000 });
    await expect.poll(() => page.locator('[data-testid="clients"]').textContent()).not.toContain('press-7-sensor');
    expect(await page.locator('[data-testid="clients"]').textContent()).toContain('line-dashboard');
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-after-disconnect.png'), fullPage: true });
    await page.close();
  });

  it('serves the console shell without a token, but no data', async () => {
    const res = await fetch(consoleUrl);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/<div id="app"><\/div>/);
    expect((await fetch(`${consoleUrl}api/v1/clients`)).status).toBe(401);
  });
});
