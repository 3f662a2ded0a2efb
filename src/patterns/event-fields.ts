/**
 * Reading a pattern's field from an event.
 *
 * event-ruler flattens an event into leaf fields (strings, numbers, booleans, null) named by their dotted
 * path; objects and empty arrays are not fields, and each element of an array of leaves is a field of the
 * array's own name. Every field also records which element of each enclosing array of objects it came from
 * (its "array membership"): a match may not combine fields from different elements of the same array.
 *
 * Most fields sit under no array of objects, so their membership is empty and irrelevant; `readField` finds
 * those without allocating and only reports "arrays involved" otherwise, when `collectFields` gathers every
 * field at the path together with its membership.
 */
import { isInheritedObjectKey, type JsonPrimitive } from './json.ts';

/** One path step into an array of objects or of arrays: which element the field lives in. */
export interface ArrayStep {
  readonly array: readonly unknown[];
  readonly index: number;
}
export type ArrayMembership = readonly ArrayStep[];
export const NO_MEMBERSHIP: ArrayMembership = [];

export interface EventField {
  readonly value: JsonPrimitive;
  readonly membership: ArrayMembership;
}

/** One way an object can hold the rest of a path: the key, and the segment the path continues at. */
interface KeyStep {
  readonly key: string;
  readonly next: number;
  /** Keys like "constructor" also exist on Object.prototype, so reading them must check own-ness. */
  readonly inherited: boolean;
}

/**
 * A walk of one path, precomputed. event-ruler names a field by joining the keys from the root with dots, so
 * the event keys `{"a": {"b.c": 1}}`, `{"a.b": {"c": 1}}` and `{"a": {"b": {"c": 1}}}` all hold field
 * "a.b.c". At each step an object may therefore hold the rest of the path under any dot-joined run of the
 * remaining segments, and the walk tries each.
 */
export class FieldPath {
  /** Process-wide: one entry per distinct path ever compiled, which real rule sets keep small. */
  private static readonly interned = new Map<string, FieldPath>();

  /** The shared FieldPath for a dotted field name; its `id` lets a FieldReadCache remember one read per path. */
  static of(name: string): FieldPath {
    let path = FieldPath.interned.get(name);
    if (path === undefined) {
      path = new FieldPath(name, FieldPath.interned.size);
      FieldPath.interned.set(name, path);
    }
    return path;
  }

  readonly name: string;
  /** The name split at its dots. */
  readonly segments: readonly string[];
  readonly id: number;
  /** Per segment index: the keys an object may hold the path's remainder under, the single segment first. */
  readonly steps: readonly (readonly KeyStep[])[];

  private constructor(name: string, id: number) {
    this.name = name;
    this.segments = name.split('.');
    this.id = id;
    this.steps = this.segments.map((_, start) => {
      const steps: KeyStep[] = [];
      for (let end = start + 1; end <= this.segments.length; end++) {
        const key = this.segments.slice(start, end).join('.');
        steps.push({ key, next: end, inherited: isInheritedObjectKey(key) });
      }
      return steps;
    });
  }
}

function childAt(node: object, step: KeyStep): unknown {
  if (step.inherited && !Object.hasOwn(node, step.key)) return undefined;
  return (node as Record<string, unknown>)[step.key];
}

/**
 * `readField` result: the path crosses an array of objects, so fields carry array membership, or the event
 * spells the path in more than one way (`a.b` and `a` -> `b`); either way collectFields must do the walk.
 */
export const ARRAYS_INVOLVED: unique symbol = Symbol('arrays involved');
/** `readField` result: no field at the path (it is missing, or holds an object). */
export const NO_FIELD: unique symbol = Symbol('no field');

export type FieldRead = JsonPrimitive | readonly unknown[] | typeof NO_FIELD | typeof ARRAYS_INVOLVED;

/**
 * Remembers `readField` results for one event at a time, so that many rules reading the same fields (a
 * RuleIndex routing one event) walk each path once. Call `startEvent` before each event.
 */
export class FieldReadCache {
  private epoch = 0;
  private stamps = new Uint32Array(64);
  private readonly reads: FieldRead[] = [];

