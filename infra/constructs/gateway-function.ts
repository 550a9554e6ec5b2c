import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import { acknowledge } from '../nag.ts';

const FUNCTIONS_DIR = fileURLToPath(new URL('../../functions/', import.meta.url));

export interface GatewayFunctionProps extends Pick<NodejsFunctionProps, 'environment' | 'memorySize' | 'timeout' | 'description'> {
  /** Folder under `functions/` whose `handler.ts` is the entry point, e.g. `api`. */
  readonly handlerDir: string;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * How every function is bundled (esbuild, through NodejsFunction); exported so that `npm run bench` builds
 * its DynamoDB-only baseline exactly alike.
 */
export const GATEWAY_BUNDLING = {
  target: 'node20',
  minify: true,
  // Error class names are the contract with the state machine's Retry/Catch: minifying must keep them.
  keepNames: true,
  sourceMap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  // Some bundled CommonJS dependencies call require(); ESM output needs it defined.
  banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
} as const;

/**
 * The project's Lambda defaults in one place:
 * - Node.js 24, the latest Lambda runtime CDK knows (cdk-nag's AwsSolutions-L1), on arm64 (Graviton:
 *   about 20% cheaper per GB-second for this I/O-bound work);
 * - bundled ESM, minified, with the AWS SDK bundled in rather than taken from the runtime, so the code
 *   runs against the SDK version it was tested with, and the local runtime can run the very same file;
 * - X-Ray tracing and a log group with a retention, so logs do not accumulate forever.
 * Code is built for Node 20 syntax because `npm start` runs these bundles on the developer's Node.
 */
export class GatewayFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: GatewayFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // An explicit role instead of AWSLambdaBasicExecutionRole, whose log permissions cover every log group.
    const role = new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    super(scope, id, {
      role,
      entry: `${FUNCTIONS_DIR}${props.handlerDir}/handler.ts`,
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: Tracing.ACTIVE,
      logGroup,
      loggingFormat: LoggingFormat.TEXT,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: { format: OutputFormat.ESM, logLevel: LogLevel.WARNING, externalModules: [], ...GATEWAY_BUNDLING, mainFields: [...GATEWAY_BUNDLING.mainFields] },
    });
    // `tracing: ACTIVE` adds xray:PutTraceSegments and xray:PutTelemetryRecords on "*" to the role.
    acknowledge(
      role,
      'IAM5',
      'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource type and need Resource "*" ' +
        '(the only "*" resource of this role; asserted in test/infra).',
      ['Resource::*'],
    );
  }
}
