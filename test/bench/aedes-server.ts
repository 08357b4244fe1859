/**
 * Aedes broker for the benchmark, run as its own process by run.ts:
 *   node --import tsx test/bench/aedes-server.ts --port 1883
 * Default in-memory persistence and mqemitter (no persistence to disk), TCP
 * with Nagle disabled (like mosquitto's `set_tcp_nodelay true` in the harness).
 * Prints `LISTENING <port>` once bound.
 */
import net from 'node:net';
import { Aedes } from 'aedes';

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 1883;

const broker = await Aedes.createBroker();
const server = net.createServer({ noDelay: true }, broker.handle);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${port}\n`);
});
const stop = (): void => {
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
