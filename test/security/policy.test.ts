/**
 * Authorization rules without sockets: principal matching, `{principal.*}` substitution and its
 * escaping (MQTT wildcards, level separators, state-store globs), Connect client-id narrowing,
 * subscribe-filter coverage, `effect: Deny`, deny by default and the decision cache.
 */
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/frontend/ports.js';
import { Policy } from '../../src/security/authz/policy.js';
import { coversFilter, matchesTopic, parseTemplate, topicLevels } from '../../src/security/authz/templates.js';

const policy = (rules: unknown[], extra: Record<string, unknown> = {}) => new Policy('t', { authorizationPolicies: { rules, ...extra } }, () => {});
const p = (clientId: string, username?: string, attributes: Record<string, string> = {}): Principal => ({ clientId, ...(username ? { username } : {}), attributes });

describe('topic templates', () => {
  const levels = (t: string, who: Principal) => topicLevels(parseTemplate(t), who)!;
  it('substitutes client id, username and attributes', () => {
    const who = p('dev1', 'alice', { building: 'b17' });
    expect(matchesTopic(levels('{principal.attributes.building}/{principal.clientId}/{principal.username}', who), 'b17/dev1/alice')).toBe(true);
    expect(topicLevels(parseTemplate('x/{principal.attributes.missing}'), who)).toBeUndefined();
    expect(topicLevels(parseTemplate('x/{principal.username}'), p('c'))).toBeUndefined();
  });
  it('keeps substituted values literal: no wildcards, no extra levels', () => {
    expect(coversFilter(levels('a/{principal.clientId}', p('#')), 'a/#')).toBe(false);
    expect(coversFilter(levels('a/{principal.clientId}', p('+')), 'a/+')).toBe(false);
    expect(matchesTopic(levels('a/{principal.clientId}/x', p('b/c')), 'a/b/c/x')).toBe(false);
    expect(coversFilter(levels('a/+/{principal.clientId}', p('c')), 'a/+/c')).toBe(true);
  });
  it('follows MQTT matching for rule filters, $ topics included', () => {
    const any = levels('#', p('c'));
    expect(matchesTopic(any, 'a/b')).toBe(true);
    expect(matchesTopic(any, '$SYS/x')).toBe(false);
    expect(coversFilter(any, '$SYS/#')).toBe(false);
    expect(coversFilter(levels('a/#', p('c')), 'a')).toBe(true);
    expect(coversFilter(levels('a/+', p('c')), 'a/#')).toBe(false);
    expect(coversFilter(levels('a/+/c', p('c')), 'a/b/c')).toBe(true);
    expect(coversFilter(levels('a/b', p('c')), 'a/+')).toBe(false);
  });
  it('rejects unknown tokens', () => {
    expect(() => parseTemplate('{principal.password}')).toThrow(/unknown token/);
  });
});

