/**
 * The vocabulary shared by the front end and the back end: messages, subscriptions, deliveries.
 * Plain data only (Buffers, numbers, strings), so every value can cross a process boundary or be
 * written to a command log unchanged.
 */
export {};
//# sourceMappingURL=types.js.map