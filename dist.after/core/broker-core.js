export {};
//# sourceMappingURL=broker-core.js.map