/** The bench's results as a table: each figure beside its target (issue 14), and whether it is met. */
import type { LoadFigures } from './api-load.ts';
import type { CopyFigures } from './copy.ts';
import type { CostFigures } from './cost.ts';
import type { GenerationFigures } from './generations.ts';
import type { InitFigures } from './init.ts';

export interface BenchResults {
  init: InitFigures;
  generations: { with_callbacks: GenerationFigures; without_callbacks: GenerationFigures };
  api?: { post: LoadFigures; get: LoadFigures };
  copy: CopyFigures;
  cost: { with_callbacks: CostFigures; without_callbacks: CostFigures };
  duration_s: number;
}

type Row = [figure: string, measured: string, target: string, met: string];

export function printTable(results: BenchResults): void {
  const rows: Row[] = [];
  const check = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? 'yes' : 'NO');
  const row = (figure: string, measured: string, target = '', ok?: boolean) => rows.push([figure, measured, target, check(ok)]);

  for (const [mode, figures] of Object.entries(results.generations)) {
    const callbacks = mode === 'with_callbacks';
    const label = callbacks ? 'with callbacks' : 'without callbacks';
    const lag = figures.completion_lag_full_time_ms;
    row(`completion_lag_ms ${label} (p50 / p95)`, `${lag.p50} / ${lag.p95}`, callbacks ? 'p50 ≤ 1000' : 'p50 ≤ 3000', lag.p50 <= (callbacks ? 1000 : 3000));
    if (!callbacks) row(`  measured at time scale ${figures.time_scale} (p50 / p95)`, `${figures.completion_lag_ms.p50} / ${figures.completion_lag_ms.p95}`);
    const t = figures.transitions_per_generation;
    row(`transitions_per_generation ${label} (p50 / max)`, `${t.p50} / ${t.max}`, callbacks ? '≤ 12' : '', callbacks ? t.p50 <= 12 : undefined);
    const p = figures.upstream_polls_per_generation;
    row(`upstream_polls_per_generation ${label} (p50 / max)`, `${p.p50} / ${p.max}`, callbacks ? '≤ 4' : '', callbacks ? p.p50 <= 4 : undefined);
  }
  row('init_ms DynamoDB-only bundle (CPU / wall)', `${results.init.baseline.init_ms} / ${results.init.baseline.init_wall_ms}`, `${results.init.baseline.bundle_kb} kB`);
  for (const [name, figure] of Object.entries(results.init.functions)) {
    row(`init ${name}: bundle_kb, init_ms, init_ratio`, `${figure.bundle_kb} kB, ${figure.init_ms} ms, ${figure.init_ratio}`, 'ratio ≤ 1.5', figure.init_ratio <= 1.5);
  }
  for (const size of results.copy.sizes_mb) {
    const run = results.copy.runs[String(size)]!;
    row(
      `copy ${size} MB: copy / download / transfer ms (median of ${results.copy.rounds})`,
      `${run.copy.ms} / ${run.download.ms} / ${run.transfer.ms}`,
    );
    // ÷ the download is the figure; a copy must also write every byte into the local bucket, which
    // takes far longer than reading loopback, so ÷ a plain transfer into that bucket is what the copy adds.
    const [toDownload, toTransfer] = [results.copy.copy_ratio[String(size)]!, results.copy.copy_vs_transfer_ratio[String(size)]!];
    row(`  copy_ratio ${size} MB ÷ plain download`, String(toDownload), '≤ 1.3', toDownload <= 1.3);
    row(`  copy_ratio ${size} MB ÷ plain transfer into the bucket`, String(toTransfer), '≤ 1.3', toTransfer <= 1.3);
    row(`  copy_peak_rss_mb ${size} MB`, String(run.copy.peak_rss_mb));
  }
  row('copy peak RSS, largest ÷ smallest', String(results.copy.rss_growth), '≤ 1.2', results.copy.rss_growth <= 1.2);
  if (results.api) {
    for (const [method, figures] of Object.entries(results.api)) {
      row(`api ${method.toUpperCase()}: p50 / p99 ms, req/s (errors)`, `${figures.p50_ms} / ${figures.p99_ms}, ${figures.requests_per_second} (${figures.errors})`);
    }
  }
  for (const [mode, cost] of Object.entries(results.cost)) {
    const usd = cost.per_1000_generations_usd;
    row(
      `aws_cost_per_1000_generations_usd ${mode.replace('_', ' ')}`,
      `${usd.total_at_once} (SFN ${usd.step_functions}, Lambda ${usd.lambda}, DynamoDB ${usd.dynamodb}, S3 ${usd.s3})`,
      '≤ 1',
      usd.total_at_once <= 1,
    );
    row(`  after an hour in the queue`, String(usd.total_after_an_hour_queued), '≤ 1', usd.total_after_an_hour_queued <= 1);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[['figure', 'measured', 'target', 'met'], ...rows].map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(['figure', 'measured', 'target', 'met']));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const r of rows) console.log(line(r));
  console.log(`(${results.duration_s} s)`);
}
