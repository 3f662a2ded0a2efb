/**
 * The EventBridge operations that manage users' own rules on the local bus, and the connections and
 * API destinations their HTTP targets use: requests checked as EventBridge checks them (its
 * constraint messages, its exception codes), then carried out by the UserRules store. The pipeline
 * definition's rules are answered with ManagedRuleException.
 */
import {
  EVENTBRIDGE_MAX_EVENT_AGE_SECONDS,
  EVENTBRIDGE_MAX_RETRY_ATTEMPTS,
} from '../../../pipeline/definition.ts';
import { type InputTransformer, validateTargetInput } from '../../../pipeline/input-transformer.ts';
import type { ApiDestination, Connection, UserRules, UserTarget } from '../user-rules.ts';
import { AwsApiError, validation } from './errors.ts';
import { constraint, optionalString, page, requiredString, wrongType } from './events-api.ts';

type Body = Record<string, unknown>;

export const RULE_OPERATIONS = [
  'PutRule',
  'DeleteRule',
  'EnableRule',
  'DisableRule',
  'PutTargets',
  'RemoveTargets',
  'ListRuleNamesByTarget',
  'CreateConnection',
  'DescribeConnection',
  'ListConnections',
  'DeleteConnection',
  'CreateApiDestination',
  'DescribeApiDestination',
  'ListApiDestinations',
  'DeleteApiDestination',
] as const;
export type RuleOperation = (typeof RULE_OPERATIONS)[number];

/** Names of rules, targets, connections and API destinations: EventBridge's pattern and length. */
const NAME = /^[.\-_A-Za-z0-9]+$/;

function name(body: Body, member: string, wire: string, max = 64): string {
  const value = requiredString(body, member, wire);
  if (value.length < 1 || value.length > max)
    throw constraint(wire, value, `Member must have length less than or equal to ${max}`);
  if (!NAME.test(value))
    throw constraint(wire, value, 'Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+');
  return value;
}

function integer(value: unknown, wire: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw wrongType(wire, 'an integer');
  if (value < min) throw constraint(wire, value, `Member must have value greater than or equal to ${min}`);
  if (value > max) throw constraint(wire, value, `Member must have value less than or equal to ${max}`);
  return value;
}

function structure(value: unknown, member: string): Body | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw wrongType(member, 'a structure');
  return value as Body;
}

function stringList(body: Body, member: string, wire: string, max: number): string[] {
  const value = body[member];
  if (value === undefined || value === null) throw constraint(wire, undefined, 'Member must not be null');
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw wrongType(member, 'a list of strings');
  if (value.length < 1) throw constraint(wire, value, 'Member must have length greater than or equal to 1');
  if (value.length > max)
    throw constraint(wire, value, `Member must have length less than or equal to ${max}`);
  return value as string[];
}

