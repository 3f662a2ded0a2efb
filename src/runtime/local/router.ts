/**
 * Interim router until the pattern engine lands: exact-value leaves and nested objects only, which
 * is all the seed's rules use. Swapped for the engine's RuleIndex behind the same interface.
 */
import type { RuleRouter } from './bus.ts';

type Matcher = (event: unknown) => boolean;

function compile(pattern: unknown): Matcher {
  const entries = Object.entries(pattern as Record<string, unknown>).map(
    ([key, value]): [string, Matcher] => {
      if (Array.isArray(value)) {
        const allowed = new Set(value);
        return [key, (v) => allowed.has(v)];
      }
      return [key, compile(value)];
    },
  );
  return (event) => {
    if (event === null || typeof event !== 'object') return false;
    const record = event as Record<string, unknown>;
    return entries.every(([key, matches]) => matches(record[key]));
  };
}

export function createRuleRouter(): RuleRouter<string> {
  const rules: { matches: Matcher; target: string }[] = [];
  return {
    add(_name, pattern, target) {
      rules.push({ matches: compile(pattern), target });
    },
    match(event) {
      return rules.filter((r) => r.matches(event)).map((r) => r.target);
    },
  };
}
