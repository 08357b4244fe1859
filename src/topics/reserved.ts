/**
 * Topics that wildcards do not reach from the top. `$`-topics are the spec's rule [MQTT-4.7.2-1]; the
 * self-check probe's `azedge/dmqtt/selftest/...` tree is Azure IoT MQ's: a `#` or `+/...` subscriber must
 * not receive the probe's traffic (nor count it), so a filter reaches that tree only when its first three
 * levels are written out literally, as `$SYS/#` must be written out.
 */

/** Root of the self-check probe's topics (Azure IoT MQ's name). */
export const SELF_TEST_ROOT = 'azedge/dmqtt/selftest';
/** Levels of `SELF_TEST_ROOT`: the depth above which wildcards do not match a self-test topic. */
export const SELF_TEST_LEVELS = 3;

const DOLLAR = 0x24;
const LOWER_A = 0x61;

/** True for `azedge/dmqtt/selftest` and everything below it. */
export function isSelfTestTopic(topic: string): boolean {
  return (
    topic.charCodeAt(0) === LOWER_A &&
    topic.startsWith(SELF_TEST_ROOT) &&
    (topic.length === SELF_TEST_ROOT.length || topic.charCodeAt(SELF_TEST_ROOT.length) === 0x2f)
  );
}

/**
 * How many leading levels of `topic` a wildcard may not stand for: 1 for `$`-topics, 3 for the
 * self-test tree, else 0. Two character compares for almost every topic on the publish path.
 */
export function wildcardGuardLevels(topic: string): number {
  const first = topic.charCodeAt(0);
  if (first === DOLLAR) return 1;
  if (first === LOWER_A && isSelfTestTopic(topic)) return SELF_TEST_LEVELS;
  return 0;
}