/** One PutTargets entry, its members checked (AWS's wire names: `targets.1.member.id`...). */
function parseTarget(raw: unknown, index: number): UserTarget {
  const at = `targets.${index + 1}.member`;
  const t = structure(raw, `Targets[${index}]`) ?? {};
  const id = name(t, 'Id', `${at}.id`);
  const arn = requiredString(t, 'Arn', `${at}.arn`);
  if (arn.length < 1 || arn.length > 1600)
    throw constraint(`${at}.arn`, arn, 'Member must have length less than or equal to 1600');
  const input = optionalString(t, 'Input');
  const inputPath = optionalString(t, 'InputPath');
  const transformerBody = structure(t.InputTransformer, `Targets[${index}].InputTransformer`);
  let transformer: InputTransformer | undefined;
  if (transformerBody) {
    const paths = structure(
      transformerBody.InputPathsMap,
      `Targets[${index}].InputTransformer.InputPathsMap`,
    );
    if (paths && Object.values(paths).some((v) => typeof v !== 'string'))
      throw wrongType(`Targets[${index}].InputTransformer.InputPathsMap`, 'a map of strings');
    transformer = {
      InputTemplate: requiredString(transformerBody, 'InputTemplate', `${at}.inputTransformer.inputTemplate`),
      ...(paths ? { InputPathsMap: paths as Record<string, string> } : {}),
    };
  }
  const retryBody = structure(t.RetryPolicy, `Targets[${index}].RetryPolicy`);
  const attempts = integer(
    retryBody?.MaximumRetryAttempts,
    `${at}.retryPolicy.maximumRetryAttempts`,
    0,
    EVENTBRIDGE_MAX_RETRY_ATTEMPTS,
  );
  const age = integer(
    retryBody?.MaximumEventAgeInSeconds,
    `${at}.retryPolicy.maximumEventAgeInSeconds`,
    60,
    EVENTBRIDGE_MAX_EVENT_AGE_SECONDS,
  );
  const dlqBody = structure(t.DeadLetterConfig, `Targets[${index}].DeadLetterConfig`);
  const dlq = dlqBody ? optionalString(dlqBody, 'Arn') : undefined;
  const target: UserTarget = {
    Id: id,
    Arn: arn,
    ...(input !== undefined ? { Input: input } : {}),
    ...(inputPath !== undefined ? { InputPath: inputPath } : {}),
    ...(transformer ? { InputTransformer: transformer } : {}),
    ...(retryBody
      ? {
          RetryPolicy: {
            ...(attempts !== undefined ? { MaximumRetryAttempts: attempts } : {}),
            ...(age !== undefined ? { MaximumEventAgeInSeconds: age } : {}),
          },
        }
      : {}),
    ...(dlqBody ? { DeadLetterConfig: dlq !== undefined ? { Arn: dlq } : {} } : {}),
  };
  validateTargetInput(id, target);
  return target;
}

export class RulesApi {
  readonly operations: readonly string[] = RULE_OPERATIONS;

  constructor(
    private readonly rules: UserRules,
    /** Checks the request's EventBusName names the local bus (ResourceNotFoundException if not). */
    private readonly requestBus: (body: Body) => string,
  ) {}

  handle(operation: string, body: Body): unknown {
    switch (operation as RuleOperation) {
      case 'PutRule':
        return this.putRule(body);
      case 'DeleteRule':
        this.requestBus(body);
        this.rules.deleteRule(name(body, 'Name', 'name'));
        return {};
      case 'EnableRule':
      case 'DisableRule': {
        const bus = this.requestBus(body);
        const state = operation === 'EnableRule' ? 'ENABLED' : 'DISABLED';
        this.rules.setState(name(body, 'Name', 'name'), state, bus);
        return {};
      }
      case 'PutTargets':
        return this.putTargets(body);
      case 'RemoveTargets': {
        const bus = this.requestBus(body);
        const rule = name(body, 'Rule', 'rule');
        const failed = this.rules.removeTargets(rule, stringList(body, 'Ids', 'ids', 100), bus);
        return { FailedEntryCount: failed.length, FailedEntries: failed };
      }
      case 'ListRuleNamesByTarget':
        return this.listRuleNamesByTarget(body);
      case 'CreateConnection':
        return this.createConnection(body);
      case 'DescribeConnection':
        return this.connectionShape(this.connection(body));
      case 'ListConnections': {
        const prefix = optionalString(body, 'NamePrefix');
        const all = this.rules.connections().filter((c) => prefix === undefined || c.Name.startsWith(prefix));
        const { items, NextToken } = page([...all], body);
        return {
          Connections: items.map((c) => this.connectionSummary(c)),
          ...(NextToken ? { NextToken } : {}),
        };
      }
      case 'DeleteConnection': {
        const connection = this.rules.deleteConnection(this.connection(body).Name);
        return { ...this.connectionSummary(connection), ConnectionState: 'DELETING' };
      }
      case 'CreateApiDestination':
        return this.createApiDestination(body);
      case 'DescribeApiDestination':
        return this.apiDestinationShape(this.apiDestination(body));
      case 'ListApiDestinations': {
        const prefix = optionalString(body, 'NamePrefix');
        const all = this.rules
          .apiDestinations()
          .filter((d) => prefix === undefined || d.Name.startsWith(prefix))
          .filter((d) => body.ConnectionArn === undefined || d.ConnectionArn === body.ConnectionArn);
        const { items, NextToken } = page([...all], body);
        return {
          ApiDestinations: items.map((d) => this.apiDestinationShape(d)),
          ...(NextToken ? { NextToken } : {}),
        };
      }
      case 'DeleteApiDestination':
        this.rules.deleteApiDestination(this.apiDestination(body).Name);
        return {};
      default:
        throw new AwsApiError('UnknownOperationException', `AWSEvents.${operation} is not a rule operation`);
    }
  }

