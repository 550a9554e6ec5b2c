import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { Storage } from './constructs/storage.ts';
import { GenerationWorkflow } from './constructs/workflow.ts';
import { GatewayApi } from './constructs/api.ts';
import { acknowledge } from './nag.ts';
import type { CapacitySettings, KeyLimitSettings, UpstreamSettings } from './constructs/grants.ts';

export interface GatewayStackProps extends StackProps {
  /** Upstream address and model. @default the official Luma API, model ray-2 */
  readonly upstream?: UpstreamSettings;
  /**
   * ARN of an existing Secrets Manager secret holding the Luma API key (plain, or JSON `{"apiKey": "…"}`).
   * @default a new secret with a placeholder value, whose name is a stack output: put your key in it
   */
  readonly upstreamKeySecretArn?: string;
  /** @default 30 minutes */
  readonly generationTimeout?: Duration;
  /** @default 10 seconds */
  readonly pollInterval?: Duration;
  /**
   * The upstream account's limits, and how long a task may wait for a slot. @default 10 generations in
   * flight, 20 creates a minute (Luma Build tier), 24 hours in the queue
   */
  readonly capacity?: CapacitySettings;
  /** Where the copy function may download assets from (see WorkflowProps). @default the Luma API's asset hosts */
  readonly assetHostAllowlist?: readonly string[];
  /** Limits of keys that have none of their own. @default 600 generations a minute, 1000 queued, no cap on running */
  readonly keyLimits?: KeyLimitSettings;
  /** How often the reconciler runs. @default 5 minutes */
  readonly reconcileInterval?: Duration;
  /** Where the upstream reaches the API (a custom domain). @default the HTTP API's own endpoint */
  readonly publicBaseUrl?: string;
}

/** Storage, workflow and API, composed; every tunable is a prop with a documented default. */
export class GatewayStack extends Stack {
  public readonly storage: Storage;
  public readonly workflow: GenerationWorkflow;
  public readonly api: GatewayApi;
  public readonly upstreamKey: ISecret;

  constructor(scope: Construct, id: string, props: GatewayStackProps = {}) {
    super(scope, id, props);
    const upstream = props.upstream ?? {};
    if (props.upstreamKeySecretArn) {
      this.upstreamKey = Secret.fromSecretCompleteArn(this, 'UpstreamKey', props.upstreamKeySecretArn);
    } else {
      this.upstreamKey = new Secret(this, 'UpstreamKey', {
        description: 'Luma API key used by the video gateway. Replace the generated placeholder with your key.',
      });
      acknowledge(
        this.upstreamKey,
        'SMG4',
        "The secret is a Luma API key: only Luma's dashboard can issue a new one, so Secrets Manager cannot rotate it. " +
          'Rotation is an operator step (new key in Luma, put-secret-value, delete the old key), described in SECURITY.md.',
      );
    }

    this.storage = new Storage(this, 'Storage');
    this.workflow = new GenerationWorkflow(this, 'Workflow', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      upstream,
      upstreamKey: this.upstreamKey,
      generationTimeout: props.generationTimeout,
      pollInterval: props.pollInterval,
      assetHostAllowlist: props.assetHostAllowlist,
      capacity: props.capacity,
      reconcileInterval: props.reconcileInterval,
    });
    this.api = new GatewayApi(this, 'Api', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      stateMachine: this.workflow.stateMachine,
      upstream,
      upstreamKey: this.upstreamKey,
      generationTimeout: this.workflow.generationTimeout,
      capacity: props.capacity,
      keyLimits: props.keyLimits,
      publicBaseUrl: props.publicBaseUrl,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the API' });
    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName, description: 'Where videos are stored' });
    new CfnOutput(this, 'TableName', { value: this.storage.table.tableName, description: 'Tasks and API key hashes' });
    new CfnOutput(this, 'UpstreamKeySecret', { value: this.upstreamKey.secretArn, description: 'Put the Luma API key in this secret' });
    new CfnOutput(this, 'StateMachineArn', { value: this.workflow.stateMachine.stateMachineArn });
  }
}
