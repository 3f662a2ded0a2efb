import { describe, expect, it } from 'vitest';
import {
  parseJsonPath,
  readJsonPath,
  targetPayload,
  type TargetInput,
  validateTargetInput,
} from '../../src/pipeline/input-transformer.ts';

/** The user guide's example event ("Amazon EventBridge input transformation"). */
const EC2_EVENT = {
  version: '0',
  id: '7bf73129-1428-4cd3-a780-95db273d1602',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '123456789012',
  time: '2015-11-11T21:29:54Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111'],
  detail: { 'instance-id': 'i-0123456789', state: 'RUNNING' },
};

/** The guide's input path for it. */
const PATHS = { timestamp: '$.time', instance: '$.detail.instance-id', state: '$.detail.state' };

const CONTEXT = {
  ruleName: 'example',
  ruleArn: 'arn:aws:events:us-east-2:123456789012:rule/example',
  ingestionTime: '2015-11-11T21:29:55Z',
};

const transform = (
  template: string,
  paths: Record<string, string> = PATHS,
  event: object = EC2_EVENT,
): string =>
  targetPayload(event, { InputTransformer: { InputPathsMap: paths, InputTemplate: template } }, CONTEXT);

/** The guide's template/output table, verbatim; outputs compared as the JSON (or text) they are. */
const GUIDE_EXAMPLES: { name: string; template: string; output: string }[] = [
  {
    name: 'Simple string',
    template: '"instance <instance> is in <state>"',
    output: '"instance i-0123456789 is in RUNNING"',
  },
  {
    name: 'String with escaped quotes',
    template: '"instance \\"<instance>\\" is in <state>"',
    output: '"instance \\"i-0123456789\\" is in RUNNING"',
  },
  {
    name: 'Simple JSON',
    template: '{\n  "instance" : <instance>,\n  "state": <state>\n}',
    output: '{\n  "instance" : "i-0123456789",\n  "state": "RUNNING"\n}',
  },
  {
    name: 'JSON with strings and variables',
    template:
      '{\n "instance" : <instance>,\n "state": "<state>",\n "instanceStatus": "instance \\"<instance>\\" is in <state>"\n}',
    output:
      '{\n "instance" : "i-0123456789",\n "state": "RUNNING",\n "instanceStatus": "instance \\"i-0123456789\\" is in RUNNING"\n}',
  },
  {
    name: 'JSON with a mix of variables and static information',
    template: '{\n  "instance" : <instance>,\n  "state": [ 9, <state>, true ],\n  "Transformed" : "Yes"\n}',
    output:
      '{\n  "instance" : "i-0123456789",\n  "state": [\n    9,\n    "RUNNING",\n    true\n  ],\n  "Transformed" : "Yes"\n}',
  },
  {
    name: 'Including reserved variables in a string',
    template: '"<aws.events.rule-name> triggered"',
    output: '"example triggered"',
  },
];

describe('input transformer: the user guide examples', () => {
  it.each(GUIDE_EXAMPLES)('$name', ({ template, output }) => {
    expect(JSON.parse(transform(template))).toEqual(JSON.parse(output));
  });

  it('Including reserved variables in JSON', () => {
    const template =
      '{\n  "instance" : <instance>,\n  "state": <state>,\n  "ruleArn" : <aws.events.rule-arn>,\n  "ruleName" : <aws.events.rule-name>,\n  "originalEvent" : <aws.events.event>\n}';
    const { detail: _detail, ...withoutDetail } = EC2_EVENT;
    expect(JSON.parse(transform(template))).toEqual({
      instance: 'i-0123456789',
      state: 'RUNNING',
      ruleArn: 'arn:aws:events:us-east-2:123456789012:rule/example',
      ruleName: 'example',
      originalEvent: withoutDetail,
    });
  });

  it('the API reference examples: a text template, escaped quotes, variables in and out of quotes', () => {
    const paths = { instance: '$.detail.instance', status: '$.detail.status' };
    const event = { ...EC2_EVENT, detail: { instance: 'i-1', status: 'stopped' } };
    expect(transform('<instance> is in state <status>', paths, event)).toBe('i-1 is in state stopped');
    expect(transform('<instance> is in state "<status>"', paths, event)).toBe('i-1 is in state "stopped"');
    expect(
      JSON.parse(
        transform(
          '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<status>\\""}',
          paths,
          event,
        ),
      ),
    ).toEqual({ myInstance: 'i-1', myStatus: 'i-1 is in state "stopped"' });
  });
});