  private putRule(body: Body): unknown {
    this.requestBus(body);
    const ruleName = name(body, 'Name', 'name');
    if (optionalString(body, 'ScheduleExpression') !== undefined)
      throw validation(
        'Parameter ScheduleExpression is not supported by the local bus: scheduled rules are not served locally; ' +
          'put a rule with an EventPattern.',
      );
    const pattern = optionalString(body, 'EventPattern');
    if (pattern === undefined)
      throw validation('Parameter(s) EventPattern or ScheduleExpression must be specified.');
    if (pattern.length > 4096)
      throw constraint('eventPattern', pattern, 'Member must have length less than or equal to 4096');
    const state = optionalString(body, 'State') ?? 'ENABLED';
    if (state !== 'ENABLED' && state !== 'DISABLED') {
      throw constraint(
        'state',
        state,
        'Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]',
      );
    }
    const description = optionalString(body, 'Description');
    if (description !== undefined && description.length > 512)
      throw constraint('description', description, 'Member must have length less than or equal to 512');
    const arn = this.rules.putRule({
      Name: ruleName,
      EventPattern: pattern,
      State: state,
      ...(description !== undefined ? { Description: description } : {}),
    });
    return { RuleArn: arn };
  }

  private putTargets(body: Body): unknown {
    const bus = this.requestBus(body);
    const rule = name(body, 'Rule', 'rule');
    const raw = body.Targets;
    if (raw === undefined || raw === null) throw constraint('targets', undefined, 'Member must not be null');
    if (!Array.isArray(raw)) throw wrongType('Targets', 'a list');
    if (raw.length < 1)
      throw constraint('targets', raw, 'Member must have length greater than or equal to 1');
    if (raw.length > 10) throw constraint('targets', raw, 'Member must have length less than or equal to 10');
    const targets = raw.map((t, i) => parseTarget(t, i));
    const failed = this.rules.putTargets(rule, targets, bus);
    return { FailedEntryCount: failed.length, FailedEntries: failed };
  }

  private listRuleNamesByTarget(body: Body): unknown {
    this.requestBus(body);
    const arn = requiredString(body, 'TargetArn', 'targetArn');
    const stageArn = (stage: string) =>
      `arn:aws:lambda:${this.rules.bus.region}:${this.rules.bus.account}:function:${stage}`;
    const { items, NextToken } = page(this.rules.ruleNamesByTarget(arn, stageArn), body);
    return { RuleNames: items, ...(NextToken ? { NextToken } : {}) };
  }

  private connection(body: Body): Connection {
    const connectionName = name(body, 'Name', 'name');
    const connection = this.rules.connection(connectionName);
    if (!connection)
      throw new AwsApiError('ResourceNotFoundException', `Connection '${connectionName}' does not exist.`);
    return connection;
  }

  private createConnection(body: Body): unknown {
    const connectionName = name(body, 'Name', 'name');
    const type = requiredString(body, 'AuthorizationType', 'authorizationType');
    if (type !== 'API_KEY' && type !== 'BASIC' && type !== 'OAUTH_CLIENT_CREDENTIALS')
      throw constraint(
        'authorizationType',
        type,
        'Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]',
      );
    const auth = structure(body.AuthParameters, 'AuthParameters');
    if (!auth) throw constraint('authParameters', undefined, 'Member must not be null');
    const needs = {
      API_KEY: 'ApiKeyAuthParameters',
      BASIC: 'BasicAuthParameters',
      OAUTH_CLIENT_CREDENTIALS: 'OAuthParameters',
    }[type];
    if (!structure(auth[needs], `AuthParameters.${needs}`))
      throw validation(`An AuthorizationType of ${type} needs AuthParameters.${needs}.`);
    if (type === 'OAUTH_CLIENT_CREDENTIALS')
      throw validation('OAUTH_CLIENT_CREDENTIALS connections are not served locally: use API_KEY or BASIC.');
    const description = optionalString(body, 'Description');
    const connection = this.rules.createConnection({
      Name: connectionName,
      AuthorizationType: type,
      AuthParameters: auth,
      ...(description !== undefined ? { Description: description } : {}),
    });
    return {
      ConnectionArn: connection.ConnectionArn,
      ConnectionState: 'AUTHORIZED',
      CreationTime: connection.CreationTime,
      LastModifiedTime: connection.LastModifiedTime,
    };
  }

