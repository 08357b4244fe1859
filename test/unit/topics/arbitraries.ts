/** fast-check generators shared by the topic tests: a tiny alphabet so random filters and topics often collide. */
import fc from 'fast-check';

const literalLevel = fc.constantFrom('a', 'b', '', '$x', 'a$');
const firstTopicLevel = fc.constantFrom('a', 'b', '', '$SYS', '$x');

/** Valid topic names of 1..5 levels, sometimes starting with `$`. */
export const topicName = fc
  .tuple(firstTopicLevel, fc.array(literalLevel, { maxLength: 4 }))
  .map(([first, rest]) => [first, ...rest].join('/'))
  .filter((t) => t.length > 0);

/** Valid, non-shared topic filters of 1..5 levels with `+` anywhere and `#` only last. */
export const topicFilter = fc
  .tuple(
    fc.array(fc.oneof(literalLevel, fc.constant('+'), fc.constantFrom('$SYS', '$x')), { minLength: 1, maxLength: 5 }),
    fc.boolean(),
  )
  .map(([levels, endsWithHash]) => (endsWithHash ? [...levels.slice(0, -1), '#'] : levels).join('/'))
  .filter((f) => f.length > 0);

/** Keeps property runs well under the 5 s budget whatever the machine. */
export const timeBoxed = { numRuns: 300, interruptAfterTimeLimit: 1500 } as const;
