/**
 * Quarantine Lambda: the error rule's `row-failed` events from the quarantine queue -> one item per
 * failed row in the runs table, beside the run's tally:
 *   run = <run id>, sk = "failed#<row, 10 digits>#<stage>", row, stage, reason, column?, eventId, time
 * Durable (point-in-time recovery) and queryable per run:
 *   aws dynamodb query --table-name <RunsTable> --key-condition-expression "#r = :run AND begins_with(sk, :f)"
 * Keyed by run, row and stage, so a redelivered event overwrites its own item.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { RUNS_TABLE_KEY } from '../../adapters/dynamodb-tally-store.ts';
import { DynamoItemWriter } from '../../adapters/dynamodb-writer.ts';
import type { EventPublisher, Item, ItemWriter } from '../../stages/ports.ts';
import { type FailedRow, type FailedRowStore, quarantineStage } from '../../stages/quarantine.ts';
import { dynamoClient, stageLogger } from './clients.ts';
import { Env, type EnvSource, pipelineFromEnv, requireEnv } from './config.ts';
import { metricsOf, ruleOf } from './metrics.ts';
import { type SqsBatchHandler, type SqsStageDeps, sqsStageHandler } from './sqs-batch.ts';

export const QUARANTINE_SK_PREFIX = 'failed#';
/** The attribute that identifies a quarantined row across runs (the writer deduplicates on it). */
export const QUARANTINE_ID = 'id';

export interface QuarantineDeps extends Omit<SqsStageDeps, 'publisher'> {
  /** Writes to the runs table, deduplicating on QUARANTINE_ID. */
  writer: ItemWriter;
  logger: Logger;
}

export function quarantineItem(d: FailedRow): Item {
  const sk = `${QUARANTINE_SK_PREFIX}${String(d.row).padStart(10, '0')}#${d.stage}`;
  const item: Item = {
    [RUNS_TABLE_KEY.partitionKey]: { S: d.run },
    [RUNS_TABLE_KEY.sortKey]: { S: sk },
    [QUARANTINE_ID]: { S: `${d.run}/${d.row}/${d.stage}` },
    row: { N: String(d.row) },
    stage: { S: d.stage },
    reason: { S: d.reason },
    eventId: { S: d.id },
    time: { S: d.time },
  };
  if (typeof d.column === 'string') item.column = { S: d.column };
  return item;
}

export function createQuarantineHandler(deps: QuarantineDeps): SqsBatchHandler {
  const store = new RunsTableFailedRows(deps.writer, deps.logger);
  return sqsStageHandler(quarantineStage({ store }), { ...deps, publisher: NO_OUTPUT });
}

/** Failed rows kept as items of their run in the runs table. */
class RunsTableFailedRows implements FailedRowStore {
  constructor(
    private readonly writer: ItemWriter,
    private readonly logger: Logger,
  ) {}

  async keep(rows: readonly FailedRow[]): Promise<readonly FailedRow[]> {
    const rowOf = new Map<Item, FailedRow>();
    for (const row of rows) {
      rowOf.set(quarantineItem(row), row);
      this.logger.warn('row quarantined', {
        run: row.run,
        row: row.row,
        stage: row.stage,
        reason: row.reason,
      });
    }
    const failures = await this.writer.writeItems([...rowOf.keys()]);
    return failures.map((f) => rowOf.get(f.item)).filter((r): r is FailedRow => r !== undefined);
  }
}

/** Quarantine emits no events. */
const NO_OUTPUT: EventPublisher = {
  putEvents: async (entries) => {
    if (entries.length > 0) throw new Error('quarantine emits no events');
  },
};

export function quarantineDepsFromEnv(env: EnvSource): QuarantineDeps {
  // Its rule's name and the metrics namespace come from the definition (the defaults' parts suffice).
  const definition = pipelineFromEnv(env);
  return {
    metrics: { emf: metricsOf(definition), delivery: ruleOf(definition, 'quarantine') },
    writer: new DynamoItemWriter({
      client: dynamoClient(),
      tableName: requireEnv(env, Env.runsTableName),
      key: QUARANTINE_ID,
    }),
    logger: stageLogger('quarantine'),
  };
}
