export {};
//# sourceMappingURL=roles.js.map