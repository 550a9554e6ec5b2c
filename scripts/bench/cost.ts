/**
 * What 1,000 generations cost in AWS, from what one generation was measured to use: its state transitions,
 * each function's invocations × their duration × its memory, its DynamoDB capacity units and its S3
 * requests, at the us-east-1 list prices `scripts/costs.ts` keeps (PRICES; the upstream's own charge
 * excluded, and so are the client's GETs, whose number is the client's choice, and storage and logs, whose
 * cost `scripts/costs.ts` adds).
 *
 * Durations are this machine's (shared, loaded, functions in worker threads): a Lambda environment of its
 * own would take less, so the Lambda line errs high. The bench's video is the 36 kB sample: a real 5 s
 * 720p video of ~10 MB is a multipart upload of 2 parts, 3 more PUTs than the sample's single one, which
 * the cost adds.
 */
import type { FunctionUsage } from '../../local/usage.ts';
import { PRICES } from '../costs.ts';

/** A real 5 s 720p video of about 10 MB: create, 2 parts, complete, instead of the sample's one PutObject. */
const S3_PUTS_PER_REAL_VIDEO = 3;
/** A task item, with its request and history, is a few KB; DynamoDB storage is $0.25 per GB-month in us-east-1. */
const TASK_ITEM_GB = 4 / 1024 / 1024;
const DYNAMODB_GB_MONTH = 0.25;
const HOURS_A_MONTH = 730;

export interface UsagePerGeneration {
  transitions: number;
  functions: Record<string, Pick<FunctionUsage, 'invocations' | 'durationMs' | 'readUnits' | 'writeUnits' | 's3Writes' | 's3Reads'>>;
  memoryMb: Record<string, number>;
}

export interface CostFigures {
  prices: Pick<typeof PRICES, 'stateTransition' | 'lambdaGbSecond' | 'lambdaRequest' | 'dynamoWriteUnit' | 'dynamoReadUnit' | 's3Write' | 's3Read'>;
  per_1000_generations_usd: {
    step_functions: number;
    lambda: number;
    dynamodb: number;
    s3: number;
    total_at_once: number;
    /** The same generation after an hour in its owner's queue: no execution, no invocation while it waits. */
    total_after_an_hour_queued: number;
  };
}

export function costPer1000(usage: UsagePerGeneration): CostFigures {
  const p = PRICES;
  let lambda = 0;
  let dynamodb = 0;
  let s3 = S3_PUTS_PER_REAL_VIDEO * p.s3Write;
  for (const [name, used] of Object.entries(usage.functions)) {
    const gb = (usage.memoryMb[name] ?? 128) / 1024;
    lambda += used.invocations * p.lambdaRequest + (used.durationMs / 1000) * gb * p.lambdaGbSecond;
    dynamodb += used.writeUnits * p.dynamoWriteUnit + used.readUnits * p.dynamoReadUnit;
    s3 += used.s3Writes * p.s3Write + used.s3Reads * p.s3Read;
  }
  const stepFunctions = usage.transitions * p.stateTransition;
  const atOnce = stepFunctions + lambda + dynamodb + s3;
  const queuedHour = (TASK_ITEM_GB * DYNAMODB_GB_MONTH) / HOURS_A_MONTH;
  const per1000 = (value: number) => Math.round(value * 1000 * 10_000) / 10_000;
  const { stateTransition, lambdaGbSecond, lambdaRequest, dynamoWriteUnit, dynamoReadUnit, s3Write, s3Read } = p;
  return {
    prices: { stateTransition, lambdaGbSecond, lambdaRequest, dynamoWriteUnit, dynamoReadUnit, s3Write, s3Read },
    per_1000_generations_usd: {
      step_functions: per1000(stepFunctions),
      lambda: per1000(lambda),
      dynamodb: per1000(dynamodb),
      s3: per1000(s3),
      total_at_once: per1000(atOnce),
      total_after_an_hour_queued: per1000(atOnce + queuedHour),
    },
  };
}
