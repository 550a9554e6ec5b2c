/**
 * `npm run package`: the template the AWS console can create a stack from, and the functions' zips it
 * names, written to a folder (`dist/` by default) without AWS credentials or network. The stack is the one
 * `cdk deploy` deploys, with CDK context settings from cdk.json as ever, synthesized by ConsoleStackSynthesizer
 * (no bootstrap) and given the console's parameters (console-parameters.ts); cdk-nag's checks run on it as on
 * every synth.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { VALIDATION_REPORT_FILE } from 'aws-cdk-lib/cx-api';
import { buildApp } from '../app.ts';
import { ConsoleStackSynthesizer } from './console-synthesizer.ts';
import { addConsoleParameters } from './console-parameters.ts';

export const TEMPLATE_FILE = 'luma-video-gateway.template.json';
export const ASSETS_DIR = 'assets';
/** Zip entries get this time, so that the same bundle always makes the same zip. */
const ZIP_TIME = new Date('2000-01-01T00:00:00Z');
/** A regular file, rw-r--r--: Lambda's runtime user must be able to read what it unzips. */
const FILE_ATTRIBUTES = (0o100644 << 16) >>> 0;

export interface PackageOptions {
  /** Where the template and `assets/` go; emptied first. */
  readonly outDir: string;
  /** On top of cdk.json's context. */
  readonly context?: Record<string, unknown>;
}

export interface PackageResult {
  readonly templateFile: string;
  readonly template: { Parameters?: Record<string, unknown>; Resources: Record<string, { Type: string; Properties?: any }>; [section: string]: unknown };
  /** The zips, by file name, with their sizes. */
  readonly assets: { zipName: string; bytes: number }[];
  /** The synth's policy-validation reports (cdk-nag's `AwsSolutions` among them); a failed check fails the synth itself. */
  readonly validationReports: { pluginName: string; conclusion: string; violations: unknown[]; suppressedViolations?: unknown[] }[];
}

export function packageGateway(options: PackageOptions): PackageResult {
  const cdkOut = mkdtempSync(join(tmpdir(), 'package-cdk-out-'));
  try {
    const synthesizer = new ConsoleStackSynthesizer();
    const { app, stack } = buildApp({ outdir: cdkOut, context: options.context, synthesizer });
    addConsoleParameters(stack);
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template as PackageResult['template'];
    const reportFile = join(cdkOut, VALIDATION_REPORT_FILE);
    const validationReports = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as { pluginReports: PackageResult['validationReports'] }).pluginReports : [];

    rmSync(options.outDir, { recursive: true, force: true });
    const assetsDir = join(options.outDir, ASSETS_DIR);
    mkdirSync(assetsDir, { recursive: true });
    const templateFile = join(options.outDir, TEMPLATE_FILE);
    writeFileSync(templateFile, `${JSON.stringify(template, null, 1)}\n`);
    const assets = synthesizer.assets.map(({ zipName, stagedPath }) => {
      const zip = zipDirectory(join(cdkOut, stagedPath));
      writeFileSync(join(assetsDir, zipName), zip);
      return { zipName, bytes: zip.length };
    });
    return { templateFile, template, assets, validationReports };
  } finally {
    rmSync(cdkOut, { recursive: true, force: true });
  }
}

/** Every file under `dir`, by its path relative to it, deflated. */
function zipDirectory(dir: string): Uint8Array {
  const entries: Zippable = {};
  const walk = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else entries[relative(dir, path).split('\\').join('/')] = [readFileSync(path), { mtime: ZIP_TIME, os: 3, attrs: FILE_ATTRIBUTES, level: 9 }];
    }
  };
  walk(dir);
  return zipSync(entries);
}
