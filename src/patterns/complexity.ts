/**
 * EventBridge refuses a rule whose wildcards are too costly to match ("Rule is too complex"). event-ruler
 * measures this with its MachineComplexityEvaluator: build the matching automaton of a field's `wildcard` and
 * `anything-but: {wildcard}` patterns, and find the input that keeps the most wildcard-pattern states active at
 * once. This file is our own model of that automaton, written from event-ruler's description of it
 * (ByteMachine's wildcard construction) and checked against event-ruler itself on random pattern sets.
 *
 * The value is matched with its JSON quotes, so `"*a"` is the token run `"`, `*`, `a`, `"`. Reading the
 * character before a `*` enters a state A; A's `*` leads to a loop state B, and the character after the `*`
 * leads on from both A and B. After each input character the cost is the number of distinct active states
 * per pattern (a pattern's values share states while their token prefixes agree; all its final states are
 * one), plus one for every active A whose loop B is not active yet (the evaluator also counts what an
 * additional byte would reach).
 */

import type { FieldCondition, SubRule } from './parse.ts';
import { parseWildcard } from './wildcard.ts';

/** The complexity above which EventBridge refuses a rule (see README: evidence for the figure). */
export const MAX_WILDCARD_COMPLEXITY = 10;

/** Work bound for the search: distinct automaton configurations explored before giving up (accepting). */
const MAX_CONFIGURATIONS = 20_000;

const STAR = -1;
const QUOTE = 0x22;

/** One value as tokens: code points of the quoted value, with STAR for each wildcard. */
function tokensOf(pieces: readonly string[]): number[] {
  const tokens = [QUOTE];
  pieces.forEach((piece, index) => {
    if (index > 0) tokens.push(STAR);
    for (const char of piece) tokens.push(char.codePointAt(0) as number);
  });
  tokens.push(QUOTE);
  return tokens;
}

interface Value {
  readonly group: number;
  readonly tokens: readonly number[];
  /** Per position: the state's identity within its group (the token prefix read so far; finals share one). */
  readonly stateKeys: readonly string[];
}

/** Active positions of one value: `entered` are A states and literal positions, `loops` are B states. */
interface ValueState {
  readonly entered: readonly number[];
  readonly loops: readonly number[];
}

/**
 * The complexity of one field's wildcard patterns. Each group is one event-ruler pattern: a `wildcard`
 * operand alone, or the operands of one `anything-but: {wildcard: [...]}`, each given as its literal pieces.
 * Stops counting once the result exceeds `limit`.
 */
export function wildcardComplexity(
  groups: readonly (readonly (readonly string[])[])[],
  limit = MAX_WILDCARD_COMPLEXITY,
): number {
  const values: Value[] = [];
  const seenGroups = new Set<string>();
  groups.forEach((group, groupIndex) => {
    const key = JSON.stringify(group);
    if (seenGroups.has(key)) return; // the same pattern twice is one pattern
    seenGroups.add(key);
    const seenValues = new Set<string>();
    for (const pieces of group) {
      const valueKey = JSON.stringify(pieces);
      if (seenValues.has(valueKey)) continue;
      seenValues.add(valueKey);
      const tokens = tokensOf(pieces);
      const stateKeys = tokens.map((_, position) => String(tokens.slice(0, position)));
      stateKeys.push('final');
      values.push({ group: groupIndex, tokens, stateKeys });
    }
  });
  const alphabet = new Set<number>([0]); // 0 stands for any character no pattern names
  for (const value of values) for (const token of value.tokens) if (token !== STAR) alphabet.add(token);

  const start: ValueState[] = values.map(() => ({ entered: [0], loops: [] }));
  const seen = new Set<string>([configurationKey(start)]);
  const queue: ValueState[][] = [start];
  let worst = 0;
  while (queue.length > 0) {
    const configuration = queue.pop() as ValueState[];
    for (const char of alphabet) {
      const next = values.map((value, index) => step(value, configuration[index] as ValueState, char));
      if (next.every((state) => state.entered.length === 0 && state.loops.length === 0)) continue;
      worst = Math.max(worst, cost(values, next));
      if (worst > limit) return worst;
      const key = configurationKey(next);
      if (seen.has(key) || seen.size >= MAX_CONFIGURATIONS) continue;
      seen.add(key);
      queue.push(next);
    }
  }
  return worst;
}

function step(value: Value, state: ValueState, char: number): ValueState {
  const { tokens } = value;
  const entered = new Set<number>();
  const loops = new Set<number>();
  for (const position of state.entered) {
    const token = tokens[position];
    if (token === STAR) {
      loops.add(position);
      if (tokens[position + 1] === char) entered.add(position + 2); // the `*` matched nothing
    } else if (token === char) entered.add(position + 1);
  }
  for (const position of state.loops) {
    loops.add(position);
    if (tokens[position + 1] === char) entered.add(position + 2);
  }
  return { entered: [...entered].sort(byNumber), loops: [...loops].sort(byNumber) };
}

function byNumber(left: number, right: number): number {
  return left - right;
}

function cost(values: readonly Value[], states: readonly ValueState[]): number {
  const active = new Map<number, Set<string>>();
  states.forEach((state, index) => {
    const value = values[index] as Value;
    let keys = active.get(value.group);
    if (keys === undefined) active.set(value.group, (keys = new Set()));
    for (const position of state.entered) keys.add(`A${value.stateKeys[position]}`);
    for (const position of state.loops) keys.add(`B${value.stateKeys[position]}`);
  });
  let total = 0;
  for (const keys of active.values()) total += keys.size;
  const pendingLoops = new Set<string>();
  states.forEach((state, index) => {
    const value = values[index] as Value;
    const keys = active.get(value.group) as Set<string>;
    for (const position of state.entered) {
      const loopKey = `B${value.stateKeys[position]}`;
      if (value.tokens[position] === STAR && !keys.has(loopKey)) pendingLoops.add(`${value.group}${loopKey}`);
    }
  });
  return total + pendingLoops.size;
}

function configurationKey(states: readonly ValueState[]): string {
  return states.map((state) => `${state.entered.join(',')}|${state.loops.join(',')}`).join(';');
}

/**
 * The highest complexity among the fields of a pattern's sub-rules. event-ruler builds one automaton per field
 * per position in its rule tree, so a field's patterns are taken together when the sub-rules agree on every
 * condition before it (in path order).
 */
export function patternComplexity(subRules: readonly SubRule[], limit = MAX_WILDCARD_COMPLEXITY): number {
  const fields = new Map<string, (readonly string[])[][]>();
  for (const conditions of subRules) {
    conditions.forEach((condition, index) => {
      const groups = wildcardGroups(condition);
      if (groups.length === 0) return;
      const key = JSON.stringify([conditions.slice(0, index), condition.path]);
      let field = fields.get(key);
      if (field === undefined) fields.set(key, (field = []));
      field.push(...groups);
    });
  }
  let worst = 0;
  for (const groups of fields.values()) {
    worst = Math.max(worst, wildcardComplexity(groups, limit));
    if (worst > limit) break;
  }
  return worst;
}

function wildcardGroups(condition: FieldCondition): (readonly string[])[][] {
  const groups: (readonly string[])[][] = [];
  for (const pattern of condition.patterns) {
    if (pattern.kind === 'wildcard') groups.push([pattern.pieces]);
    else if (pattern.kind === 'anything-but' && pattern.operator === 'wildcard') {
      groups.push(pattern.values.map((value) => parseWildcard(value) as readonly string[]));
    }
  }
  return groups;
}
