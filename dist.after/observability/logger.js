import { pino } from 'pino';
/** Structured JSON logs on stdout (pino): one line per event, cheap when the level is off. */
export function createLogger(level) {
    return pino({ level, base: { name: 'edgemq', pid: process.pid } });
}
//# sourceMappingURL=logger.js.map