describe('input transformer: quoting and values', () => {
  const event = {
    ...EC2_EVENT,
    detail: { text: 'say "hi"\n', n: 12.5, ok: false, list: [1, { a: 'b' }], obj: { x: [1] }, none: null },
  };
  const paths = {
    text: '$.detail.text',
    n: '$.detail.n',
    ok: '$.detail.ok',
    list: '$.detail.list',
    obj: '$.detail.obj',
    none: '$.detail.none',
    missing: '$.detail.missing',
    second: '$.detail.list[1].a',
    all: '$.detail.obj.*',
  };
  const cases: { name: string; template: string; expected: unknown; text?: boolean }[] = [
    {
      name: 'a string outside quotes is a JSON string',
      template: '{"v": <text>}',
      expected: { v: 'say "hi"\n' },
    },
    {
      name: 'a string inside quotes is escaped (a local choice: AWS does not escape)',
      template: '{"v": "<<text>>"}',
      expected: { v: '<say "hi"\n>' },
    },
    {
      name: 'numbers and booleans outside quotes stay JSON',
      template: '[<n>, <ok>, <none>]',
      expected: [12.5, false, null],
    },
    {
      name: 'numbers inside quotes become text',
      template: '{"v": "<n>/<ok>"}',
      expected: { v: '12.5/false' },
    },
    {
      name: 'an object outside quotes is JSON',
      template: '{"v": <obj>, "l": <list>}',
      expected: { v: { x: [1] }, l: [1, { a: 'b' }] },
    },
    {
      name: 'an object inside quotes is its JSON text, escaped (a local choice: AWS does not escape)',
      template: '{"v": "obj=<obj>"}',
      expected: { v: 'obj={"x":[1]}' },
    },
    {
      name: 'a missing path is null outside quotes (a local choice: AWS creates no variable)',
      template: '{"v": <missing>}',
      expected: { v: null },
    },
    {
      name: 'a missing path is empty inside quotes (a local choice: AWS creates no variable)',
      template: '{"v": "[<missing>]"}',
      expected: { v: '[]' },
    },
    { name: 'array indices', template: '{"v": <second>}', expected: { v: 'b' } },
    { name: 'a wildcard collects its matches', template: '{"v": <all>}', expected: { v: [[1]] } },
    {
      name: 'the whole event with detail',
      template: '{"e": <aws.events.event.json>}',
      expected: { e: event },
    },
    {
      name: 'ingestion time and rule',
      template: '{"t": <aws.events.event.ingestion-time>, "r": "<aws.events.rule-name>"}',
      expected: { t: CONTEXT.ingestionTime, r: 'example' },
    },
    {
      name: 'a text template inserts text as it is',
      template: 'n=<n> text=<text> obj=<obj>',
      expected: 'n=12.5 text=say "hi"\n obj={"x":[1]}',
      text: true,
    },
    {
      name: 'undefined placeholders stay as written',
      template: '<b><n></b>',
      expected: '<b>12.5</b>',
      text: true,
    },
  ];
  it.each(cases)('$name', ({ template, expected, text }) => {
    const out = transform(template, paths, event);
    expect(text ? out : JSON.parse(out)).toEqual(expected);
  });

  it('Input is sent as given, minified; InputPath selects; nothing set sends the event', () => {
    expect(targetPayload(EC2_EVENT, { Input: '{ "a" : [1, 2] }' }, CONTEXT)).toBe('{"a":[1,2]}');
    expect(JSON.parse(targetPayload(EC2_EVENT, { InputPath: '$.detail' }, CONTEXT))).toEqual(
      EC2_EVENT.detail,
    );
    expect(targetPayload(EC2_EVENT, { InputPath: '$.resources[0]' }, CONTEXT)).toBe(
      '"arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"',
    );
    expect(JSON.parse(targetPayload(EC2_EVENT, {}, CONTEXT))).toEqual(EC2_EVENT);
  });
});

describe('input transformer: validation', () => {
  const bad: { name: string; input: TargetInput; message: RegExp }[] = [
    {
      name: 'two kinds at once',
      input: { Input: '{}', InputPath: '$' },
      message: /Only one of Input, InputPath, or InputTransformer/,
    },
    { name: 'Input not JSON', input: { Input: '{nope' }, message: /Invalid Input for target t1/ },
    { name: 'a bad InputPath', input: { InputPath: 'detail.x' }, message: /Invalid InputPath for target t1/ },
    { name: 'bracket notation', input: { InputPath: "$['detail']" }, message: /Invalid InputPath/ },
    {
      name: 'a placeholder as an object key',
      input: { InputTransformer: { InputPathsMap: { k: '$.a' }, InputTemplate: '{<k>: 1}' } },
      message: /Invalid InputTemplate for target t1: a placeholder cannot be used as an object key/,
    },
    {
      name: 'a JSON template that is not JSON',
      input: { InputTransformer: { InputPathsMap: { k: '$.a' }, InputTemplate: '{"a": <k>' } },
      message: /Invalid InputTemplate/,
    },
    {
      name: 'a key starting with AWS',
      input: { InputTransformer: { InputPathsMap: { awsThing: '$.a' }, InputTemplate: '"x"' } },
      message: /cannot start with "AWS"/,
    },
    {
      name: 'a path in the map that is not one',
      input: { InputTransformer: { InputPathsMap: { k: 'a.b' }, InputTemplate: '"x"' } },
      message: /Invalid InputPathsMap/,
    },
    {
      name: 'an empty template',
      input: { InputTransformer: { InputTemplate: '' } },
      message: /must not be empty/,
    },
  ];
  it.each(bad)('refuses $name', ({ input, message }) => {
    expect(() => validateTargetInput('t1', input)).toThrow(message);
  });

  it('accepts the guide templates and text templates', () => {
    for (const { template } of GUIDE_EXAMPLES)
      expect(() =>
        validateTargetInput('t1', { InputTransformer: { InputPathsMap: PATHS, InputTemplate: template } }),
      ).not.toThrow();
    expect(() =>
      validateTargetInput('t1', { InputTransformer: { InputTemplate: '<b>{not json</b>' } }),
    ).not.toThrow();
  });

  it('reads paths with dashes, indices and wildcards', () => {
    expect(readJsonPath(EC2_EVENT, parseJsonPath('$.detail-type') ?? [])).toBe(
      'EC2 Instance State-change Notification',
    );
    expect(readJsonPath(EC2_EVENT, parseJsonPath('$.resources[*]') ?? [])).toEqual(EC2_EVENT.resources);
    expect(readJsonPath(EC2_EVENT, parseJsonPath('$') ?? [])).toEqual(EC2_EVENT);
    expect(readJsonPath(EC2_EVENT, parseJsonPath('$.detail.nope.deeper') ?? [])).toBeUndefined();
  });
});
