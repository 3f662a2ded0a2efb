/** JSON value types shared by the engine, and the checks that keep non-JSON JavaScript values out. */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** True for a plain (non-array, non-null) object, the only shape an event or a pattern can have. */
export function isJsonObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A leaf an event can carry: what EventBridge calls a field value. */
export function isJsonPrimitive(value: unknown): value is JsonPrimitive {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

/**
 * Describes the first part of `value` that JSON cannot represent (undefined, NaN, a function, a Date,
 * a class instance...), or returns undefined when `value` is plain JSON data.
 */
export function findNonJsonPart(value: unknown, where = 'pattern'): string | undefined {
  if (isJsonPrimitive(value)) return undefined;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const problem = findNonJsonPart(value[index], `${where}[${index}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (isJsonObject(value)) {
    for (const key of Object.keys(value)) {
      const problem = findNonJsonPart(value[key], `${where}.${key}`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  const kind =
    typeof value === 'number'
      ? String(value)
      : typeof value === 'object'
        ? 'a non-plain object'
        : typeof value;
  return `${where} is ${kind}, which is not a JSON value`;
}

/** Object.prototype member names: reading them from a parsed object must check own-ness. */
export function isInheritedObjectKey(key: string): boolean {
  return key in Object.prototype;
}
