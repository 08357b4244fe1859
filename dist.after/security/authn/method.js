const proofs = new WeakMap();
export function recordProof(p, proof) {
    proofs.set(p, proof);
    return p;
}
export function proofOf(p) {
    return proofs.get(p);
}
export const notRelevant = { ok: 'not-relevant' };
//# sourceMappingURL=method.js.map