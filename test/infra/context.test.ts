/** How the app chooses the definition it deploys from CDK context. */
import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../src/pipeline/definition.ts';
import { parseMapping } from '../../src/pipeline/mapping.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DefinitionContextError,
  definitionFromContext,
  MAPPING_CONTEXT,
  SENSITIVE_COLUMNS_CONTEXT,
  SOURCE_CONTEXT,
  withSensitiveColumns,
} from '../../src/infra/context.ts';

describe('definitionFromContext', () => {
  it('is the one pipeline definition when the context names nothing', () => {
    expect(definitionFromContext(() => undefined)).toEqual(definePipeline());
  });

  it('takes `-c concurrency=N -c maxWritesPerSecond=N` for every stage and the load writes', () => {
    const context: Record<string, unknown> = { concurrency: '6', maxWritesPerSecond: '300' };
    const definition = definitionFromContext((key) => context[key]);
    expect(Object.values(definition.delivery).map((d) => d.concurrency)).toEqual([6, 6, 6, 6]);
    expect(definition.writes).toEqual({ maxWritesPerSecond: 300 });
    expect(() => definitionFromContext((key) => ({ concurrency: '1' })[key])).toThrow(
      new DefinitionContextError(
        "concurrency: concurrency must be a whole number from 2 to 1000 (an SQS event source's maximum concurrency), not 1",
      ),
    );
    expect(() => definitionFromContext((key) => ({ maxWritesPerSecond: 'lots' })[key])).toThrow(
      new DefinitionContextError('maxWritesPerSecond: not a whole number: lots'),
    );
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

  it('refuses to mark a key column, or a column a template reads, sensitive', () => {
    expect(() => withSensitiveColumns(definePipeline().mapping, ['ID'])).toThrow(
      'sensitiveColumns: columns.ID.sensitive: the key column cannot be sensitive',
    );
    const templated = parseMapping({
      key: { partition: 'id', sort: 'sk' },
      columns: { ID: { attribute: 'id' }, Town: { attribute: 'town' } },
      templates: { sk: 'T#{Town}' },
    });
    expect(() => withSensitiveColumns(templated, ['Town'])).toThrow(
      'sensitiveColumns: templates.sk: template reads the sensitive column "Town"',
    );
  });

  it('deploys the mapping file and event source that `-c mapping=... -c source=...` name', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ctx-')), 'mapping.json');
    const mapping = {
      key: 'id',
      columns: { ID: { attribute: 'id' }, Email: { attribute: 'email', sensitive: true } },
    };
    writeFileSync(file, JSON.stringify(mapping));
    const context: Record<string, string> = { [MAPPING_CONTEXT]: file, [SOURCE_CONTEXT]: 'acme.etl' };
    const definition = definitionFromContext((key) => context[key]);
    expect(definition.mapping.columns.Email).toEqual({ attribute: 'email', type: 'string', sensitive: true });
    expect(definition.source).toBe('acme.etl');
    expect(definition.rules.map((r) => r.eventPattern.source)).toEqual([
      ['acme.etl'],
      ['acme.etl'],
      ['acme.etl'],
      ['acme.etl'],
    ]);
  });

  it('refuses a bad mapping file with the message etl run gives', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ctx-')), 'mapping.json');
    writeFileSync(file, '{"key": "id", "columns": {"ID": {"attribute": "id", "type": "text"}}}');
    expect(() => definitionFromContext((key) => (key === MAPPING_CONTEXT ? file : undefined))).toThrow(
      `${file}: columns.ID.type: `,
    );
  });
});
