/**
 * The TestEventPattern API, locally: does this event (JSON text) match this pattern (JSON text)?
 *
 * The API reference lists id, account, source, time, region, resources and detail-type as mandatory, but
 * EventBridge accepts events without `resources` (LocalStack documents the same observation), so `resources`
 * is not required here. A missing field, an event that is not a JSON object, or not JSON at all, is AWS's
 * ValidationException "Parameter Event is not valid."
 */
import { compilePattern, type CompileOptions } from './compile.ts';
import { InvalidEventException } from './errors.ts';
import { isJsonObject } from './json.ts';

export const REQUIRED_EVENT_FIELDS = ['id', 'account', 'source', 'time', 'region', 'detail-type'] as const;

/**
 * @throws InvalidEventPatternException for a pattern EventBridge would refuse (checked first, as AWS does).
 * @throws InvalidEventException for an event TestEventPattern would refuse.
 */
export function testEventPattern(pattern: string, event: string, options?: CompileOptions): boolean {
  const compiled = compilePattern(pattern, options);
  let parsed: unknown;
  try {
    parsed = JSON.parse(event);
  } catch (error) {
    throw new InvalidEventException(
      `not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (!isJsonObject(parsed)) throw new InvalidEventException('the event must be a JSON object');
  for (const field of REQUIRED_EVENT_FIELDS) {
    if (!Object.hasOwn(parsed, field)) throw new InvalidEventException(`missing required field "${field}"`);
  }
  return compiled.matches(parsed);
}
