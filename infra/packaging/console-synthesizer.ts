import { Aws, CfnParameter, FileAssetPackaging, Fn, Stack, StackSynthesizer } from 'aws-cdk-lib';
import type { DockerImageAssetLocation, DockerImageAssetSource, FileAssetLocation, FileAssetSource, ISynthesisSession } from 'aws-cdk-lib';

/** A function's code as the packaged template names it: `<AssetsPrefix><zipName>` in the `AssetsBucket`. */
export interface PackagedAsset {
  /** `<source hash>.zip`. */
  readonly zipName: string;
  /** The staged directory, relative to the cloud assembly's folder (`asset.<hash>`). */
  readonly stagedPath: string;
}

/** The parameters that say where the zips are; their logical ids are the names the console shows. */
export const ASSETS_BUCKET_PARAMETER = 'AssetsBucket';
export const ASSETS_PREFIX_PARAMETER = 'AssetsPrefix';

/**
 * A synthesizer for a template that is created from the AWS console, without `cdk bootstrap` and without
 * `cdk deploy`: CDK's default one reads every asset from the bootstrap bucket (`cdk-hnb659fds-assets-…`,
 * which only `cdk deploy` fills) and adds the `BootstrapVersion` parameter and its `CheckBootstrapVersion`
 * rule. This one adds neither: each function's code is read from the bucket the `AssetsBucket` parameter
 * names, under the `AssetsPrefix` parameter, as `<source hash>.zip`, the zip `npm run package` writes
 * (infra/packaging/package.ts) from the directory CDK staged. Only directories zipped for Lambda are
 * supported: the gateway has no other asset.
 */
export class ConsoleStackSynthesizer extends StackSynthesizer {
  readonly #assets = new Map<string, PackagedAsset>();
  #bucket?: CfnParameter;
  #prefix?: CfnParameter;

  /** The zips the template names, one per distinct asset. */
  get assets(): PackagedAsset[] {
    return [...this.#assets.values()];
  }

  addFileAsset(asset: FileAssetSource): FileAssetLocation {
    if (asset.packaging !== FileAssetPackaging.ZIP_DIRECTORY || !asset.fileName) {
      throw new Error(`The console template packages zipped directories only; asset ${asset.sourceHash} is ${asset.packaging ?? 'a file'}.`);
    }
    const zipName = `${asset.sourceHash}.zip`;
    this.#assets.set(zipName, { zipName, stagedPath: asset.fileName });
    const { bucket, prefix } = this.parameters();
    const bucketName = bucket.valueAsString;
    const objectKey = Fn.join('', [prefix.valueAsString, zipName]);
    return {
      bucketName,
      objectKey,
      httpUrl: Fn.join('', ['https://', bucketName, '.s3.', Aws.REGION, '.', Aws.URL_SUFFIX, '/', objectKey]),
      s3ObjectUrl: Fn.join('', ['s3://', bucketName, '/', objectKey]),
    };
  }

  addDockerImageAsset(asset: DockerImageAssetSource): DockerImageAssetLocation {
    throw new Error(`The console template has no container registry for image asset ${asset.sourceHash}.`);
  }

  synthesize(session: ISynthesisSession): void {
    this.synthesizeTemplate(session);
    this.emitArtifact(session);
  }

  /** Made with the first asset, so that a stack with none asks for no bucket. */
  private parameters(): { bucket: CfnParameter; prefix: CfnParameter } {
    const stack: Stack = this.boundStack;
    this.#bucket ??= new CfnParameter(stack, ASSETS_BUCKET_PARAMETER, {
      type: 'String',
      description:
        'The S3 bucket holding the functions\' zips (`npm run package -- --publish <bucket>` uploads them), in the region you create the stack in.',
      allowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
      constraintDescription: 'an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens',
    });
    this.#prefix ??= new CfnParameter(stack, ASSETS_PREFIX_PARAMETER, {
      type: 'String',
      default: '',
      description: 'The key prefix of the zips in that bucket, ending with a slash (e.g. `luma-video-gateway/0.1.0/`); empty: the bucket\'s top level.',
      allowedPattern: '^$|^[A-Za-z0-9!_.*\'()/-]*/$',
      constraintDescription: 'empty, or S3 key characters ending with a slash',
    });
    return { bucket: this.#bucket, prefix: this.#prefix };
  }
}
