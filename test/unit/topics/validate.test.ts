import { describe, expect, it } from 'vitest';
import { MqttError } from '../../../src/mqtt/errors.js';
import { RC } from '../../../src/mqtt/reason-codes.js';
import {
  isReservedTopic,
  isSysTopic,
  matches,
  parseSharedFilter,
  utf8ByteLength,
  validateTopicFilter,
  validateTopicName,
} from '../../../src/topics/validate.js';

function reasonCodeOf(run: () => unknown): number | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    if (err instanceof MqttError) return err.reasonCode;
    throw err;
  }
}

const levels = (n: number) => Array.from({ length: n }, () => 'a').join('/');

describe('validateTopicName', () => {
  it.each([
    ['a', 'single level'],
    ['sport/tennis/player1', 'several levels'],
    ['/', 'two empty levels'],
    ['a//b/', 'empty levels in the middle and at the end'],
    ['$SYS/broker/uptime', '$ topic'],
    ['caf\u00e9/\u{1F600}', 'non-ASCII'],
    [levels(128), 'exactly 128 levels'],
  ])('accepts %j (%s)', (name) => {
    expect(reasonCodeOf(() => validateTopicName(name))).toBeUndefined();
  });

  it.each([
    ['', '[MQTT-4.7.3-1] empty'],
    ['a/\u0000', '[MQTT-4.7.3-2] contains U+0000'],
    ['sport/+', '[MQTT-4.7.1-1] [MQTT-3.3.2-2] contains +'],
    ['sport/#', '[MQTT-4.7.1-1] [MQTT-3.3.2-2] contains #'],
    ['a+b', '[MQTT-4.7.1-1] + inside a level'],
    ['x'.repeat(65536), '[MQTT-4.7.3-3] 65536 ASCII bytes'],
    ['\u00e9'.repeat(32768), '[MQTT-4.7.3-3] 65536 bytes of 2-byte chars'],
    ['\u{1F600}'.repeat(16384), '[MQTT-4.7.3-3] 65536 bytes of surrogate pairs'],
    [levels(129), 'more than 128 levels (bound checked first)'],
  ])('rejects %# %s with TopicNameInvalid 0x90', (name) => {
    expect(reasonCodeOf(() => validateTopicName(name))).toBe(RC.TopicNameInvalid);
  });

  it('[MQTT-4.7.3-3] accepts exactly 65535 bytes', () => {
    expect(reasonCodeOf(() => validateTopicName('\u00e9'.repeat(32767) + 'x'))).toBeUndefined();
  });

  it('honors a custom level bound', () => {
    expect(reasonCodeOf(() => validateTopicName('a/b/c', 3))).toBeUndefined();
    expect(reasonCodeOf(() => validateTopicName('a/b/c/d', 3))).toBe(RC.TopicNameInvalid);
  });

  it('reports the level bound even when the rest of a huge name is also invalid', () => {
    const err = (() => {
      try {
        validateTopicName('/'.repeat(200) + '#');
      } catch (e) {
        return e as MqttError;
      }
    })();
    expect(err?.message).toMatch(/levels/);
  });
});

describe('validateTopicFilter', () => {
  it.each([
    ['#', '[MQTT-4.7.1-2] # alone'],
    ['sport/#', '[MQTT-4.7.1-2] # after a separator'],
    ['+', '[MQTT-4.7.1-3] + alone'],
    ['+/tennis/#', '[MQTT-4.7.1-3] + first level'],
    ['sport/+', '[MQTT-4.7.1-3] + last level'],
    ['sport/+/player1', '[MQTT-4.7.1-3] + middle level'],
    ['+/+', 'two + levels'],
    ['/+', 'empty first level then +'],
    ['$SYS/#', '$ filter'],
    ['$share/group/sport/#', '[MQTT-4.8.2-1] shared filter'],
    ['$share', 'the bare level $share is an ordinary filter'],
    [levels(128), '128 levels'],
    ['$share/g/' + levels(128), '128 levels after the $share/{group}/ prefix'],
  ])('accepts %j (%s)', (filter) => {
    expect(reasonCodeOf(() => validateTopicFilter(filter))).toBeUndefined();
  });

  it.each([
    ['', '[MQTT-4.7.3-1] empty'],
    ['a/\u0000/b', '[MQTT-4.7.3-2] contains U+0000'],
    ['x'.repeat(65536), '[MQTT-4.7.3-3] longer than 65535 bytes'],
    ['sport/tennis#', '[MQTT-4.7.1-2] # not a whole level'],
    ['sport/tennis/#/ranking', '[MQTT-4.7.1-2] # not last'],
    ['#/', '[MQTT-4.7.1-2] # followed by a separator'],
    ['##', '[MQTT-4.7.1-2] ## '],
    ['sport+', '[MQTT-4.7.1-3] + not a whole level'],
    ['sport/+tennis', '[MQTT-4.7.1-3] + prefix of a level'],
    ['++', '[MQTT-4.7.1-3] ++'],
    ['$share/', '[MQTT-4.8.2-1] empty share name'],
    ['$share//a', '[MQTT-4.8.2-1] empty share name before a filter'],
    ['$share/group', '[MQTT-4.8.2-2] no filter after the share name'],
    ['$share/group/', '[MQTT-4.8.2-2] empty filter after the share name'],
    ['$share/+/a', '[MQTT-4.8.2-2] + in the share name'],
    ['$share/#', '[MQTT-4.8.2-2] # as the share name'],
    ['$share/g/a#', '[MQTT-4.7.1-2] invalid inner filter'],
    [levels(129), 'more than 128 levels'],
    ['$share/g/' + levels(129), 'more than 128 levels after the shared prefix'],
  ])('rejects %# %s with TopicFilterInvalid 0x8F', (filter) => {
    expect(reasonCodeOf(() => validateTopicFilter(filter))).toBe(RC.TopicFilterInvalid);
  });
});