describe('Policy', () => {
  const rules = [
    {
      principals: { clientIds: ['sensor-1'], usernames: ['alice'], attributes: [{ city: 'seattle', org: 'contoso' }, { building: '22' }] },
      brokerResources: [
        { method: 'Connect', clientIds: ['{principal.attributes.building}*', 'sensor-1'] },
        { method: 'Publish', topics: ['sensors/{principal.clientId}/#'] },
        { method: 'Subscribe', topics: ['commands/#'] },
      ],
      stateStoreResources: [
        { method: 'Read', keyType: 'Pattern', keys: ['clients/{principal.clientId}/*', 'number[0-9]', 'char?'] },
        { method: 'ReadWrite', keyType: 'Binary', keys: [Buffer.from([0xff, 0x00]).toString('base64')] },
        { method: 'Write', keyType: 'String', keys: ['lit*'] },
      ],
    },
    { effect: 'Deny', principals: { usernames: ['alice'] }, brokerResources: [{ method: 'Subscribe', topics: ['commands/secret'] }, { method: 'Publish', topics: ['sensors/+/forbidden'] }] },
  ];
  const pol = policy(rules);

  it('matches principals by client id, username or a complete attribute set', () => {
    expect(pol.canConnect(p('sensor-1'))).toBe(true);
    expect(pol.canConnect(p('22-dev', undefined, { building: '22' }))).toBe(true);
    expect(pol.canConnect(p('23-dev', undefined, { building: '22' }))).toBe(false); // narrowed by clientIds
    expect(pol.canSubscribe(p('x', undefined, { city: 'seattle' }), 'commands/a')).toBe(false); // half a set
    expect(pol.canSubscribe(p('x', undefined, { city: 'seattle', org: 'contoso' }), 'commands/a')).toBe(true);
    expect(pol.canConnect(p('bob'))).toBe(false); // deny by default
  });

  it('lets a matching Deny win over Allow', () => {
    const alice = p('sensor-9', 'alice');
    expect(pol.canSubscribe(alice, 'commands/open')).toBe(true);
    expect(pol.canSubscribe(alice, 'commands/secret')).toBe(false);
    expect(pol.canPublish(alice, 'sensors/sensor-9/t')).toBe(true);
    expect(pol.canPublish(alice, 'sensors/sensor-9/forbidden')).toBe(false);
    expect(pol.canSubscribe(p('sensor-1'), 'commands/secret')).toBe(true); // the Deny names alice only
  });

  it('matches state-store keys by pattern, string and binary, escaping substituted globs', () => {
    const s = p('sensor-1');
    expect(pol.canAccessStateStoreKey(s, Buffer.from('clients/sensor-1/a'), 'read')).toBe(true);
    expect(pol.canAccessStateStoreKey(s, Buffer.from('clients/sensor-1/a'), 'write')).toBe(false);
    expect(pol.canAccessStateStoreKey(s, Buffer.from('number7'), 'read')).toBe(true);
    expect(pol.canAccessStateStoreKey(s, Buffer.from('numberx'), 'read')).toBe(false);
    expect(pol.canAccessStateStoreKey(s, Buffer.from('charZ'), 'read')).toBe(true);
    expect(pol.canAccessStateStoreKey(s, Buffer.from([0xff, 0x00]), 'write')).toBe(true);
    expect(pol.canAccessStateStoreKey(s, Buffer.from('lit*'), 'write')).toBe(true);
    expect(pol.canAccessStateStoreKey(s, Buffer.from('litX'), 'write')).toBe(false); // String keys are exact
    const sneaky = policy([{ principals: { clientIds: ['*'] }, stateStoreResources: [{ method: 'Read', keyType: 'Pattern', keys: ['clients/{principal.clientId}'] }] }]);
    expect(sneaky.canAccessStateStoreKey(p('*'), Buffer.from('clients/*'), 'read')).toBe(true);
    expect(sneaky.canAccessStateStoreKey(p('*'), Buffer.from('clients/victim'), 'read')).toBe(false);
    const q = policy([{ principals: { clientIds: ['a?[b]'] }, stateStoreResources: [{ method: 'Read', keyType: 'Pattern', keys: ['{principal.clientId}'] }] }]);
    expect(q.canAccessStateStoreKey(p('a?[b]'), Buffer.from('ax[b]'), 'read')).toBe(false);
  });

  it('denies everything without rules, and caches decisions per principal', () => {
    expect(policy([]).canConnect(p('a'))).toBe(false);
    const who = p('sensor-1');
    const cached = policy(rules, { cache: 'Enabled' });
    expect(cached.canPublish(who, 'sensors/sensor-1/x')).toBe(true);
    who.clientId = 'other'; // a cached decision is reused for the same principal object and topic
    expect(cached.canPublish(who, 'sensors/sensor-1/x')).toBe(true);
    const uncached = policy(rules, { cache: 'Disabled' });
    expect(uncached.canPublish(who, 'sensors/sensor-1/x')).toBe(false);
  });
});
