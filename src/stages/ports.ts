/**
 * Ports: what the stages need from the world. Runtimes supply adapters (the local bus, the AWS SDK
 * clients); the stages never import either.
 */
import type { PutEventsEntry } from '../pipeline/events.ts';
import type { Mapping } from '../pipeline/mapping.ts';

/** Puts events on the bus. Resolves once every entry is accepted (retrying failed entries). */
export interface EventPublisher {
  putEvents(entries: PutEventsEntry[]): Promise<void>;
  /**
   * Puts several PutEvents-sized requests at once, resolving with each one's error (undefined where
   * it was accepted). For a bus that can take them in one write (the local journal).
   */
  putRequests?(requests: PutEventsEntry[][]): Promise<(Error | undefined)[]>;
}

/**
 * The mapping a run's rows are transformed and loaded by: the run's own where the runtime records it
 * (locally), else the deployment's.
 */
export type MappingSource = (run: string) => Promise<Mapping>;

/** A DynamoDB attribute value, in the API's own shape (numbers stay text: DynamoDB keeps 38 digits). */
export type ItemValue =
  | { S: string }
  | { N: string }
  | { BOOL: boolean }
  | { B: Uint8Array }
  | { SS: string[] }
  | { NS: string[] }
  | { M: Record<string, ItemValue> }
  | { L: ItemValue[] }
  | { NULL: true };
export type Item = Record<string, ItemValue>;

export interface WriteFailure {
  item: Item;
  reason: string;
  /**
   * The table refused the item itself (a validation error): writing it again cannot succeed. Absent,
   * the item was left unwritten for now (throttling) and its row is to be retried later.
   */
  refused?: boolean;
  /** The table throttled the write (over its throughput): retried as `throttled`, not `unprocessed`. */
  throttled?: boolean;
}

/**
 * Writes items keyed by the mapping's key, in the mapping's write mode; writing the same item twice
 * leaves one item (and in `insert` mode, the second write is not a failure).
 */
export interface ItemWriter {
  /**
   * Returns the items that could not be written (after retries), each with its reason. Throws when
   * the table cannot be reached at all, so the caller retries the whole batch.
   */
  writeItems(items: Item[]): Promise<WriteFailure[]>;
}

/**
 * The key service could not be reached or was busy (KMS throttling, a network error): the value may
 * well decrypt later, so its row is retried, not failed.
 */
export class KeyServiceUnavailableError extends Error {
  override readonly name = 'KeyServiceUnavailableError';
}

/** Envelope encryption of sensitive values, a data key per run. */
export interface FieldCipher {
  encrypt(run: string, plaintext: string): Promise<string>;
  decrypt(run: string, ciphertext: string): Promise<string>;
}

export type RowState = 'extracted' | 'transformed' | 'loaded' | 'failed';

export interface RunCounts {
  run: string;
  file?: string;
  /** Data rows in the file, known once extraction completed. */
  expected?: number;
  extracted: number;
  transformed: number;
  loaded: number;
  failed: number;
  /** Rows whose event exhausted its retries and went to a dead-letter queue (local runtime). */
  deadLettered?: number;
  /** Distinct rows loaded or failed: the run is complete when this reaches `expected`. */
  settled: number;
  completed: boolean;
}

/** The observer's tally. Marking the same row twice counts it once (events may be redelivered). */
export interface TallyStore {
  markRows(run: string, state: RowState, rows: readonly number[]): Promise<void>;
  setRun(run: string, fields: { file?: string; expected?: number }): Promise<void>;
  counts(run: string): Promise<RunCounts | undefined>;
  /**
   * Takes the right to put the run's run-completed: true for one caller at a time, until that caller
   * confirms (then never again) or releases; a claim neither confirmed nor released (its holder died)
   * lapses, so that a redelivery claims it again.
   */
  claimCompletion(run: string): Promise<boolean>;
  /** After run-completed was put: the run is completed. */
  confirmCompletion(run: string): Promise<void>;
  /** Undoes a claim whose run-completed event could not be put, so a redelivery claims it again. */
  releaseCompletion(run: string): Promise<void>;
}

/** A run's data key, plaintext for use and wrapped for travel (KMS GenerateDataKey's shape). */
export interface DataKey {
  plaintext: Uint8Array;
  /** The key encrypted under the master key; safe to put in events. */
  wrapped: Uint8Array;
}

/** Where data keys come from: KMS on AWS, a key file under the state directory locally. */
export interface DataKeyProvider {
  /** A fresh 256-bit data key (KMS GenerateDataKey, AES_256). */
  generateDataKey(context: Record<string, string>): Promise<DataKey>;
  /** The plaintext of a wrapped data key (KMS Decrypt). */
  unwrapDataKey(wrapped: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
}
