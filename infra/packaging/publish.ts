/**
 * `npm run package -- --publish <bucket>`: uploads what `npm run package` wrote (the zips, then the template,
 * which names them) with the caller's own AWS credentials, and makes the AWS console's "Launch stack" URL.
 * The bucket must be in the region the stack is created in: Lambda reads a function's code from there only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ASSETS_DIR, TEMPLATE_FILE } from './package.ts';
import { ASSETS_BUCKET_PARAMETER, ASSETS_PREFIX_PARAMETER } from './console-synthesizer.ts';

export const DEFAULT_PUBLISH_PREFIX = 'luma-video-gateway/';

export interface PublishOptions {
  /** What `npm run package` wrote. */
  readonly distDir: string;
  readonly bucket: string;
  /** Key prefix, ending with a slash. @default DEFAULT_PUBLISH_PREFIX */
  readonly prefix?: string;
  /** The bucket's region, where the stack is created. */
  readonly region: string;
  readonly s3: S3Client;
  /** @default 'LumaVideoGateway' */
  readonly stackName?: string;
}

export interface Published {
  /** Keys written, zips first, the template last. */
  readonly keys: string[];
  readonly templateUrl: string;
  readonly launchStackUrl: string;
}

export async function publish(options: PublishOptions): Promise<Published> {
  const prefix = options.prefix ?? DEFAULT_PUBLISH_PREFIX;
  if (prefix !== '' && !prefix.endsWith('/')) throw new Error(`The prefix must end with a slash, not "${prefix}".`);
  const keys: string[] = [];
  const put = async (key: string, body: Buffer, contentType: string) => {
    await options.s3.send(new PutObjectCommand({ Bucket: options.bucket, Key: key, Body: body, ContentType: contentType }));
    keys.push(key);
  };
  const assetsDir = join(options.distDir, ASSETS_DIR);
  for (const zip of readdirSync(assetsDir).filter((name) => name.endsWith('.zip')).sort()) {
    await put(`${prefix}${zip}`, readFileSync(join(assetsDir, zip)), 'application/zip');
  }
  // Last: a template is never online before the code it names.
  await put(`${prefix}${TEMPLATE_FILE}`, readFileSync(join(options.distDir, TEMPLATE_FILE)), 'application/json');
  const templateUrl = `https://${options.bucket}.s3.${options.region}.amazonaws.com/${prefix}${TEMPLATE_FILE}`;
  return { keys, templateUrl, launchStackUrl: launchStackUrl(templateUrl, options.region, options.bucket, prefix, options.stackName ?? 'LumaVideoGateway') };
}

/** The console's "Create stack" page with the template and the asset parameters filled in. */
export function launchStackUrl(templateUrl: string, region: string, bucket: string, prefix: string, stackName: string): string {
  const query = new URLSearchParams({
    templateURL: templateUrl,
    stackName,
    [`param_${ASSETS_BUCKET_PARAMETER}`]: bucket,
    [`param_${ASSETS_PREFIX_PARAMETER}`]: prefix,
  });
  return `https://${region}.console.aws.amazon.com/cloudformation/home?region=${region}#/stacks/create/review?${query}`;
}
