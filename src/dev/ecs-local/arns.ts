import { invalidParameter } from './errors.js';

/** The account every local ARN names (the usual placeholder of local AWS emulators). */
export const LOCAL_ACCOUNT_ID = '000000000000';

const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const CLUSTER_ARN = /^arn:aws[a-z-]*:ecs:([a-z0-9-]+):(\d{12}):cluster\/(.+)$/;
const TASK_ID = /^[a-f0-9]{32}$/;
const TASK_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task\/(?:([^/]+)\/)?([a-f0-9]{32})$/;

export const clusterArn = (region: string, cluster: string): string => `arn:aws:ecs:${region}:${LOCAL_ACCOUNT_ID}:cluster/${cluster}`;

export const taskArn = (region: string, cluster: string, taskId: string): string =>
  `arn:aws:ecs:${region}:${LOCAL_ACCOUNT_ID}:task/${cluster}/${taskId}`;

export const taskDefinitionArn = (region: string, family: string, revision: number): string =>
  `arn:aws:ecs:${region}:${LOCAL_ACCOUNT_ID}:task-definition/${family}:${revision}`;

export const containerArn = (region: string, cluster: string, taskId: string, containerId: string): string =>
  `arn:aws:ecs:${region}:${LOCAL_ACCOUNT_ID}:container/${cluster}/${taskId}/${containerId}`;

/**
 * The cluster name from a request's `cluster` (a name or a cluster ARN; absent means `default`,
 * as in ECS). Throws InvalidParameterException for a malformed value.
 */
export function parseClusterName(value: string | undefined): string {
  if (value === undefined) return 'default';
  const arn = CLUSTER_ARN.exec(value);
  const name = arn ? arn[3]! : value;
  if (!CLUSTER_NAME.test(name)) {
    throw invalidParameter('Cluster name can contain up to 255 letters (uppercase and lowercase), numbers, hyphens and underscores.');
  }
  return name;
}

/**
 * The task id (and the cluster when the ARN carries one) of a task reference: a 32-hex id or a
 * task ARN. Returns undefined when the reference is neither.
 */
export function parseTaskReference(value: string): { taskId: string; cluster?: string } | undefined {
  if (TASK_ID.test(value)) return { taskId: value };
  const arn = TASK_ARN.exec(value);
  if (!arn) return undefined;
  return arn[1] === undefined ? { taskId: arn[2]! } : { taskId: arn[2]!, cluster: arn[1] };
}
