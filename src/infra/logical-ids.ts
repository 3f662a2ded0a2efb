/**
 * Logical IDs that survive regrouping. The stack's resources were created at its top level before
 * they were grouped into constructs per stage; a CloudFormation update replaces any resource whose
 * logical ID changes (a queue with its messages, a retained log group left orphaned). A `ResourceGroup`
 * is therefore left out of the logical IDs of the resources under it, and of the unique ids that name
 * things after a resource's path (the event source mapping's construct id, the task family), so every
 * resource keeps the ID it was deployed with.
 *
 * The ID itself is aws-cdk-lib's (`makeUniqueId`, not exported): the human-readable path plus the
 * first 8 hex digits of the MD5 of the path. That scheme cannot change without replacing every CDK
 * user's resources; a test checks this copy against aws-cdk-lib's own `Names.uniqueId`.
 */
import { createHash } from 'node:crypto';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';

/** A construct that groups resources without naming them: its id is in no logical ID below it. */
export class ResourceGroup extends Construct {}

/** The ids of the scopes from `from` (exclusive) down to `construct`, groups left out. */
function namedPath(construct: IConstruct, from: IConstruct | undefined): string[] {
  const scopes = construct.node.scopes;
  return scopes
    .slice(from ? scopes.indexOf(from) + 1 : 1)
    .filter((scope) => !(scope instanceof ResourceGroup))
    .map((scope) => scope.node.id);
}

/** aws-cdk-lib's `makeUniqueId`: a logical ID from path components. */
export function uniqueIdFromPath(path: readonly string[]): string {
  const components = path.filter((c) => c !== 'Default');
  if (components.length === 0) throw new Error('no path to name');
  const alphanumeric = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '');
  const only = components[0];
  if (components.length === 1 && only !== undefined && alphanumeric(only).length <= 255) {
    return alphanumeric(only);
  }
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const human: string[] = [];
  for (const c of components) if (!human.at(-1)?.endsWith(c)) human.push(c);
  return (
    human
      .filter((c) => c !== 'Resource')
      .map(alphanumeric)
      .join('')
      .slice(0, 240) + hash
  );
}

/** `Names.uniqueId(construct)` as if no group were on its path (`id`: of a child not made yet). */
export function ungroupedUniqueId(construct: IConstruct, id?: string): string {
  return uniqueIdFromPath([...namedPath(construct, undefined), ...(id === undefined ? [] : [id])]);
}

/** The logical ID `Stack.allocateLogicalId` would give the element if no group were on its path. */
export function ungroupedLogicalId(element: CfnElement): string {
  return uniqueIdFromPath(namedPath(element, Stack.of(element)));
}
