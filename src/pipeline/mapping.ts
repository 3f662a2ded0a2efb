/** Which CSV columns become which DynamoDB attributes, with their types. */
export type ColumnType = 'string' | 'number' | 'boolean';

export interface ColumnMapping {
  attribute: string;
  type: ColumnType;
  required?: boolean;
  /** Encrypted in events; only the load stage sees the plaintext. */
  sensitive?: boolean;
}

export interface Mapping {
  /** The attribute that is the table's partition key. */
  key: string;
  columns: Record<string, ColumnMapping>;
}

/** The seed's load Lambda: five string attributes, `id` from `ID`. */
export const SEED_MAPPING: Mapping = {
  key: 'id',
  columns: {
    ID: { attribute: 'id', type: 'string', required: true },
    HouseNum: { attribute: 'house_number', type: 'string' },
    Street: { attribute: 'street_address', type: 'string' },
    Town: { attribute: 'town', type: 'string' },
    Zip: { attribute: 'zip', type: 'string' },
  },
};
