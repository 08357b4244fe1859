/** Shared by every principal without attributes (one fewer object per idle connection). */
export const NO_ATTRIBUTES = Object.freeze({});
/** No authentication configured: every client is anonymous; enhanced authentication methods are unknown. */
export const openAccess = {
    async authenticate(f) {
        if (f.authenticationMethod)
            return { ok: false, reasonCode: 0x8c, message: 'no authentication method configured' };
        return { ok: true, principal: { clientId: f.clientId, username: f.username, attributes: NO_ATTRIBUTES } };
    },
    async continueAuth() {
        return { ok: false, reasonCode: 0x8c, message: 'no authentication method configured' };
    },
    canConnect: () => true,
    canPublish: () => true,
    canSubscribe: () => true,
};
//# sourceMappingURL=ports.js.map