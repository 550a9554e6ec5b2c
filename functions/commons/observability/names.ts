/**
 * The gateway's own metrics, one catalogue for the functions that emit them (metrics.ts) and the stack's
 * dashboard and alarms (infra/constructs/observability.ts), so a renamed metric cannot leave an alarm
 * watching nothing. Pure: no Powertools, no AWS.
 *
 * Every metric is published in the CloudWatch namespace `LumaVideoGateway` with the dimension `service`,
 * whose value is the stack's name (POWERTOOLS_SERVICE_NAME, set by the stack on every function), so two
 * gateways in one account keep their figures apart.
 */

export const METRICS_NAMESPACE = 'LumaVideoGateway';
/** The `service` dimension's value when no stack set POWERTOOLS_SERVICE_NAME (unit tests, scripts). */
export const DEFAULT_SERVICE_NAME = 'luma-video-gateway';
/** The dimension `failed` also carries, with the task's failure code (`moderation`, `upstream_failed`, …). */
export const FAILURE_CODE_DIMENSION = 'failure_code';

/** CloudWatch's unit names, as Powertools and the console spell them. */
export type MetricUnitName = 'Count' | 'Seconds' | 'Megabytes/Second';

export interface GatewayMetric {
  readonly name: string;
  readonly unit: MetricUnitName;
  /** What one data point means: the dashboard's label. */
  readonly description: string;
}

export const GATEWAY_METRICS = {
  accepted: { name: 'accepted', unit: 'Count', description: 'Tasks recorded from a client request' },
  submitted: { name: 'submitted', unit: 'Count', description: 'Tasks the upstream took (created, or adopted after an ambiguous attempt)' },
  completed: { name: 'completed', unit: 'Count', description: 'Tasks completed, their video in the bucket' },
  failed: { name: 'failed', unit: 'Count', description: `Tasks failed; also by ${FAILURE_CODE_DIMENSION}` },
  queueWait: { name: 'queue_wait', unit: 'Seconds', description: 'From a task’s recording to its admission to an upstream slot' },
  upstreamGenerationTime: { name: 'upstream_generation_time', unit: 'Seconds', description: 'From a task’s submit to the upstream’s finished video' },
  copyThroughput: { name: 'copy_throughput', unit: 'Megabytes/Second', description: 'MiB of video streamed into the bucket per second of its copy' },
  upstream429: { name: 'upstream_429', unit: 'Count', description: 'Upstream answers 429 (too many requests)' },
  duplicatesAvoided: { name: 'duplicates_avoided', unit: 'Count', description: 'Ambiguous submits resolved by adopting the generation carrying the task’s marker' },
  duplicatesRisked: { name: 'duplicates_risked', unit: 'Count', description: 'Ambiguous submits sent again without a way to find the first (no marker, search refused): maybe a second paid generation' },
  workflowFailed: { name: 'workflow_failed', unit: 'Count', description: 'Workflow executions led to their Failed state by a recorded task failure (Poll or Record failure)' },
  webhookDeliveriesFailed: { name: 'webhook_deliveries_failed', unit: 'Count', description: 'Webhook deliveries given up after their retry window (the ledger keeps every attempt)' },
  overdueTasks: { name: 'overdue_tasks', unit: 'Count', description: 'Admitted tasks still unfinished past their deadline (and the reconciler’s grace), seen by the reconciler' },
} as const satisfies Record<string, GatewayMetric>;

export type GatewayMetricKey = keyof typeof GATEWAY_METRICS;
