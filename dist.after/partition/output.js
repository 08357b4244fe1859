export const silentOutput = {
    deliver() { },
    release() { },
    kick() { },
};
//# sourceMappingURL=output.js.map