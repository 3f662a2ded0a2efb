/**
 * Grouping resources into constructs changes their construct paths, not their logical IDs: every
 * resource keeps the ID it was deployed with (a changed ID replaces the resource on update).
 */
import { readFileSync } from 'node:fs';
import { App, Names, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { FEATURE_FLAGS } from '../../src/infra/context.ts';
import { ResourceGroup, ungroupedUniqueId, uniqueIdFromPath } from '../../src/infra/logical-ids.ts';
import { EventBridgeEtlStack } from '../../src/infra/stack.ts';
import { definePipeline } from '../../src/pipeline/definition.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';

const deployed = JSON.parse(
  readFileSync(new URL('./deployed-logical-ids.json', import.meta.url), 'utf8'),
) as { default: string[]; withSensitiveColumns: string[] };

function synth(definition = definePipeline()): EventBridgeEtlStack {
  const app = new App({
    context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
  return new EventBridgeEtlStack(app, 'Etl', { definition });
}

function logicalIds(definition = definePipeline()): string[] {
  const stack = synth(definition);
  return Object.keys(Template.fromStack(stack).toJSON().Resources as object).sort();
}

describe('logical IDs', () => {
  it('are those the stack was deployed with', () => {
    expect(logicalIds()).toEqual(deployed.default);
  });

  it('are those the stack was deployed with, with sensitive columns (field key, KMS endpoint)', () => {
    const sensitive = definePipeline({
      mapping: {
        ...SEED_MAPPING,
        columns: {
          ...SEED_MAPPING.columns,
          Street: { attribute: 'street_address', type: 'string', sensitive: true },
        },
      },
    });
    expect(logicalIds(sensitive)).toEqual([...deployed.default, ...deployed.withSensitiveColumns].sort());
  });

  it('are computed as aws-cdk-lib computes them (its Names.uniqueId of the same paths)', () => {
    const app = new App();
    const stack = new Stack(app, 'My-Stack');
    const nested = new Construct(new Construct(stack, 'Parent'), 'ParentChild');
    const constructs = [
      stack,
      new Construct(stack, 'Single'),
      new Construct(new Construct(stack, 'Default'), 'UnderDefault'),
      new Construct(new Construct(stack, 'Outer'), 'Resource'),
      new Construct(nested, 'Child'), // dupes: ParentChild ends with Child
      new Construct(stack, 'x'.repeat(300)),
      new Construct(new Construct(stack, 'With:Odd/Chars'.replace('/', '-')), 'SqsEventSource:Abc123'),
    ];
    for (const construct of constructs) expect(ungroupedUniqueId(construct)).toBe(Names.uniqueId(construct));
    expect(() => uniqueIdFromPath(['Default'])).toThrow();
  });

  it('leave a group out: a resource in a group is named as if it were where the group is', () => {
    const ids = (grouped: boolean): string[] => {
      const stack = synth();
      const scope = grouped ? new ResourceGroup(stack, 'Group') : stack;
      const queue = new Queue(scope, 'Extra');
      return [stack.getLogicalId(queue.node.defaultChild as never), ungroupedUniqueId(queue)];
    };
    expect(ids(true)).toEqual(ids(false));
  });
});
