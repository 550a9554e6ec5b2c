/**
 * idempotency: N pairs (default 50) of simultaneous duplicate submits, one Idempotency-Key a pair: each pair
 * is answered with one task, and each task is created upstream once.
 */
import { TimeScale } from '../../local/time-scale.ts';
import {
  Api,
  liftedKeyLimits,
  scenarioDeadline,
  withInProcessGateway,
  type Answer,
  type CommonOptions,
  type ScenarioReport,
} from './harness.ts';
import { checkOnePerPrompt, describeAnswer, reportWaitProblems, waitAllTerminal } from './invariants.ts';

/**
 * A create as a well-behaved client makes it: a 409 idempotency_in_progress ("retry shortly": the first
 * request with that key was still running when this one had waited its turn) is asked again after a
 * moment, until the first has an answer to replay. On a busy machine the first can outlast the API's wait.
 */
function createAsAClientWould(api: Api, body: unknown, headers: Record<string, string>): Promise<Answer> {
  return api.requestRetryingInProgress('POST', '/luma/generations', body, headers);
}

export interface IdempotencyReport extends ScenarioReport {
  pairs: number;
  distinctIds: number;
  /** Pairs whose two answers were both 200 with the same task id. */
  pairsAgreeing: number;
  completed: number;
  upstreamCreates: number;
}

export async function idempotency(options: CommonOptions & { pairs?: number } = {}): Promise<IdempotencyReport> {
  const pairs = options.pairs ?? 50;
  const timeScale = options.timeScale ?? 0.01;
  const deadlineSeconds = scenarioDeadline(timeScale, Math.ceil(pairs / 10) * 300);
  const settings = { timeScale, generationTimeoutSeconds: deadlineSeconds, keyLimits: liftedKeyLimits(2 * pairs) };
  return withInProcessGateway('idempotency', options, settings, async (gateway, run) => {
    const api = new Api(gateway.url, gateway.apiKeys[0]!);
    const prompts = Array.from({ length: pairs }, (_, i) => `Idempotency ${run.id} pair ${i}: a fox in fresh snow`);
    const started = Date.now();
    const answers = await Promise.all(
      prompts.map((prompt, i) => {
        const headers = { 'idempotency-key': `chaos-${run.id}-${i}` };
        const body = { user_prompt: prompt, aspect_ratio: '16:9' };
        return Promise.all([createAsAClientWould(api, body, headers), createAsAClientWould(api, body, headers)]);
      }),
    );
    let pairsAgreeing = 0;
    const ids: string[] = [];
    answers.forEach(([a, b], i) => {
      if (a.status === 200 && b.status === 200 && a.body.id === b.body.id) {
        pairsAgreeing++;
        ids.push(a.body.id);
      } else {
        run.violations.push(`pair ${i} was answered ${a.status} ${describeAnswer(a)} and ${b.status} ${describeAnswer(b)}`);
        for (const answer of [a, b]) if (answer.status === 200 && !ids.includes(answer.body.id)) ids.push(answer.body.id);
      }
    });
    const distinctIds = new Set(ids).size;
    if (distinctIds !== pairs) run.violations.push(`${pairs} pairs gave ${distinctIds} distinct task ids`);
    const waited = await waitAllTerminal(api, [...new Set(ids)], new TimeScale(timeScale).secondsAsMs(deadlineSeconds) + 60_000);
    const seconds = (Date.now() - started) / 1000;
    reportWaitProblems(waited, run.violations);
    let completed = 0;
    for (const body of waited.final.values()) {
      if (body.state === 'completed') completed++;
      else run.violations.push(`task ${body.id} failed without any injected fault: ${body.failure_code}: ${body.failure_reason}`);
    }
    const stats = gateway.simulatedLuma!.stats();
    if (stats.creates !== pairs) run.violations.push(`the upstream created ${stats.creates} generations for ${pairs} pairs`);
    const taskIds = answers.map(([a]) => a.body?.id as string | undefined);
    checkOnePerPrompt(prompts, gateway.simulatedLuma!.generations().map((g) => g.prompt), run.violations, taskIds);
    return {
      pairs,
      distinctIds,
      pairsAgreeing,
      completed,
      upstreamCreates: stats.creates,
      seconds,
      line:
        `idempotency: ${pairs} pairs, ${distinctIds} distinct task ids, ${pairsAgreeing} pairs answered with one id, ` +
        `upstream creates ${stats.creates}, ${completed} completed, ${seconds.toFixed(1)} s`,
    };
  });
}
