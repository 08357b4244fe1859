const TOKEN = /\{principal\.(clientId|username|attributes\.([^{}]+))\}/g;
export function parseTemplate(s) {
    const parts = [];
    let at = 0;
    for (const m of s.matchAll(TOKEN)) {
        if (m.index > at)
            parts.push({ text: s.slice(at, m.index) });
        parts.push(m[1] === 'clientId' ? { token: 'clientId' } : m[1] === 'username' ? { token: 'username' } : { token: 'attribute', name: m[2] });
        at = m.index + m[0].length;
    }
    if (at < s.length)
        parts.push({ text: s.slice(at) });
    const rest = parts.filter((p) => 'text' in p).map((p) => p.text).join('');
    if (/\{principal\./.test(rest))
        throw new Error(`unknown token in "${s}" (use {principal.clientId}, {principal.username} or {principal.attributes.NAME})`);
    return parts;
}
/** Pieces of the substituted text, each flagged literal (a value) or not (template text); undefined = a value is missing. */
export function substitute(t, p) {
    const out = [];
    for (const part of t) {
        if ('text' in part)
            out.push({ text: part.text, value: false });
        else {
            const v = part.token === 'attribute' ? p.attributes[part.name] : part.token === 'clientId' ? p.clientId : p.username;
            if (v === undefined)
                return undefined;
            out.push({ text: v, value: true });
        }
    }
    return out;
}
/** Topic-filter levels of a substituted template; only template text can be a wildcard. */
export function topicLevels(t, p) {
    const pieces = substitute(t, p);
    if (!pieces)
        return undefined;
    const levels = [[]];
    for (const piece of pieces) {
        if (piece.value)
            levels[levels.length - 1].push(piece);
        else {
            const split = piece.text.split('/');
            split.forEach((s, i) => {
                if (i > 0)
                    levels.push([]);
                if (s.length > 0)
                    levels[levels.length - 1].push({ text: s, value: false });
            });
        }
    }
    return levels.map((segs) => {
        if (segs.length === 1 && !segs[0].value && (segs[0].text === '+' || segs[0].text === '#'))
            return { wild: segs[0].text };
        // A value containing '/' stays inside one level and so can never equal a real topic level.
        return { lit: segs.map((s) => s.text).join('') };
    });
}
/** Does the rule filter match a topic name? `$` topics are not matched by a leading wildcard (MQTT 4.7.2). */
export function matchesTopic(rule, topic) {
    const t = topic.split('/');
    for (let i = 0; i < rule.length; i++) {
        const r = rule[i];
        if ('wild' in r && i === 0 && t[0].startsWith('$'))
            return false;
        if ('wild' in r && r.wild === '#')
            return true;
        if (i >= t.length)
            return false;
        if ('lit' in r && r.lit !== t[i])
            return false;
    }
    return rule.length === t.length;
}
/** Does the rule filter cover every topic the requested filter can match? */
export function coversFilter(rule, filter) {
    const f = filter.split('/');
    for (let i = 0; i < rule.length; i++) {
        const r = rule[i];
        const q = f[i];
        if ('wild' in r && i === 0 && q !== undefined && q.startsWith('$'))
            return false;
        if ('wild' in r && r.wild === '#')
            return true;
        if (q === undefined)
            return false;
        if ('wild' in r) {
            if (q === '#')
                return false; // '+' does not cover a multi-level wildcard
            continue;
        }
        if (q === '+' || q === '#' || r.lit !== q)
            return false;
    }
    return rule.length === f.length;
}
// ---- client ids (Connect) -------------------------------------------------------------------------
/** Connect `clientIds`: exact, or a prefix when the template ends with `*`. */
export function matchesClientId(t, p, clientId) {
    const last = t[t.length - 1];
    const prefix = last !== undefined && 'text' in last && last.text.endsWith('*');
    const body = prefix ? [...t.slice(0, -1), ...(last.text.length > 1 ? [{ text: last.text.slice(0, -1) }] : [])] : t;
    const pieces = substitute(body, p);
    if (!pieces)
        return false;
    const want = pieces.map((x) => x.text).join('');
    return prefix ? clientId.startsWith(want) : clientId === want;
}
// ---- state-store key patterns ---------------------------------------------------------------------
/** A glob (`*`, `?`, `[0-9]`) over the key's bytes; substituted values are escaped. */
export function globRegExp(t, p) {
    const pieces = substitute(t, p);
    if (!pieces)
        return undefined;
    let re = '';
    for (const piece of pieces) {
        const text = Buffer.from(piece.text, 'utf8').toString('latin1');
        if (piece.value)
            re += escapeRegExp(text);
        else
            re += globToRegExp(text);
    }
    return new RegExp(`^${re}$`, 's');
}
function globToRegExp(g) {
    let out = '';
    for (let i = 0; i < g.length; i++) {
        const c = g[i];
        if (c === '*')
            out += '.*';
        else if (c === '?')
            out += '.';
        else if (c === '[') {
            const end = g.indexOf(']', i + 2);
            if (end < 0)
                out += '\\[';
            else {
                let cls = g.slice(i + 1, end);
                const negate = cls.startsWith('!') || cls.startsWith('^');
                if (negate)
                    cls = cls.slice(1);
                out += `[${negate ? '^' : ''}${cls.replace(/[\\\]]/g, '\\$&')}]`;
                i = end;
            }
        }
        else
            out += escapeRegExp(c);
    }
    return out;
}
function escapeRegExp(s) {
    return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
//# sourceMappingURL=templates.js.map