  startEvent(): void {
    this.epoch = this.epoch === 0xffffffff ? 1 : this.epoch + 1;
    if (this.epoch === 1) this.stamps.fill(0);
  }

  read(event: object, path: FieldPath): FieldRead {
    const id = path.id;
    if (id >= this.stamps.length) {
      const grown = new Uint32Array(Math.max(id + 1, this.stamps.length * 2));
      grown.set(this.stamps);
      this.stamps = grown;
    }
    if (this.stamps[id] === this.epoch) return this.reads[id] as FieldRead;
    const read = readField(event, path);
    this.stamps[id] = this.epoch;
    this.reads[id] = read;
    return read;
  }
}

/**
 * The leaf at `path` when no array of objects is on the way: a single value, an array whose leaf elements
 * are the fields (membership-free), NO_FIELD, or ARRAYS_INVOLVED when the caller must use collectFields.
 */
export function readField(event: object, path: FieldPath): FieldRead {
  let node: unknown = event;
  const depth = path.segments.length;
  let index = 0;
  while (index < depth) {
    if (typeof node !== 'object' || node === null) return NO_FIELD;
    if (Array.isArray(node)) return ARRAYS_INVOLVED;
    const candidates = path.steps[index] as readonly KeyStep[];
    let found = childAt(node, candidates[0] as KeyStep);
    let next = index + 1;
    for (let candidate = 1; candidate < candidates.length; candidate++) {
      const step = candidates[candidate] as KeyStep;
      const child = childAt(node, step);
      if (child === undefined) continue;
      if (found !== undefined) return ARRAYS_INVOLVED;
      found = child;
      next = step.next;
    }
    if (found === undefined) return NO_FIELD;
    node = found;
    index = next;
  }
  if (typeof node !== 'object' || node === null) return node as JsonPrimitive;
  if (!Array.isArray(node)) return NO_FIELD;
  // Leaves inside nested arrays carry membership of the enclosing array.
  for (const element of node) if (Array.isArray(element)) return ARRAYS_INVOLVED;
  return node;
}

function isLeaf(value: unknown): value is JsonPrimitive {
  return typeof value !== 'object' || value === null;
}

/** Every field at `path`, with array membership (event-ruler's Event.loadObject/loadArray, for one path). */
export function collectFields(event: object, path: FieldPath): EventField[] {
  const fields: EventField[] = [];
  walk(event, 0, NO_MEMBERSHIP);
  return fields;

  function walk(node: unknown, segment: number, membership: ArrayMembership): void {
    if (typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      // An intermediate array: the path continues inside each element that is an object or an array.
      node.forEach((element, index) => {
        if (!isLeaf(element)) walk(element, segment, [...membership, { array: node, index }]);
      });
      return;
    }
    if (segment === path.segments.length) return;
    for (const step of path.steps[segment] as readonly KeyStep[]) {
      const child = childAt(node, step);
      if (child === undefined) continue;
      if (step.next === path.segments.length) addLeaves(child, membership);
      else walk(child, step.next, membership);
    }
  }

  function addLeaves(node: unknown, membership: ArrayMembership): void {
    if (isLeaf(node)) {
      fields.push({ value: node, membership });
      return;
    }
    if (!Array.isArray(node)) return;
    node.forEach((element, index) => {
      // Leaf elements belong to no element of this array; nested arrays do.
      if (isLeaf(element)) fields.push({ value: element, membership });
      else if (Array.isArray(element)) addLeaves(element, [...membership, { array: node, index }]);
    });
  }
}

/** event-ruler's ArrayMembership.checkArrayConsistency: no array may be entered at two different elements. */
export function areConsistent(left: ArrayMembership, right: ArrayMembership): boolean {
  for (const step of left) {
    for (const other of right) {
      if (step.array === other.array && step.index !== other.index) return false;
    }
  }
  return true;
}

/** The membership of a match that used fields with both memberships (assumed consistent). */
export function combine(left: ArrayMembership, right: ArrayMembership): ArrayMembership {
  if (right.length === 0) return left;
  if (left.length === 0) return right;
  const added = right.filter((step) => !left.some((existing) => existing.array === step.array));
  return added.length === 0 ? left : [...left, ...added];
}
