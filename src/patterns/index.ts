/** EventBridge event patterns with AWS's semantics: validate, compile once, match many, route among rules. */
export { compilePattern, CompiledPattern, type CompileOptions } from './compile.ts';
export { InvalidEventException, InvalidEventPatternException } from './errors.ts';
export { DEFAULT_MAX_PATTERN_LENGTH } from './parse.ts';
export { RuleIndex } from './rule-index.ts';
export { REQUIRED_EVENT_FIELDS, testEventPattern } from './test-event-pattern.ts';
