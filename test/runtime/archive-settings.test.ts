import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyArchiveSettings,
  DEFAULT_ARCHIVE_RETENTION_DAYS,
  readArchiveSettings,
  writeArchiveSettings,
} from '../../src/runtime/local/archive-settings.ts';
import { tempDir } from '../support/cli.ts';

describe('the archive setting on disk', () => {
  it('round-trips what a command asked for', () => {
    const path = join(tempDir(), 'archive.json');
    expect(readArchiveSettings(path)).toEqual({
      enabled: false,
      retentionDays: DEFAULT_ARCHIVE_RETENTION_DAYS,
    });
    applyArchiveSettings(path, { enabled: true, retentionDays: 0 });
    expect(readArchiveSettings(path)).toEqual({ enabled: true, retentionDays: 0 });
  });

  it('reads a field that is not what it should be as its default, and a torn or foreign file as off', () => {
    const path = join(tempDir(), 'archive.json');
    writeFileSync(path, '{"enabled":true,"retentionDays":-3}');
    expect(readArchiveSettings(path)).toEqual({
      enabled: true,
      retentionDays: DEFAULT_ARCHIVE_RETENTION_DAYS,
    });
    writeFileSync(path, '{"enabled":"yes","retentionDays":2.5}');
    expect(readArchiveSettings(path)).toEqual({
      enabled: false,
      retentionDays: DEFAULT_ARCHIVE_RETENTION_DAYS,
    });
    for (const text of ['{"enabled":tr', 'null', '[true]', '7']) {
      writeFileSync(path, text);
      expect(readArchiveSettings(path)).toEqual({
        enabled: false,
        retentionDays: DEFAULT_ARCHIVE_RETENTION_DAYS,
      });
    }
  });

  it('keeps what CreateArchive named (name, description, pattern) when a command switches retention', () => {
    const path = join(tempDir(), 'archive.json');
    const created = {
      enabled: true,
      retentionDays: 0,
      name: 'mine',
      description: 'kept',
      eventPattern: '{"source":["a"]}',
      creationTime: 1_700_000_000,
    };
    writeArchiveSettings(path, created);
    expect(readArchiveSettings(path)).toEqual(created);
    expect(applyArchiveSettings(path, { retentionDays: 5 })).toEqual({ ...created, retentionDays: 5 });
    expect(readArchiveSettings(path)).toEqual({ ...created, retentionDays: 5 });
  });
});
