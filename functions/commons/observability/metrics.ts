/**
 * The gateway's metrics, written by Powertools' Metrics in CloudWatch's embedded metric format: JSON lines
 * on stdout that CloudWatch Logs turns into metrics, with no API call and no client in the bundle. Locally
 * the same lines reach the function logs, where a test can read them. Data points are held until the
 * handler ends (observed-handler.ts publishes them), one line per invocation.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DEFAULT_SERVICE_NAME, FAILURE_CODE_DIMENSION, GATEWAY_METRICS, METRICS_NAMESPACE, type GatewayMetricKey } from './names.ts';

export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME,
});

/** One data point of a catalogued metric, in its unit (a count of 1 by default). */
export function recordMetric(key: GatewayMetricKey, value = 1): void {
  if (!Number.isFinite(value)) return; // a clock that went backwards must not fail a task
  const { name, unit } = GATEWAY_METRICS[key];
  metrics.addMetric(name, unit, value);
}

/**
 * A failed task: counted once under the service alone (what the alarms add up) and once with its failure
 * code, published at once on a line of its own, since a dimension applies to every metric of a line.
 */
export function recordFailure(failureCode: string): void {
  recordMetric('failed');
  const byCode = metrics.singleMetric();
  byCode.addDimension(FAILURE_CODE_DIMENSION, failureCode);
  byCode.addMetric(GATEWAY_METRICS.failed.name, GATEWAY_METRICS.failed.unit, 1);
}

/** Writes the data points held so far, if any (an empty line would be a warning in the logs). */
export function publishMetrics(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
