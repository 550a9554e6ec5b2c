/**
 * Least-privilege grants, narrower than CDK's `grantReadWriteData`/`grantReadWrite`: each function gets
 * exactly the item and object actions its code performs, on the prefixes it uses.
 */
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';

/** The task store and key store read and write whole items; nothing scans or deletes. */
export function grantTableItems(fn: IFunction, table: ITableV2): void {
  fn.addToRolePolicy(
    new PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [table.tableArn] }),
  );
}

/**
 * What upstream capacity needs on top: reading the slots in one batch, updating only slot and rate
 * items (never a task or a key), and querying the waiting line on the phase index.
 */
export function grantCapacity(fn: IFunction, table: ITableV2): void {
  fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:BatchGetItem'], resources: [table.tableArn] }));
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: ['dynamodb:UpdateItem'],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SLOT#*', 'RATE#*'] } },
    }),
  );
  fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/byPhase`] }));
}

/** How many generations may be in flight upstream, and how many may start a minute. */
export interface CapacitySettings {
  /** @default 10 (Luma's Build tier) */
  readonly maxConcurrent?: number;
  /** @default 20 (Luma's Build tier) */
  readonly maxCreatesPerMinute?: number;
}

export function capacityEnvironment(settings: CapacitySettings): Record<string, string> {
  const maxConcurrent = settings.maxConcurrent ?? 10;
  const maxCreatesPerMinute = settings.maxCreatesPerMinute ?? 20;
  for (const [name, value] of Object.entries({ maxConcurrent, maxCreatesPerMinute })) {
    if (!Number.isInteger(value) || value < 1 || value > 1000) throw new Error(`${name} must be a whole number from 1 to 1000, not ${value}.`);
  }
  return { UPSTREAM_MAX_CONCURRENT: String(maxConcurrent), UPSTREAM_MAX_CREATES_PER_MINUTE: String(maxCreatesPerMinute) };
}

export function grantObjects(fn: IFunction, bucket: IBucket, actions: string[], keyPattern: string): void {
  fn.addToRolePolicy(new PolicyStatement({ actions, resources: [bucket.arnForObjects(keyPattern)] }));
}

/** Only the secret's value: `ISecret.grantRead` would add DescribeSecret, which the code never calls. */
export function grantSecretValue(fn: IFunction, secret: ISecret): void {
  fn.addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }));
}

export interface UpstreamSettings {
  /** @default 'https://api.lumalabs.ai/dream-machine/v1' */
  readonly baseUrl?: string;
  /** @default 'ray-2' */
  readonly model?: string;
}

/** The upstream's address and model; the key itself stays in Secrets Manager, named here by ARN only. */
export function upstreamEnvironment(settings: UpstreamSettings, key: ISecret): Record<string, string> {
  return {
    LUMA_BASE_URL: settings.baseUrl ?? 'https://api.lumalabs.ai/dream-machine/v1',
    LUMA_MODEL: settings.model ?? 'ray-2',
    LUMA_API_KEY_SECRET_ARN: key.secretArn,
  };
}
