/**
 * Compiled patterns: parse once (parse.ts), then match many events without touching the pattern again.
 *
 * A sub-rule matches when every condition holds. Conditions whose field sits under no array of objects are
 * checked directly. The others need event-ruler's array-consistent search: take the conditions in path order,
 * choose for each a matching field whose array membership agrees with the fields chosen so far, and backtrack.
 * `{ "exists": false }` holds when no field at its path agrees with the choices made so far, which, as in
 * event-ruler, makes it depend on the conditions that sort before it.
 */
import {
  ARRAYS_INVOLVED,
  areConsistent,
  collectFields,
  combine,
  FieldPath,
  NO_FIELD,
  NO_MEMBERSHIP,
  readField,
  type ArrayMembership,
  type EventField,
  type FieldReadCache,
} from './event-fields.ts';
import type { JsonPrimitive } from './json.ts';
import { parsePattern, type FieldCondition, type ParseOptions, type SubRule } from './parse.ts';
import { compileValueTest, type LeafTest } from './value-tests.ts';

export type { ParseOptions as CompileOptions } from './parse.ts';

const HOLDS = 1;
const FAILS = 0;
const NEEDS_ARRAY_SEARCH = 2;
type QuickOutcome = typeof HOLDS | typeof FAILS | typeof NEEDS_ARRAY_SEARCH;

const NEVER: LeafTest = () => false;

class CompiledCondition {
  readonly path: FieldPath;
  /** Position in event-ruler's (path) order, which the array-consistent search must follow. */
  readonly order: number;
  private readonly test: LeafTest;
  private readonly matchesAbsence: boolean;

  constructor(condition: FieldCondition, order: number) {
    this.path = FieldPath.of(condition.path);
    this.order = order;
    this.test = compileValueTest(condition.patterns) ?? NEVER;
    this.matchesAbsence = condition.matchesAbsence;
  }

  /** Decides the condition when array membership cannot matter. */
  quickEvaluate(event: object, cache: FieldReadCache | undefined): QuickOutcome {
    const field = cache === undefined ? readField(event, this.path) : cache.read(event, this.path);
    if (field === ARRAYS_INVOLVED) return NEEDS_ARRAY_SEARCH;
    if (field === NO_FIELD) return this.matchesAbsence ? HOLDS : FAILS;
    if (typeof field !== 'object' || field === null) return this.test(field) ? HOLDS : FAILS;
    let present = false;
    for (const element of field) {
      if (typeof element === 'object' && element !== null) continue; // an object is not a leaf
      present = true;
      if (this.test(element as JsonPrimitive)) return HOLDS;
    }
    return !present && this.matchesAbsence ? HOLDS : FAILS;
  }

  accepts(field: EventField): boolean {
    return this.test(field.value);
  }

  acceptsAbsence(): boolean {
    return this.matchesAbsence;
  }
}

export class CompiledSubRule {
  /** Conditions in the order they are tried first: cheap, selective exact-value ones lead. */
  private readonly quickOrder: readonly CompiledCondition[];

  constructor(conditions: SubRule) {
    const compiled = conditions.map((condition, order) => new CompiledCondition(condition, order));
    const exactOnly = (index: number): boolean =>
      (conditions[index] as FieldCondition).patterns.every((pattern) => pattern.kind === 'exact');
    this.quickOrder = [
      ...compiled.filter((condition) => exactOnly(condition.order)),
      ...compiled.filter((condition) => !exactOnly(condition.order)),
    ];
  }

  /** `cache`, when given, must have been started for this event. */
  matches(event: object, cache?: FieldReadCache): boolean {
    let deferred: CompiledCondition[] | undefined;
    for (const condition of this.quickOrder) {
      const outcome = condition.quickEvaluate(event, cache);
      if (outcome === FAILS) return false;
      if (outcome === NEEDS_ARRAY_SEARCH) (deferred ??= []).push(condition);
    }
    if (deferred === undefined) return true;
    deferred.sort((left, right) => left.order - right.order);
    const fields = deferred.map((condition) => collectFields(event, condition.path));
    return searchConsistentFields(deferred, fields, 0, NO_MEMBERSHIP);
  }
}

function searchConsistentFields(
  conditions: readonly CompiledCondition[],
  fields: readonly (readonly EventField[])[],
  index: number,
  membership: ArrayMembership,
): boolean {
  if (index === conditions.length) return true;
  const condition = conditions[index] as CompiledCondition;
  const candidates = fields[index] as readonly EventField[];
  if (
    condition.acceptsAbsence() &&
    !candidates.some((field) => areConsistent(membership, field.membership))
  ) {
    if (searchConsistentFields(conditions, fields, index + 1, membership)) return true;
  }
  for (const field of candidates) {
    if (!areConsistent(membership, field.membership) || !condition.accepts(field)) continue;
    if (searchConsistentFields(conditions, fields, index + 1, combine(membership, field.membership)))
      return true;
  }
  return false;
}

/** A validated, compiled event pattern. */
export class CompiledPattern {
  /** The pattern as compact JSON. */
  readonly source: string;
  /** The `$or`-free alternatives the pattern expands to, as parsed. */
  readonly subRules: readonly SubRule[];
  /** The same alternatives, compiled; the pattern matches when any of them does. */
  readonly compiledSubRules: readonly CompiledSubRule[];

  constructor(source: string, subRules: readonly SubRule[]) {
    this.source = source;
    this.subRules = subRules;
    this.compiledSubRules = subRules.map((subRule) => new CompiledSubRule(subRule));
  }

  /** Whether `event` (a parsed JSON object, the full envelope) matches. Anything but an object never does. */
  matches(event: unknown): boolean {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return false;
    for (const subRule of this.compiledSubRules) if (subRule.matches(event)) return true;
    return false;
  }
}

/**
 * Validates and compiles an event pattern, given as an object or as JSON text.
 * @throws InvalidEventPatternException when EventBridge would refuse the pattern.
 */
export function compilePattern(pattern: unknown, options?: ParseOptions): CompiledPattern {
  const parsed = parsePattern(pattern, options);
  return new CompiledPattern(parsed.source, parsed.subRules);
}
