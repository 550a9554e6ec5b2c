/**
 * A function's environment on this machine: the template's, resolved, pointed at the local endpoints and the
 * upstream, with its durations scaled (local/time-scale.ts) and the operator's local overrides applied.
 */
import type { LocalGatewayOptions } from '../gateway.ts';
import { LOCAL_REGION, type LocalCredentials } from '../local-aws.ts';
import type { TimeScale } from '../time-scale.ts';

/** What every function's SDK needs to reach the local endpoints, and only them. */
export function sharedEnvironment(
  credentials: LocalCredentials,
  endpoints: { dynamoDb: string; s3: string; aws: string },
): Record<string, string> {
  return {
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamoDb,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SFN: endpoints.aws,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.aws,
    AWS_ENDPOINT_URL_EVENTBRIDGE: endpoints.aws,
    // s3rver stores a streamed body with its aws-chunked framing unless checksums are off.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    S3_FORCE_PATH_STYLE: 'true',
  };
}

/** The template's environment, pointed at the local upstream and scaled in time. */
export function localEnvironment(
  environment: Record<string, string>,
  sharedEnv: Record<string, string>,
  upstreamBaseUrl: string,
  publicBaseUrl: string | undefined,
  scale: TimeScale,
  options: Pick<LocalGatewayOptions, 'generationTimeoutSeconds' | 'queueTimeoutSeconds' | 'capacity' | 'keyLimits'>,
): Record<string, string> {
  const env = { ...environment, ...sharedEnv };
  delete env.NODE_OPTIONS; // process-wide in a worker; source maps are for AWS logs
  // The poll schedule measures time on the gateway's clock (functions/commons/domain/poll-schedule.ts);
  // its own seconds, like every wait, are scaled by the local Step Functions.
  env.LOCAL_TIME_SCALE = String(scale.factor);
  if (env.LUMA_BASE_URL) env.LUMA_BASE_URL = upstreamBaseUrl;
  if (env.PUBLIC_BASE_URL !== undefined) env.PUBLIC_BASE_URL = publicBaseUrl ?? '';
  // The upstream serves its assets from its own origin (the simulator: http://127.0.0.1:<port>): allow
  // exactly that origin, as an explicit entry, on top of the deployed allowlist.
  if (env.ASSET_HOST_ALLOWLIST !== undefined) {
    env.ASSET_HOST_ALLOWLIST = [env.ASSET_HOST_ALLOWLIST, new URL(upstreamBaseUrl).origin].filter(Boolean).join(',');
  }
  const scaled = (name: string, override?: number) => {
    if (env[name] !== undefined) env[name] = String(scale.seconds(override ?? Number(env[name])));
  };
  // Waits are scaled by the local Step Functions itself (they come from data: the poll's waitSeconds).
  scaled('GENERATION_TIMEOUT_SECONDS', options.generationTimeoutSeconds);
  scaled('QUEUE_TIMEOUT_SECONDS', options.queueTimeoutSeconds);
  scaled('WEBHOOK_RETRY_WINDOW_SECONDS');
  // A webhook receiver on this machine may be called (its deployed twin allows public https only).
  if (env.WEBHOOK_RETRY_WINDOW_SECONDS !== undefined) env.WEBHOOK_ALLOW_LOOPBACK = 'true';
  // Not below a few real seconds: the API's own time is not scaled, and a busy machine slows it down.
  if (env.RECONCILE_GRACE_SECONDS !== undefined) {
    env.RECONCILE_GRACE_SECONDS = String(Math.max(5, scale.seconds(Number(env.RECONCILE_GRACE_SECONDS))));
  }
  const override = (name: string, value: number | undefined) => {
    if (env[name] !== undefined && value !== undefined) env[name] = String(value);
  };
  // "A minute" of scaled time: a limit per minute grows, per real minute, as time runs faster.
  const perScaledMinute = (name: string, value: number | undefined) => {
    if (env[name] !== undefined) env[name] = String(scale.perMinute(value ?? Number(env[name])));
  };
  override('UPSTREAM_MAX_CONCURRENT', options.capacity?.maxConcurrent);
  perScaledMinute('UPSTREAM_MAX_CREATES_PER_MINUTE', options.capacity?.maxCreatesPerMinute);
  override('KEY_MAX_QUEUED', options.keyLimits?.maxQueued);
  perScaledMinute('KEY_RATE_PER_MINUTE', options.keyLimits?.ratePerMinute);
  // No cap is deployed by default, so the variable may be absent: set it wherever the key limits are read.
  if (env.KEY_MAX_QUEUED !== undefined && options.keyLimits?.maxConcurrent !== undefined) {
    env.KEY_MAX_CONCURRENT = String(options.keyLimits.maxConcurrent);
  }
  return env;
}
