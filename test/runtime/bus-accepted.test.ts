// The bus's onAccepted hook (the dashboard's rule counts and event tail): every event PutEvents
// accepted, with the rules it matched (each once, whatever its targets); refused entries are not
// told; a listener stops when asked.
import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../src/pipeline/definition.ts';
import { LocalEventBus } from '../../src/runtime/local/bus.ts';
import { RuleIndex } from '../../src/patterns/index.ts';

const SOURCE = 'cdkpatterns.the-eventbridge-etl';

describe('LocalEventBus.onAccepted', () => {
  it('tells each accepted event with the names of the rules it matched, until stopped', async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>() });
    const definition = definePipeline();
    for (const target of Object.keys(definition.delivery))
      bus.addTarget(target, async () => undefined, definition.delivery[target as 'load']);
    for (const rule of definition.rules) bus.putRule(rule.name, rule.eventPattern, rule.target);
    // A rule with two targets is matched once; a disabled rule matches nothing.
    const elsewhere = { source: ['someone.else'] };
    bus.setRule({ name: 'both', eventPattern: elsewhere, targets: ['transform', 'load'], enabled: true });
    bus.setRule({ name: 'off', eventPattern: elsewhere, targets: ['observe'], enabled: false });
    const told: { detailType: string; rules: readonly string[] }[] = [];
    const stop = bus.onAccepted((event, rules) => told.push({ detailType: event['detail-type'], rules }));

    const result = await bus.putEvents([
      { Source: SOURCE, DetailType: 's3RecordExtraction', Detail: JSON.stringify({ status: 'extracted' }) },
      { Source: SOURCE, DetailType: 'transform', Detail: 'not json' },
      { Source: 'someone.else', DetailType: 'other', Detail: '{}' },
    ]);
    expect(result.FailedEntryCount).toBe(1);
    expect(told).toEqual([
      { detailType: 's3RecordExtraction', rules: ['transformRule', 'observeRule'] },
      { detailType: 'other', rules: ['both'] },
    ]);

    stop();
    await bus.putEvents([{ Source: SOURCE, DetailType: 'transform', Detail: '{"status":"transformed"}' }]);
    expect(told).toHaveLength(2);
    await bus.whenIdle();
  });
});
