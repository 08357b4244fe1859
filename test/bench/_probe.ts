// quick probe: cluster-server on a port, 1 pub -> 1 sub QoS 1 at RATE msg/s, prints deliveries/s and latency per second
import mqtt from 'mqtt';
const port = Number(process.argv[2]); const rate = Number(process.argv[3] ?? 5000); const secs = Number(process.argv[4] ?? 4);
const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'probe-sub', protocolVersion: 4 });
const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'probe-pub', protocolVersion: 4 });
await sub.subscribeAsync('probe/t', { qos: 1 });
let got = 0; const lats: number[] = [];
sub.on('message', (_t, p) => { got++; lats.push(performance.now() - p.readDoubleLE(0)); });
let sent = 0; let acked = 0;
const t0 = performance.now();
const iv = setInterval(() => {
  const due = Math.floor(((performance.now() - t0) / 1000) * rate);
  while (sent < due) { const b = Buffer.alloc(64); b.writeDoubleLE(performance.now(), 0); sent++; pub.publish('probe/t', b, { qos: 1 }, () => acked++); }
}, 1);
const rep = setInterval(() => { lats.sort((a, b) => a - b); console.log(`sent ${sent} acked ${acked} got ${got} p50 ${lats[lats.length >> 1]?.toFixed(2)} p99 ${lats[Math.floor(lats.length * 0.99)]?.toFixed(2)}`); lats.length = 0; }, 1000);
setTimeout(() => { clearInterval(iv); clearInterval(rep); void sub.endAsync(); void pub.endAsync(); }, secs * 1000);
