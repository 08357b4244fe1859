import { describe, expect, it } from 'vitest';
import type mqttPacket from 'mqtt-packet';
import { sortSubscriptions, sortUnsubscriptions } from '../../../src/frontend/subscription-requests.js';
import { reasonOf } from '../../helpers/reason-code.js';

const subscribe = (subs: Array<Partial<mqttPacket.ISubscription> & { topic: string }>, properties?: mqttPacket.ISubscribePacket['properties']) =>
  ({ cmd: 'subscribe', messageId: 1, subscriptions: subs.map((s) => ({ qos: 1, ...s })), properties }) as mqttPacket.ISubscribePacket;
const unsubscribe = (unsubscriptions: string[], messageId = 1) => ({ cmd: 'unsubscribe', messageId, unsubscriptions }) as mqttPacket.IUnsubscribePacket;
const all = () => true;

describe('sortSubscriptions', () => {
  it('keeps valid filters, answers invalid ones with 0x8F and refused ones with the configured code', () => {
    const r = sortSubscriptions(subscribe([{ topic: 'a/#' }, { topic: 'a/#/b' }, { topic: 'secret' }]), (f) => f !== 'secret', 0x87);
    expect(r.accepted.map((a) => a.filter)).toEqual(['a/#']);
    expect(r.slots).toEqual([0]);
    expect([r.codes[1], r.codes[2]]).toEqual([0x8f, 0x87]);
  });

  it('carries the options and the Subscription Identifier into each request', () => {
    const r = sortSubscriptions(subscribe([{ topic: 'x', qos: 2, nl: true, rap: true, rh: 2 }], { subscriptionIdentifier: 7 }), all, 0x87);
    expect(r.accepted[0]).toEqual({ filter: 'x', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionId: 7 });
  });

  it('[MQTT-3.8.3-2] an empty SUBSCRIBE, [MQTT-3.8.3-4] No Local on a shared subscription and Subscription Identifier 0 are Protocol Errors', () => {
    expect(reasonOf(() => sortSubscriptions(subscribe([]), all, 0x87))).toBe(0x82);
    expect(reasonOf(() => sortSubscriptions(subscribe([{ topic: '$share/g/x', nl: true }]), all, 0x87))).toBe(0x82);
    expect(reasonOf(() => sortSubscriptions(subscribe([{ topic: 'x' }], { subscriptionIdentifier: 0 }), all, 0x87))).toBe(0x82);
  });

  it('[MQTT-2.2.1-3] packet id 0, [MQTT-4.7.3-1] an empty filter and [MQTT-4.8.2-2] $share/g/ are Protocol Errors', () => {
    expect(reasonOf(() => sortSubscriptions({ ...subscribe([{ topic: 'x' }]), messageId: 0 }, all, 0x87))).toBe(0x82);
    expect(reasonOf(() => sortSubscriptions(subscribe([{ topic: 'x' }, { topic: '' }]), all, 0x87))).toBe(0x82);
    expect(reasonOf(() => sortSubscriptions(subscribe([{ topic: '$share/g/' }]), all, 0x87))).toBe(0x82);
    // A share name without the '/' and filter after it, or an empty share name, is a filter that is there but not allowed: 0x8F.
    expect(sortSubscriptions(subscribe([{ topic: '$share/g' }, { topic: '$share//x' }, { topic: '$share/g/a/' }]), all, 0x87).codes).toEqual([0x8f, 0x8f, undefined]);
  });

  it('[MQTT-1.5.4-1] a filter that is not valid UTF-8 is a Malformed Packet', () => {
    expect(reasonOf(() => sortSubscriptions(subscribe([{ topic: 'a\uFFFDb' }]), all, 0x87))).toBe(0x81);
  });
});

describe('sortUnsubscriptions', () => {
  it('answers invalid filters with 0x8F and keeps the rest', () => {
    const r = sortUnsubscriptions(unsubscribe(['a/+', 'a/#/b']));
    expect(r.accepted).toEqual(['a/+']);
    expect(r.codes[1]).toBe(0x8f);
  });

  it('[MQTT-3.10.3-2] an empty UNSUBSCRIBE is a Protocol Error', () => {
    expect(reasonOf(() => sortUnsubscriptions(unsubscribe([])))).toBe(0x82);
  });

  it('[MQTT-2.2.1-3] packet id 0, [MQTT-4.7.3-1] an empty filter and [MQTT-4.8.2-2] $share/g/ are Protocol Errors', () => {
    expect(reasonOf(() => sortUnsubscriptions(unsubscribe(['a'], 0)))).toBe(0x82);
    expect(reasonOf(() => sortUnsubscriptions(unsubscribe(['a', '', 'b'])))).toBe(0x82);
    expect(reasonOf(() => sortUnsubscriptions(unsubscribe(['$share/g/'])))).toBe(0x82);
  });
});
