/** How the app chooses the definition it deploys from CDK context. */
import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../src/pipeline/definition.ts';
import {
  definitionFromContext,
  SENSITIVE_COLUMNS_CONTEXT,
  withSensitiveColumns,
} from '../../src/infra/context.ts';

describe('definitionFromContext', () => {
  it('is the one pipeline definition when the context names nothing', () => {
    expect(definitionFromContext(() => undefined)).toEqual(definePipeline());
  });

  it('marks the columns named by `-c sensitiveColumns=...` sensitive, and only them', () => {
    const definition = definitionFromContext((key) =>
      key === SENSITIVE_COLUMNS_CONTEXT ? 'Street, Zip' : undefined,
    );
    const sensitive = Object.entries(definition.mapping.columns)
      .filter(([, c]) => c.sensitive)
      .map(([name]) => name);
    expect(sensitive).toEqual(['Street', 'Zip']);
    expect(definition.rules).toEqual(definePipeline().rules);
  });

  it('refuses a column the mapping does not have', () => {
    expect(() => withSensitiveColumns(definePipeline().mapping, ['Street', 'Nope'])).toThrow(/Nope/);
  });
});