describe('parseSharedFilter', () => {
  it('returns null for non-shared filters', () => {
    expect(parseSharedFilter('sport/#')).toBeNull();
    expect(parseSharedFilter('$share')).toBeNull();
    expect(parseSharedFilter('$sharex/g/a')).toBeNull();
  });

  it('[MQTT-4.8.2-1] splits group and filter', () => {
    expect(parseSharedFilter('$share/consumers/sport/tennis/+')).toEqual({
      group: 'consumers',
      filter: 'sport/tennis/+',
    });
    expect(parseSharedFilter('$share/g/#')).toEqual({ group: 'g', filter: '#' });
    expect(parseSharedFilter('$share/g//')).toEqual({ group: 'g', filter: '/' });
  });

  it.each(['$share/', '$share//a', '$share/group', '$share/group/', '$share/a+b/x', '$share/#'])(
    '[MQTT-4.8.2-2] rejects %j with 0x8F',
    (filter) => {
      expect(reasonCodeOf(() => parseSharedFilter(filter))).toBe(RC.TopicFilterInvalid);
    },
  );
});

describe('isSysTopic / isReservedTopic', () => {
  it('recognizes the $SYS tree only', () => {
    expect(isSysTopic('$SYS')).toBe(true);
    expect(isSysTopic('$SYS/broker/load')).toBe(true);
    expect(isSysTopic('$SYSTEM/x')).toBe(false);
    expect(isSysTopic('$share/g/x')).toBe(false);
    expect(isSysTopic('SYS/x')).toBe(false);
  });

  it('[MQTT-4.7.2-1] treats every $-prefixed topic as reserved', () => {
    expect(isReservedTopic('$SYS/x')).toBe(true);
    expect(isReservedTopic('$iothub/twin')).toBe(true);
    expect(isReservedTopic('a/$b')).toBe(false);
  });
});

describe('matches', () => {
  it.each([
    ['sport/tennis/player1/#', 'sport/tennis/player1', true, '[MQTT-4.7.1-2] # matches the parent level'],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true, '[MQTT-4.7.1-2] one level below'],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true, '[MQTT-4.7.1-2] two levels below'],
    ['sport/#', 'sport', true, '[MQTT-4.7.1-2] sport/# matches sport'],
    ['sport/#', 'sports', false, 'no prefix match'],
    ['#', 'a/b/c', true, '# matches everything'],
    ['#', '/', true, '# matches empty levels'],
    ['sport/tennis/+', 'sport/tennis/player1', true, '[MQTT-4.7.1-3] + matches one level'],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false, '[MQTT-4.7.1-3] + matches only one level'],
    ['sport/+', 'sport', false, '[MQTT-4.7.1-3] sport/+ does not match sport'],
    ['sport/+', 'sport/', true, '[MQTT-4.7.1-3] sport/+ matches sport/'],
    ['+/+', '/finance', true, '[MQTT-4.7.1-3] + matches an empty level'],
    ['/+', '/finance', true, '/+ matches /finance'],
    ['+', '/finance', false, '+ does not match two levels'],
    ['+', 'a', true, '+ matches a single level'],
    ['#', '$SYS/x', false, '[MQTT-4.7.2-1] # does not match $ topics'],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false, '[MQTT-4.7.2-1] + does not match $ topics'],
    ['$SYS/#', '$SYS/monitor/Clients', true, '[MQTT-4.7.2-2] $SYS/# matches'],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true, '[MQTT-4.7.2-2] $SYS/monitor/+ matches'],
    ['a/$x/#', 'a/$x/y', true, '$ only matters in the first level'],
    ['+/$x', 'a/$x', true, '+ first level, $ later'],
    ['ACCOUNTS', 'Accounts', false, '[MQTT-4.7.3-4] case-sensitive, no normalization'],
    ['a/b', 'a/b/', false, 'trailing empty level'],
    ['a/b/', 'a/b/', true, 'trailing empty level literally'],
    ['a/b', 'a', false, 'topic shorter'],
    ['a', 'a/b', false, 'topic longer'],
    ['ab', 'a', false, 'level prefix'],
    ['a', 'ab', false, 'level prefix the other way'],
    ['+/b/#', 'x/b', true, '+ then # parent'],
  ])('%s vs %s → %s (%s)', (filter, topic, expected) => {
    expect(matches(filter, topic)).toBe(expected);
  });
});

describe('utf8ByteLength', () => {
  it.each(['', 'abc', 'caf\u00e9', '\u20ac', '\u{1F600}x', '\ud800', 'a\udc00b'])('agrees with TextEncoder for %j', (s) => {
    expect(utf8ByteLength(s)).toBe(new TextEncoder().encode(s).length);
  });
});
