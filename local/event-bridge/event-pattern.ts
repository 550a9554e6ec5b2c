/**
 * EventBridge's event patterns (content filtering), as the local bus matches rules from the synthesized
 * template: a pattern is an object whose fields must all match the event's; a field's list matches when any
 * of its matchers does; a nested object matches the event's nested object; an event field that is a list
 * matches when any of its elements does; a field the event lacks matches only `{"exists": false}`.
 * Matchers: a value (strings exactly, numbers numerically, true, false, null), `prefix`, `suffix`,
 * `equals-ignore-case`, `wildcard`, `anything-but` (a value, a list of them, or a prefix or suffix),
 * `numeric` and `exists`. A pattern AWS would refuse, or one using a matcher not listed here (`cidr`), is
 * refused when the rule is read, rather than matched loosely. Pure.
 */

export type EventPattern = { [field: string]: readonly unknown[] | EventPattern };

const OPERATORS = new Set(['prefix', 'suffix', 'equals-ignore-case', 'wildcard', 'anything-but', 'numeric', 'exists']);
const NUMERIC_OPERATORS = new Set(['<', '<=', '=', '>', '>=']);

/** Checks a pattern as PutRule would; throws naming the first problem. */
export function checkPattern(pattern: unknown, path = 'pattern'): asserts pattern is EventPattern {
  if (!isObject(pattern)) throw new Error(`Event pattern ${path} must be a JSON object.`);
  if (Object.keys(pattern).length === 0 && path === 'pattern') throw new Error('Event pattern must not be empty.');
  for (const [field, value] of Object.entries(pattern)) {
    const at = `${path}.${field}`;
    if (Array.isArray(value)) {
      if (value.length === 0) throw new Error(`Event pattern ${at} must not be an empty list.`);
      for (const matcher of value) checkMatcher(matcher, at);
    } else if (isObject(value)) {
      checkPattern(value, at);
    } else {
      throw new Error(`Event pattern ${at} must be a list of matchers or an object.`);
    }
  }
}

function checkMatcher(matcher: unknown, at: string): void {
  if (!isObject(matcher)) {
    if (Array.isArray(matcher)) throw new Error(`Event pattern ${at} must not nest lists.`);
    return; // a value
  }
  const keys = Object.keys(matcher);
  if (keys.length !== 1 || !OPERATORS.has(keys[0]!)) {
    throw new Error(`Event pattern ${at}: the matcher ${JSON.stringify(matcher)} is not supported by the local EventBridge.`);
  }
  const [operator] = keys as [string];
  const operand = matcher[operator];
  switch (operator) {
    case 'prefix':
    case 'suffix':
      if (!(typeof operand === 'string' || (isObject(operand) && typeof operand['equals-ignore-case'] === 'string'))) throw new Error(`Event pattern ${at}: ${operator} takes a string.`);
      return;
    case 'equals-ignore-case':
    case 'wildcard':
      if (typeof operand !== 'string') throw new Error(`Event pattern ${at}: ${operator} takes a string.`);
      return;
    case 'exists':
      if (typeof operand !== 'boolean') throw new Error(`Event pattern ${at}: exists takes true or false.`);
      return;
    case 'numeric':
      checkNumeric(operand, at);
      return;
    case 'anything-but':
      if (Array.isArray(operand) ? operand.length === 0 || operand.some((item) => isObject(item) || Array.isArray(item)) : false) {
        throw new Error(`Event pattern ${at}: anything-but takes a value, a non-empty list of values, or a prefix or suffix.`);
      }
      if (isObject(operand)) checkMatcher(operand, at);
      return;
  }
}

function checkNumeric(operand: unknown, at: string): void {
  const fail = () => {
    throw new Error(`Event pattern ${at}: numeric takes [operator, number] or [operator, number, operator, number].`);
  };
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) fail();
  const list = operand as unknown[];
  for (let index = 0; index < list.length; index += 2) {
    if (typeof list[index] !== 'string' || !NUMERIC_OPERATORS.has(list[index] as string) || typeof list[index + 1] !== 'number') fail();
  }
}

/** Whether `event` (an event as EventBridge delivers it) matches `pattern`. */
export function matches(pattern: EventPattern, event: unknown): boolean {
  if (!isObject(event)) return false;
  return Object.entries(pattern).every(([field, expected]) => {
    const present = Object.hasOwn(event, field);
    const value = event[field];
    if (!Array.isArray(expected)) return present && isObject(value) && matches(expected as EventPattern, value);
    if (!present) return expected.some((matcher) => isObject(matcher) && matcher.exists === false);
    const values = Array.isArray(value) ? value : [value];
    return expected.some((matcher) => matchesValue(matcher, values));
  });
}

function matchesValue(matcher: unknown, values: unknown[]): boolean {
  if (!isObject(matcher)) return values.some((value) => sameValue(matcher, value));
  const [operator, operand] = Object.entries(matcher)[0]!;
  switch (operator) {
    case 'exists':
      return operand === true;
    case 'anything-but':
      // AWS: matches when no element of the field is one of the excluded.
      return values.length > 0 && !values.some((value) => excluded(operand, value));
    default:
      return values.some((value) => matchesOne(operator, operand, value));
  }
}

function excluded(operand: unknown, value: unknown): boolean {
  if (Array.isArray(operand)) return operand.some((item) => sameValue(item, value));
  if (isObject(operand)) return matchesValue(operand, [value]);
  return sameValue(operand, value);
}

function matchesOne(operator: string, operand: unknown, value: unknown): boolean {
  switch (operator) {
    case 'prefix':
    case 'suffix': {
      if (typeof value !== 'string') return false;
      const ignoreCase = isObject(operand);
      const affix = ignoreCase ? String(operand['equals-ignore-case']) : String(operand);
      const [text, wanted] = ignoreCase ? [value.toLowerCase(), affix.toLowerCase()] : [value, affix];
      return operator === 'prefix' ? text.startsWith(wanted) : text.endsWith(wanted);
    }
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === String(operand).toLowerCase();
    case 'wildcard':
      return typeof value === 'string' && wildcard(String(operand)).test(value);
    case 'numeric':
      return typeof value === 'number' && numericHolds(operand as unknown[], value);
    default:
      return false;
  }
}

function numericHolds(conditions: unknown[], value: number): boolean {
  for (let index = 0; index < conditions.length; index += 2) {
    const bound = conditions[index + 1] as number;
    const holds = { '<': value < bound, '<=': value <= bound, '=': value === bound, '>': value > bound, '>=': value >= bound }[conditions[index] as string];
    if (!holds) return false;
  }
  return true;
}

/** Strings exactly; numbers by value (300 is 300.0); true, false and null as themselves. */
function sameValue(expected: unknown, value: unknown): boolean {
  return expected === value;
}

function wildcard(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 's');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
