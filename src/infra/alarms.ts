/**
 * The stack's alarms, all publishing to one SNS topic (KMS-encrypted, TLS only), with an optional
 * e-mail subscription (`-c alarmEmail=...`):
 * - per rule: FailedInvocations and InvocationsFailedToBeSentToDlq (an event EventBridge could not
 *   deliver, nor even dead-letter, is otherwise lost without a trace);
 * - per queue: ApproximateAgeOfOldestMessage (a stage that stopped consuming) and, for its DLQ, depth;
 * - extract tasks that failed (the task-stopped rule's matched events).
 * The constructs that own what is watched add them (StageFunction, ExtractTrigger, the stack).
 * The metrics they watch are defined here once; the dashboard (dashboard.ts) charts the same ones.
 * Every alarm treats missing data as fine: EventBridge sends these metrics only when non-zero.
 */
import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IRule } from 'aws-cdk-lib/aws-events';
import type { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { etlKey } from './keys.ts';

export interface EtlAlarmsProps {
  /**
   * Subscribed to the topic by e-mail (the address confirms the subscription).
   * @default no subscription
   */
  readonly email?: string;
  /**
   * How long a message may wait in a watched queue before its age alarm fires.
   * @default one hour (a million rows take about 40 minutes)
   */
  readonly queueMaxAge?: Duration;
}

/** EventBridge rule metrics that mean events were lost or about to be. */
export const RULE_FAILURE_METRICS = ['FailedInvocations', 'InvocationsFailedToBeSentToDlq'] as const;

/** The stack's alarm topic, and the alarms that notify it (added by the constructs they watch). */
export class EtlAlarms extends Construct {
  /** Every alarm notifies this topic. */
  readonly topic: Topic;
  /** Encrypts the topic; CloudWatch may use it, nothing else. */
  readonly key: Key;
  readonly alarms: Alarm[] = [];
  /** Every queue watched, with its DLQ, in the order they were added. */
  readonly queues: WatchedQueue[] = [];
  private readonly queueMaxAge: Duration;

  constructor(scope: Construct, id: string, props: EtlAlarmsProps = {}) {
    super(scope, id);
    this.queueMaxAge = props.queueMaxAge ?? Duration.hours(1);
    // Its own key: publishing alarms must not let CloudWatch use the queues' key. CloudWatch publishes
    // alarm notifications to the encrypted topic with the key policy AWS documents for it:
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
    this.key = etlKey(this, 'Key', {
      description: 'eventbridge-etl: encryption at rest of the alarm topic',
      serviceUse: {
        sid: 'AllowCloudWatchAlarmsToPublishToTheEncryptedTopic',
        service: 'cloudwatch.amazonaws.com',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      },
    });
    this.topic = new Topic(this, 'Topic', {
      displayName: 'eventbridge-etl alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    if (props.email) this.topic.addSubscription(new EmailSubscription(props.email));
  }

  /** FailedInvocations and InvocationsFailedToBeSentToDlq of a rule (on a custom bus when named). */
  addRuleAlarms(name: string, rule: IRule, busName?: string): void {
    for (const metricName of RULE_FAILURE_METRICS) {
      this.add(`${name}${metricName}Alarm`, {
        description: `eventbridge-etl: ${metricName} of the ${name} rule`,
        metric: ruleMetric(metricName, rule, busName),
      });
    }
  }

  /** Fires when the rule (on the default bus) matches any event: for rules that match only trouble. */
  addRuleMatchAlarm(id: string, description: string, rule: IRule): Alarm {
    return this.add(id, { description, metric: ruleMetric('MatchedEvents', rule) });
  }

  /** The age of a queue's oldest message, and the depth of its dead-letter queue. */
  addQueueAlarms(name: string, queue: IQueue, deadLetterQueue: IQueue): void {
    const maxAge = this.queueMaxAge;
    this.queues.push({ name, queue, deadLetterQueue });
    this.add(`${name}QueueAgeAlarm`, {
      description: `eventbridge-etl: the ${name} queue has held a message for over ${maxAge.toHumanString()}`,
      metric: queueAgeMetric(queue),
      threshold: maxAge.toSeconds(),
      evaluationPeriods: 5,
    });
    this.add(`${name}DeadLetterAlarm`, {
      description: `eventbridge-etl: messages in the ${name} dead-letter queue`,
      metric: queueDepthMetric(deadLetterQueue),
    });
  }

  /** Fires on any datapoint of the metric at or over the threshold (default 1). */
  add(
    id: string,
    options: { description: string; metric: IMetric; threshold?: number; evaluationPeriods?: number },
  ): Alarm {
    const alarm = new Alarm(this, id, {
      alarmDescription: options.description,
      metric: options.metric,
      threshold: options.threshold ?? 1,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}

/** A queue the alarms watch, by the name its alarms carry. */
export interface WatchedQueue {
  readonly name: string;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
}

/** The age of the queue's oldest message, the per-minute maximum. */
export function queueAgeMetric(queue: IQueue): IMetric {
  return queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' });
}

/** Messages waiting in the queue (for a DLQ: dead letters), the per-minute maximum. */
export function queueDepthMetric(queue: IQueue): IMetric {
  return queue.metricApproximateNumberOfMessagesVisible({
    period: Duration.minutes(1),
    statistic: 'Maximum',
  });
}

/** A rule's per-minute sum of an AWS/Events metric. */
function ruleMetric(metricName: string, rule: IRule, busName?: string): Metric {
  return new Metric({
    namespace: 'AWS/Events',
    metricName,
    // Rules on a custom bus report with both dimensions; default-bus rules with RuleName only.
    dimensionsMap: { RuleName: rule.ruleName, ...(busName ? { EventBusName: busName } : {}) },
    period: Duration.minutes(1),
    statistic: 'Sum',
  });
}
