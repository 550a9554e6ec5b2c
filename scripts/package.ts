/**
 * Packages the gateway for the AWS console (infra/packaging/):
 *
 *   npm run package                                   # dist/luma-video-gateway.template.json and dist/assets/*.zip, offline
 *   npm run package -- --publish <bucket> [--region r] [--prefix p/] [--out dir]
 *                                                     # also uploads them with your AWS credentials and prints a Launch stack URL
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { packageGateway } from '../infra/packaging/package.ts';
import { DEFAULT_PUBLISH_PREFIX, publish } from '../infra/packaging/publish.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'dist' },
    publish: { type: 'string' },
    region: { type: 'string' },
    prefix: { type: 'string', default: DEFAULT_PUBLISH_PREFIX },
  },
});

const outDir = resolve(values.out!);
const started = performance.now();
const { templateFile, template, assets } = packageGateway({ outDir });
console.log(`${templateFile} (${Object.keys(template.Parameters ?? {}).length} parameters, ${Object.keys(template.Resources).length} resources)`);
for (const { zipName, bytes } of assets) console.log(`${outDir}/assets/${zipName} (${(bytes / 1024).toFixed(0)} KiB)`);
console.log(`packaged in ${((performance.now() - started) / 1000).toFixed(1)} s`);

if (values.publish) {
  // The SDK's own configuration: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3 (an S3-compatible store), …
  const s3 = new S3Client({ region: values.region, forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });
  const region = await s3.config.region();
  const published = await publish({ distDir: outDir, bucket: values.publish, prefix: values.prefix, region, s3 });
  for (const key of published.keys) console.log(`uploaded s3://${values.publish}/${key}`);
  console.log(`\nTemplate: ${published.templateUrl}\nLaunch stack: ${published.launchStackUrl}`);
}
