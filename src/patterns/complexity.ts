/**
 * EventBridge refuses a rule whose wildcards are too costly to match ("Rule is too complex"). event-ruler
 * measures this with its MachineComplexityEvaluator: build the matching automaton of a field's `wildcard` and
 * `anything-but: {wildcard}` patterns, and find the input that keeps the most wildcard-pattern states active at
 * once. This file is our own model of that automaton, written from event-ruler's description of it
 * (ByteMachine's wildcard construction) and checked against event-ruler itself on random pattern sets: the
 * same figure for sets of `wildcard` patterns; long `anything-but` wildcard lists can come out 1-2 lower.
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

/**
 * The complexity above which EventBridge refuses a rule. AWS publishes no figure; event-ruler's README uses 10
 * as its per-rule example, and EventBridge is known to have accepted a rule of complexity 9 (three
 * `*:stack/NAME/*` wildcards on one field) and refused the same rule with four (complexity 12).
 */
export const MAX_WILDCARD_COMPLEXITY = 10;

/** Work bound for the search: distinct automaton configurations explored before giving up (accepting). */
const MAX_CONFIGURATIONS = 20_000;

const QUOTE = 0x22;
/** Stands for every character that no pattern names: they all lead to the same states. */
const ANY_OTHER = -1;

/** A state: the token prefix read so far, shared by the values of one pattern that start with it. */
interface TrieNode {
  readonly id: number;
  readonly children: Map<number, TrieNode>;
  /** The state after a `*` here; its loop is the B state. */
  star: TrieNode | undefined;
  /** Some value ends here: all of a pattern's final states count as one. */
  final: boolean;
}

/** One pattern's values as a trie over the code points of the quoted value, `*` as a separate edge. */
function trieOf(values: readonly (readonly string[])[], nextId: () => number): TrieNode {
  const node = (): TrieNode => ({ id: nextId(), children: new Map(), star: undefined, final: false });
  const root = node();
  for (const pieces of values) {
    let at = root;
    const literal = (codePoint: number): void => {
      let child = at.children.get(codePoint);
      if (child === undefined) at.children.set(codePoint, (child = node()));
      at = child;
    };
    literal(QUOTE);
    pieces.forEach((piece, index) => {
      if (index > 0) at = at.star ??= node();
      for (const char of piece) literal(char.codePointAt(0) as number);
    });
    literal(QUOTE);
    at.final = true;
  }
  return root;
}

/** Where one pattern's automaton is: A states (entered by a character) and B states (active `*` loops). */
interface GroupState {
  readonly entered: readonly TrieNode[];
  readonly loops: readonly TrieNode[];
}

function step(state: GroupState, char: number): GroupState {
  const entered = new Set<TrieNode>();
  const loops = new Set<TrieNode>();
  for (const node of state.entered) {
    const child = node.children.get(char);
    if (child !== undefined) entered.add(child);
    if (node.star !== undefined) {
      loops.add(node);
      const afterEmptyStar = node.star.children.get(char); // the `*` matched nothing
      if (afterEmptyStar !== undefined) entered.add(afterEmptyStar);
    }
  }
  for (const node of state.loops) {
    loops.add(node);
    const afterStar = (node.star as TrieNode).children.get(char);
    if (afterStar !== undefined) entered.add(afterStar);
  }
  const byId = (left: TrieNode, right: TrieNode): number => left.id - right.id;
  return { entered: [...entered].sort(byId), loops: [...loops].sort(byId) };
}

function cost(state: GroupState): number {
  let finals = 0;
  let pendingLoops = 0;
  const loops = new Set(state.loops);
  for (const node of state.entered) {
    if (node.final) finals = 1;
    // The evaluator also counts the loop an A state is about to enter.
    if (node.star !== undefined && !loops.has(node)) pendingLoops++;
  }
  const nonFinal = state.entered.filter((node) => !node.final || node.children.size > 0).length;
  return nonFinal + finals + state.loops.length + pendingLoops;
}

/** The characters that move some state somewhere other than its own loop, and one that moves none. */
function relevantCharacters(states: readonly GroupState[]): Set<number> {
  const chars = new Set<number>([ANY_OTHER]);
  for (const state of states) {
    for (const node of state.entered) {
      for (const char of node.children.keys()) chars.add(char);
      if (node.star !== undefined) for (const char of node.star.children.keys()) chars.add(char);
    }
    for (const node of state.loops)
      for (const char of (node.star as TrieNode).children.keys()) chars.add(char);
  }
  return chars;
}

function configurationKey(states: readonly GroupState[]): string {
  return states
    .map(
      (state) =>
        `${state.entered.map((node) => node.id).join(',')}|${state.loops.map((node) => node.id).join(',')}`,
    )
    .join(';');
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
  let ids = 0;
  const nextId = (): number => ids++;
  const distinct = new Map<string, readonly (readonly string[])[]>();
  for (const group of groups) distinct.set(JSON.stringify(group), group); // the same pattern twice is one
  const start: GroupState[] = [...distinct.values()].map((group) => ({
    entered: [trieOf(group, nextId)],
    loops: [],
  }));
  const seen = new Set<string>([configurationKey(start)]);
  const queue: GroupState[][] = [start];
  let worst = 0;
  while (queue.length > 0) {
    const configuration = queue.pop() as GroupState[];
    for (const char of relevantCharacters(configuration)) {
      const next = configuration.map((state) => step(state, char));
      if (next.every((state) => state.entered.length === 0 && state.loops.length === 0)) continue;
      worst = Math.max(
        worst,
        next.reduce((total, state) => total + cost(state), 0),
      );
      if (worst > limit) return worst;
      const key = configurationKey(next);
      if (seen.has(key) || seen.size >= MAX_CONFIGURATIONS) continue;
      seen.add(key);
      queue.push(next);
    }
  }
  return worst;
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