  private connectionSummary(c: Connection) {
    return {
      ConnectionArn: c.ConnectionArn,
      Name: c.Name,
      ConnectionState: 'AUTHORIZED',
      AuthorizationType: c.AuthorizationType,
      CreationTime: c.CreationTime,
      LastModifiedTime: c.LastModifiedTime,
      LastAuthorizedTime: c.CreationTime,
    };
  }

  /** DescribeConnection: as AWS, the secret values are not returned (API key name and user name are). */
  private connectionShape(c: Connection) {
    const auth = c.AuthParameters;
    const key = auth.ApiKeyAuthParameters as { ApiKeyName?: string } | undefined;
    const basic = auth.BasicAuthParameters as { Username?: string } | undefined;
    return {
      ...this.connectionSummary(c),
      ...(c.Description !== undefined ? { Description: c.Description } : {}),
      AuthParameters: {
        ...(key ? { ApiKeyAuthParameters: { ApiKeyName: key.ApiKeyName } } : {}),
        ...(basic ? { BasicAuthParameters: { Username: basic.Username } } : {}),
      },
    };
  }

  private apiDestination(body: Body): ApiDestination {
    const destinationName = name(body, 'Name', 'name');
    const destination = this.rules.apiDestination(destinationName);
    if (!destination)
      throw new AwsApiError(
        'ResourceNotFoundException',
        `An api-destination '${destinationName}' does not exist.`,
      );
    return destination;
  }

  private createApiDestination(body: Body): unknown {
    const destinationName = name(body, 'Name', 'name');
    const connectionArn = requiredString(body, 'ConnectionArn', 'connectionArn');
    const endpoint = requiredString(body, 'InvocationEndpoint', 'invocationEndpoint');
    if (!/^https?:\/\/[^\s]+$/.test(endpoint))
      throw constraint(
        'invocationEndpoint',
        endpoint,
        "Member must satisfy regular expression pattern: ^((%[0-9A-Fa-f]{2}|[-()_.!~*';/?:@\\x26=+$,A-Za-z0-9])+)([).!';/?:,])?$",
      );
    const method = requiredString(body, 'HttpMethod', 'httpMethod');
    const methods = ['POST', 'GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'DELETE'] as const;
    if (!(methods as readonly string[]).includes(method))
      throw constraint('httpMethod', method, `Member must satisfy enum value set: [${methods.join(', ')}]`);
    const rate = integer(body.InvocationRateLimitPerSecond, 'invocationRateLimitPerSecond', 1, 300) ?? 300;
    const description = optionalString(body, 'Description');
    const destination = this.rules.createApiDestination({
      Name: destinationName,
      ConnectionArn: connectionArn,
      InvocationEndpoint: endpoint,
      HttpMethod: method as ApiDestination['HttpMethod'],
      InvocationRateLimitPerSecond: rate,
      ...(description !== undefined ? { Description: description } : {}),
    });
    return {
      ApiDestinationArn: destination.ApiDestinationArn,
      ApiDestinationState: 'ACTIVE',
      CreationTime: destination.CreationTime,
      LastModifiedTime: destination.LastModifiedTime,
    };
  }

  private apiDestinationShape(d: ApiDestination) {
    return {
      ApiDestinationArn: d.ApiDestinationArn,
      Name: d.Name,
      ...(d.Description !== undefined ? { Description: d.Description } : {}),
      ApiDestinationState: 'ACTIVE',
      ConnectionArn: d.ConnectionArn,
      InvocationEndpoint: d.InvocationEndpoint,
      HttpMethod: d.HttpMethod,
      InvocationRateLimitPerSecond: d.InvocationRateLimitPerSecond,
      CreationTime: d.CreationTime,
      LastModifiedTime: d.LastModifiedTime,
    };
  }
}
