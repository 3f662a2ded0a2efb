/**
 * The code base's errors come in two kinds (src/pipeline/errors.ts): a UserError is the user's to fix
 * (the CLI prints one line and exits with its code), an AwsApiError is answered in AWS's shape (the
 * edge). The CLI and the edge each decide with one `instanceof`, so every error class has to say
 * which kind it is: these tests find every exported Error subclass in src/ and check its kind.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AwsApiError, UserError } from '../../src/pipeline/errors.ts';
import { etl, tempDir } from '../support/cli.ts';

type Kind = 'user' | 'aws' | 'internal';

/** Every exported Error subclass in src/, and what it is. A new one must be added here. */
const EXPECTED: Record<string, Kind> = {
  UserError: 'user',
  // The ones the CLI used to list one by one.
  ExtractError: 'user',
  InputFileError: 'user',
  TableKeyMismatchError: 'user',
  StateDirInUseError: 'user',
  StateDirError: 'user',
  // The ones the CLI caught and rethrew as a UserError.
  MappingError: 'user',
  // A setting out of range: an option (the CLI names it) or a CDK context value.
  DefinitionError: 'user',
  DefinitionContextError: 'user',
  NoArchiveError: 'user',
  EdgePortInUseError: 'user',
  DashboardPortInUseError: 'user',
  // A user-rules.json that does not read back (hand-edited, or a pattern the bus now refuses).
  UserRulesFileError: 'user',
  InvalidBucketNameError: 'user',
  // etl scan --table naming a table the state directory does not have.
  NoSuchTableError: 'user',
  // A file changed while read, an S3 object gone or overwritten since its notification.
  SourceChangedError: 'user',
  ObjectChangedError: 'user',
  ObjectNotFoundError: 'user',
  // The AWS runtime's environment, set by whoever deployed it.
  ConfigError: 'user',
  AwsApiError: 'aws',
  InvalidEventPatternException: 'aws',
  InvalidEventException: 'aws',
  PutEventsValidationError: 'aws',
  // The edge closes the connection after answering it.
  UnreadBodyError: 'aws',
  // The batcher's guard: its callers check an entry's size first (an oversized row fails alone).
  EntryTooLargeError: 'internal',
  // Failures of a call, reported (and retried) by the runtime that made it.
  PutEventsFailedError: 'internal',
  IncompleteObjectError: 'internal',
  AwsChunkedError: 'internal',
  // The key service out of reach: the load batch is retried.
  KeyServiceUnavailableError: 'internal',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * Every exported class whose `extends` chain, read from the sources, reaches Error, with its module.
 * (Read, not imported: importing every module would run the entry points and load the CDK.)
 */
function exportedErrorClasses(): { name: string; file: string }[] {
  const bases = new Map<string, string>();
  const exported: { name: string; file: string }[] = [];
  for (const file of sourceFiles('src')) {
    const text = readFileSync(file, 'utf8');
    for (const [, exportKeyword, name, base] of text.matchAll(/^(export )?class (\w+) extends (\w+)/gm)) {
      bases.set(name as string, base as string);
      if (exportKeyword) exported.push({ name: name as string, file });
    }
  }
  const isError = (name: string, depth = 0): boolean => {
    const base = bases.get(name);
    if (base === undefined || depth > 10) return false;
    return base === 'Error' || isError(base, depth + 1);
  };
  return exported.filter(({ name }) => isError(name));
}

describe('error classes', () => {
  const found = exportedErrorClasses();

  it('are each classified: every exported Error subclass in src/ is listed above, and only those', () => {
    expect(found.map((c) => c.name).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(found.map((c) => [c.name, relative('.', c.file)]))(
    '%s (%s) is the kind of error it is listed as',
    async (name, file) => {
      const module = (await import(pathToFileURL(join(process.cwd(), file)).href)) as Record<string, unknown>;
      const errorClass = module[name] as { prototype: unknown };
      const kind: Kind =
        errorClass.prototype instanceof UserError || errorClass === UserError
          ? 'user'
          : errorClass.prototype instanceof AwsApiError || errorClass === AwsApiError
            ? 'aws'
            : 'internal';
      expect(errorClass.prototype).toBeInstanceOf(Error);
      expect(kind).toBe(EXPECTED[name]);
    },
  );

  it('are never both kinds', () => {
    expect(Object.create(UserError.prototype)).not.toBeInstanceOf(AwsApiError);
    expect(Object.create(AwsApiError.prototype)).not.toBeInstanceOf(UserError);
  });

  it('carry their exit code (2 unless said) and AWS error code and status', () => {
    expect(new UserError('bad input').exitCode).toBe(2);
    expect(new UserError('other', { exitCode: 3 }).exitCode).toBe(3);
    const aws = new AwsApiError('ResourceNotFoundException', 'Rule r does not exist.', 400);
    expect([aws.code, aws.status, aws.name, aws.message]).toEqual([
      'ResourceNotFoundException',
      400,
      'ResourceNotFoundException',
      'Rule r does not exist.',
    ]);
  });
});

describe('a user error raised deep in the local runtime, at the command line', () => {
  it('prints one line, no stack trace, and exits with its code (a table keyed otherwise: TableKeyMismatchError)', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    expect((await etl(['run', 'data/test_data.csv', '--state-dir', state])).code).toBe(0);
    const mapping = join(dir, 'mapping.json');
    writeFileSync(
      mapping,
      JSON.stringify({ key: 'town', columns: { Town: { attribute: 'town' }, ID: { attribute: 'id' } } }),
    );
    const result = await etl(['run', 'data/test_data.csv', '--mapping', mapping, '--state-dir', state]);
    expect(result.stderr).toBe(
      'etl: table TransformedData has key "id" (S) but the mapping\'s key is "town" (S); ' +
        'use a mapping with the same key, another "table", or another --state-dir\n',
    );
    expect(result.code).toBe(new UserError('').exitCode);
  });

  it('prints one line and exits 2 for a replay without an archive (NoArchiveError)', async () => {
    const result = await etl([
      'replay',
      '--from',
      '2026-01-01T00:00:00Z',
      '--state-dir',
      join(tempDir(), 's'),
    ]);
    expect(result).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^etl: there is no archive to replay: [^\n]*--archive\)\n$/) as string,
    });
  });
});
