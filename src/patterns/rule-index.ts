/**
 * Routes an event among many rules without testing every rule against it.
 *
 * Most conditions pin a field to a few literals: exact values, `numeric: ["=", n]`, or `prefix`. For each
 * `$or`-free sub-rule the index takes its (at most two) most selective such conditions, and keeps per field
 * a map from each literal (and each prefix) to the sub-rules whose indexed condition accepts it. For an
 * event, every field value found is looked up, and each hit counts once for the sub-rule's condition on
 * that field; a sub-rule whose indexed conditions have all been hit becomes a candidate. Candidates, and sub-rules with no literal condition at all, are then verified in full, so
 * the index only has to be a necessary condition: arrays, `$or` and `exists` cannot make it wrong.
 */
import {
  compilePattern,
  type CompiledPattern,
  type CompiledSubRule,
  type CompileOptions,
} from './compile.ts';
import { ARRAYS_INVOLVED, collectFields, FieldPath, FieldReadCache, NO_FIELD } from './event-fields.ts';
import type { JsonPrimitive } from './json.ts';
import type { FieldCondition } from './parse.ts';

interface RuleEntry<T> {
  readonly name: string;
  readonly pattern: CompiledPattern;
  readonly target: T;
}

/** A literal a condition accepts: a value its field may equal, or a prefix it may start with. */
type IndexKey = { readonly value: JsonPrimitive; readonly prefix?: undefined } | { readonly prefix: string };

/** The sub-rules with a literal condition on one field, by accepted value and by accepted prefix. */
interface IndexedField {
  readonly path: FieldPath;
  readonly byValue: Map<JsonPrimitive, number[]>;
  readonly byPrefix: Map<string, number[]>;
  /** Distinct prefix lengths in `byPrefix`, ascending: an event value is looked up once per length. */
  prefixLengths: number[];
}

interface IndexedSubRule {
  readonly rulePosition: number;
  readonly subRule: CompiledSubRule;
}

/** The literals a condition accepts, or undefined when it also accepts values no literal describes. */
function indexKeysOf(condition: FieldCondition): IndexKey[] | undefined {
  if (condition.matchesAbsence || condition.patterns.length === 0) return undefined;
  const keys: IndexKey[] = [];
  for (const pattern of condition.patterns) {
    if (pattern.kind === 'exact') keys.push({ value: pattern.value });
    else if (pattern.kind === 'numeric' && pattern.range.lower === pattern.range.upper) {
      keys.push({ value: pattern.range.lower });
    } else if (pattern.kind === 'prefix' && !pattern.ignoreCase && pattern.value !== '') {
      keys.push({ prefix: pattern.value });
    } else return undefined;
  }
  return keys;
}

/** A literal condition of one sub-rule, with the load of the literals it accepts. */
interface Literal {
  readonly condition: FieldCondition;
  readonly field: string;
  readonly keys: readonly IndexKey[];
  cost: number;
}

/** Literal conditions counted per sub-rule; the rest are left to verification. */
const MAX_INDEXED_LITERALS = 2;

function loadKey(field: string, key: IndexKey): string {
  return key.prefix === undefined
    ? `${field}\u0000${typeof key.value}\u0000${String(key.value)}`
    : `${field}\u0000prefix\u0000${key.prefix}`;
}

function addTo<K>(lists: Map<K, number[]>, key: K, id: number): void {
  const list = lists.get(key);
  if (list === undefined) lists.set(key, [id]);
  else if (list[list.length - 1] !== id) list.push(id);
}

/** The index for one set of rules; rebuilt after the rules change. */
class BuiltIndex<T> {
  readonly entries: readonly RuleEntry<T>[];
  private readonly subRules: IndexedSubRule[] = [];
  private readonly fields: IndexedField[] = [];
  /** Per sub-rule: how many of its literal conditions are indexed, i.e. how many hits make it a candidate. */
  private readonly literalConditions: number[] = [];
  /** Sub-rules without literal conditions: verified for every event. */
  private readonly alwaysVerified: number[] = [];

