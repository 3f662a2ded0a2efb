/**
 * SQS's Query protocol (form-encoded `Action=...`, XML answers), what the AWS CLI v2 of Debian
 * (2.9.19) and older SDKs speak: requests are read into the JSON protocol's shapes and answers
 * written from them, so sqs-api.ts has one handler per operation for both protocols.
 *
 * Lists and maps are flattened with 1-based indexes: `AttributeName.1=All`,
 * `Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=60`,
 * `MessageAttribute.1.Name=n&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v`,
 * `SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=...`.
 */
import type { AwsApiError } from './errors.ts';

type Body = Record<string, unknown>;

/** Query names of lists, and the JSON member each is. */
const LISTS: Record<string, string> = {
  AttributeName: 'AttributeNames',
  MessageAttributeName: 'MessageAttributeNames',
  MessageSystemAttributeName: 'MessageSystemAttributeNames',
  SendMessageBatchRequestEntry: 'Entries',
  DeleteMessageBatchRequestEntry: 'Entries',
  ChangeMessageVisibilityBatchRequestEntry: 'Entries',
  TagKey: 'TagKeys',
};

/** Query names of maps: the JSON member, and the key and value fields of an entry. */
const MAPS: Record<string, [string, string, string]> = {
  Attribute: ['Attributes', 'Name', 'Value'],
  MessageAttribute: ['MessageAttributes', 'Name', 'Value'],
  MessageSystemAttribute: ['MessageSystemAttributes', 'Name', 'Value'],
  Tag: ['tags', 'Key', 'Value'],
};

type Tree = { [key: string]: Tree | string };

/** Names that would reach an object's prototype rather than a member of it. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The parameters as a tree of their dotted names (a parameter naming a prototype is ignored). */
function tree(params: URLSearchParams): Tree {
  const root: Tree = Object.create(null) as Tree;
  for (const [key, value] of params) {
    const parts = key.split('.');
    if (parts.some((part) => PROTOTYPE_KEYS.has(part))) continue;
    let node = root;
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1) {
        if (typeof node[part] !== 'object') node[part] = value;
      } else {
        let next = node[part];
        if (typeof next !== 'object') node[part] = next = Object.create(null) as Tree;
        node = next;
      }
    }
  }
  return root;
}

/** Numbered children (`1`, `2`, ...) in order. */
function numbered(node: Tree | string): (Tree | string)[] {
  if (typeof node === 'string') return [];
  return Object.keys(node)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => node[k] as Tree | string);
}

function toJsonShape(node: Tree): Body {
  const body: Body = {};
  for (const [key, value] of Object.entries(node)) {
    const list = LISTS[key];
    const map = MAPS[key];
    if (list) body[list] = numbered(value).map((v) => (typeof v === 'string' ? v : toJsonShape(v)));
    else if (map) {
      const [member, keyField, valueField] = map;
      const entries = Object.create(null) as Body;
      for (const entry of numbered(value)) {
        if (typeof entry === 'string') continue;
        const name = entry[keyField];
        const v = entry[valueField];
        if (typeof name === 'string' && v !== undefined)
          entries[name] = typeof v === 'string' ? v : toJsonShape(v);
      }
      body[member] = entries;
    } else body[key] = typeof value === 'string' ? value : toJsonShape(value);
  }
  return body;
}

/** A Query request's action and its parameters in the JSON protocol's shape. */
export function readQueryRequest(params: URLSearchParams): { action: string; body: Body } {
  const action = params.get('Action') ?? '';
  const { Action: _action, Version: _version, ...rest } = toJsonShape(tree(params));
  // TagQueue's map is `Tags`; CreateQueue's is `tags` (the JSON shapes differ; the Query names do not).
  if (action === 'TagQueue' && rest.tags !== undefined) {
    rest.Tags = rest.tags;
    delete rest.tags;
  }
  return { action, body: rest };
}

const NAMESPACE = 'http://queue.amazonaws.com/doc/2012-11-05/';

/**
 * What XML 1.0 cannot hold even as a character reference: C0 controls but tab, LF and CR, U+FFFE,
 * U+FFFF and lone surrogates. Left out of answers (an echoed name, say): a client's parser would
 * refuse the whole document.
 */
const NOT_XML = new RegExp(
  // eslint-disable-next-line no-control-regex -- control characters are what it finds
  '[\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\uFFFE\\uFFFF]|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]',
  'g',
);

function escape(text: string): string {
  return text.replace(NOT_XML, '').replace(/[<>&'"\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The element each item of a JSON list is written as, per action where it differs. */
function listElement(action: string, member: string): string {
  if (member === 'QueueUrls' || member === 'queueUrls') return 'QueueUrl';
  if (member === 'Messages') return 'Message';
  if (member === 'Failed') return 'BatchResultErrorEntry';
  if (member === 'Successful') return `${action}ResultEntry`;
  if (member === 'Results') return `${action}ResultEntry`;
  return member;
}

function xmlOf(action: string, value: unknown): string {
  if (typeof value !== 'object' || value === null) return escape(String(value));
  let xml = '';
  for (const [member, v] of Object.entries(value as Body)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) {
      const element = listElement(action, member);
      for (const item of v) xml += `<${element}>${xmlOf(action, item)}</${element}>`;
    } else if (member === 'Attributes' || member === 'MessageAttributes' || member === 'Tags') {
      const [element, keyName] =
        member === 'Attributes'
          ? ['Attribute', 'Name']
          : member === 'Tags'
            ? ['Tag', 'Key']
            : ['MessageAttribute', 'Name'];
      for (const [name, item] of Object.entries(v as Body))
        xml += `<${element}><${keyName}>${escape(name)}</${keyName}><Value>${xmlOf(action, item)}</Value></${element}>`;
    } else xml += `<${member}>${xmlOf(action, v)}</${member}>`;
  }
  return xml;
}

/** Actions whose answer is only its metadata: every other answer has its `<ActionResult>`, even empty. */
const NO_RESULT = new Set([
  'DeleteMessage',
  'DeleteQueue',
  'PurgeQueue',
  'SetQueueAttributes',
  'ChangeMessageVisibility',
  'TagQueue',
  'UntagQueue',
  'AddPermission',
  'RemovePermission',
]);

/** An answer in the Query protocol's XML. */
export function queryResponse(action: string, output: Body, requestId: string): string {
  // A client finds the result by its wrapper: an empty ReceiveMessage still answers
  // `<ReceiveMessageResult/>` (the AWS CLI fails on a response without it).
  const result =
    NO_RESULT.has(action) && Object.keys(output).length === 0
      ? ''
      : `<${action}Result>${xmlOf(action, output)}</${action}Result>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NAMESPACE}">${result}` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
  );
}

/** An error in the Query protocol's XML, with SQS's namespace. */
export function queryErrorResponse(error: AwsApiError, requestId: string): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>${type}</Type>` +
    `<Code>${escape(error.code)}</Code><Message>${escape(error.message)}</Message><Detail/></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}