  // Per-event bookkeeping uses stamps rather than clearing: a slot counts only when it holds the stamp.
  private event = 0;
  private fieldVisit = 0;
  private readonly hitsStamp: Uint32Array;
  private readonly hits: Uint32Array;
  private readonly hitFieldStamp: Uint32Array;
  private readonly ruleMatchedStamp: Uint32Array;
  private readonly reads = new FieldReadCache();
  private readonly candidates: number[] = [];

  constructor(entries: readonly RuleEntry<T>[]) {
    this.entries = entries;
    const alternatives: { rulePosition: number; subRule: CompiledSubRule; literals: Literal[] }[] = [];
    // How many sub-rules accept each (field, literal): the work an event carrying it costs.
    const load = new Map<string, number>();
    entries.forEach((entry, rulePosition) => {
      entry.pattern.subRules.forEach((conditions, index) => {
        const literals: Literal[] = [];
        for (const condition of conditions) {
          const keys = indexKeysOf(condition);
          if (keys === undefined) continue;
          const field = condition.path;
          for (const key of keys) load.set(loadKey(field, key), (load.get(loadKey(field, key)) ?? 0) + 1);
          literals.push({ condition, field, keys, cost: 0 });
        }
        const subRule = entry.pattern.compiledSubRules[index] as CompiledSubRule;
        alternatives.push({ rulePosition, subRule, literals });
      });
    });

    const fieldsByKey = new Map<string, IndexedField>();
    for (const { rulePosition, subRule, literals } of alternatives) {
      const id = this.subRules.push({ rulePosition, subRule }) - 1;
      for (const literal of literals) {
        for (const key of literal.keys) literal.cost += load.get(loadKey(literal.field, key)) ?? 0;
      }
      // The most selective literals are enough to make few sub-rules candidates; counting more costs more.
      const indexed = literals.sort((left, right) => left.cost - right.cost).slice(0, MAX_INDEXED_LITERALS);
      for (const { condition, field: fieldKey, keys } of indexed) {
        let field = fieldsByKey.get(fieldKey);
        if (field === undefined) {
          field = {
            path: FieldPath.of(condition.path),
            byValue: new Map(),
            byPrefix: new Map(),
            prefixLengths: [],
          };
          fieldsByKey.set(fieldKey, field);
          this.fields.push(field);
        }
        for (const key of keys) {
          if (key.prefix === undefined) addTo(field.byValue, key.value, id);
          else addTo(field.byPrefix, key.prefix, id);
        }
      }
      this.literalConditions.push(indexed.length);
      if (indexed.length === 0) this.alwaysVerified.push(id);
    }
    for (const field of this.fields) {
      const lengths = new Set([...field.byPrefix.keys()].map((prefix) => prefix.length));
      field.prefixLengths = [...lengths].sort((left, right) => left - right);
    }
    this.hitsStamp = new Uint32Array(this.subRules.length);
    this.hits = new Uint32Array(this.subRules.length);
    this.hitFieldStamp = new Uint32Array(this.subRules.length);
    this.ruleMatchedStamp = new Uint32Array(entries.length);
  }

  /** Positions (in insertion order) of the rules matching `event`. */
  match(event: object): number[] {
    this.startEvent();
    this.candidates.length = 0;
    for (const field of this.fields) {
      this.fieldVisit++;
      const value = this.reads.read(event, field.path);
      if (value === NO_FIELD) continue;
      if (value === ARRAYS_INVOLVED) {
        for (const found of collectFields(event, field.path)) this.hitValue(field, found.value);
      } else if (Array.isArray(value)) {
        for (const element of value as readonly unknown[]) {
          if (typeof element !== 'object' || element === null) this.hitValue(field, element as JsonPrimitive);
        }
      } else {
        this.hitValue(field, value as JsonPrimitive);
      }
    }
    const matched: number[] = [];
    this.verify(this.candidates, event, matched);
    this.verify(this.alwaysVerified, event, matched);
    return matched.length > 1 ? matched.sort((left, right) => left - right) : matched;
  }

  private startEvent(): void {
    this.reads.startEvent();
    this.event++;
    // Stamps are 32-bit: on wrap-around, clear once and start again.
    if (this.event > 0xffffffff || this.fieldVisit > 0xffffffff - 0xffff) {
      this.hitsStamp.fill(0);
      this.hitFieldStamp.fill(0);
      this.ruleMatchedStamp.fill(0);
      this.event = 1;
      this.fieldVisit = 0;
    }
  }

  private hitValue(field: IndexedField, value: JsonPrimitive): void {
    this.hitAll(field.byValue.get(value));
    if (typeof value !== 'string') return;
    for (const length of field.prefixLengths) {
      if (length > value.length) break;
      this.hitAll(field.byPrefix.get(value.slice(0, length)));
    }
  }

  /** Counts one hit per sub-rule for the current field, however many of its values matched. */
  private hitAll(ids: readonly number[] | undefined): void {
    if (ids === undefined) return;
    const { event, fieldVisit } = this;
    for (const id of ids) {
      if (this.hitFieldStamp[id] === fieldVisit) continue;
      this.hitFieldStamp[id] = fieldVisit;
      const hits = this.hitsStamp[id] === event ? (this.hits[id] as number) + 1 : 1;
      this.hitsStamp[id] = event;
      this.hits[id] = hits;
      if (hits === this.literalConditions[id]) this.candidates.push(id);
    }
  }

  private verify(ids: readonly number[], event: object, matched: number[]): void {
    const stamp = this.event;
    for (const id of ids) {
      const { rulePosition, subRule } = this.subRules[id] as IndexedSubRule;
      if (this.ruleMatchedStamp[rulePosition] === stamp) continue;
      if (subRule.matches(event, this.reads)) {
        this.ruleMatchedStamp[rulePosition] = stamp;
        matched.push(rulePosition);
      }
    }
  }
}

/** A set of named rules, each an event pattern with a target; `match` returns the targets of matching rules. */
export class RuleIndex<T> {
  private readonly rules = new Map<string, RuleEntry<T>>();
  private index: BuiltIndex<T> | undefined;
  private readonly options: CompileOptions | undefined;

  constructor(options?: CompileOptions) {
    this.options = options;
  }

  /**
   * Adds a rule, or replaces the pattern and target of the rule with that name (keeping its position).
   * @throws InvalidEventPatternException, leaving the index unchanged.
   */
  add(name: string, pattern: unknown, target: T): void {
    const compiled = compilePattern(pattern, this.options);
    this.rules.set(name, { name, pattern: compiled, target });
    this.index = undefined;
  }

  /** Removes a rule; returns whether it existed. */
  remove(name: string): boolean {
    const removed = this.rules.delete(name);
    if (removed) this.index = undefined;
    return removed;
  }

  has(name: string): boolean {
    return this.rules.has(name);
  }

  get size(): number {
    return this.rules.size;
  }

  /** Targets of the rules matching `event`, in the order the rules were first added. */
  match(event: unknown): T[] {
    return this.matchingEntries(event).map((entry) => entry.target);
  }

  /** Names of the rules matching `event`, in the order the rules were first added. */
  matchNames(event: unknown): string[] {
    return this.matchingEntries(event).map((entry) => entry.name);
  }

  private matchingEntries(event: unknown): RuleEntry<T>[] {
    if (typeof event !== 'object' || event === null || Array.isArray(event) || this.rules.size === 0)
      return [];
    // Built lazily, so a burst of add/remove calls costs one rebuild.
    this.index ??= new BuiltIndex([...this.rules.values()]);
    const index = this.index;
    return index.match(event).map((position) => index.entries[position] as RuleEntry<T>);
  }
}
