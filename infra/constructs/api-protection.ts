import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { SETTINGS } from '../../functions/commons/settings/catalogue.ts';
import { checkSetting } from '../../functions/commons/settings/reader.ts';

/** The evaluation window of both rate rules: "a minute", as the settings say. One of WAF's 60, 120, 300 or 600. */
export const RATE_WINDOW_SECONDS = 60;

export interface ClientRateLimits {
  /**
   * Requests a minute one `Authorization` header value may send, valid key or not (requests without the
   * header are left to the address rule). Above the per-key generation limits, which the API function
   * enforces: this one only sheds floods before they cost a Lambda invocation. @default 3000
   */
  readonly requestsPerKey?: number;
  /**
   * Requests a minute from one client IP address, whatever the keys: what stops a flood of random bad
   * keys, each of which the key rule sees once. A NAT in front of several clients counts as one
   * address. @default 6000
   */
  readonly requestsPerAddress?: number;
}

export const DEFAULT_CLIENT_RATE_LIMITS: Required<ClientRateLimits> = {
  requestsPerKey: SETTINGS.clientRequestsPerMinute.default,
  requestsPerAddress: SETTINGS.ipRequestsPerMinute.default,
};

export interface ApiProtectionProps extends ClientRateLimits {
  /** The REST API stage the web ACL guards. */
  readonly stage: Stage;
  /** A browser origin the 429s name in `Access-Control-Allow-Origin` (static, so only a sole one). @default none */
  readonly corsOrigin?: string;
}

/**
 * A regional AWS WAF web ACL on the API's stage: two rate-based rules that answer a client over its
 * limit with 429 and the API's own JSON error shape, before API Gateway throttles or the function runs.
 * WAF is evaluated before the stage's throttle, so one client's flood spends its own budget, not the
 * stage's, which every tenant shares.
 *
 * The key rule comes first: a request it blocks is not counted by the address rule, so one noisy key
 * behind a shared address does not lock out the address's other keys.
 */
export class ApiProtection extends Construct {
  public readonly webAcl: CfnWebACL;
  public readonly limits: Required<ClientRateLimits>;

  constructor(scope: Construct, id: string, props: ApiProtectionProps) {
    super(scope, id);
    this.limits = {
      requestsPerKey: checkSetting('clientRequestsPerMinute', props.requestsPerKey ?? DEFAULT_CLIENT_RATE_LIMITS.requestsPerKey, 'requestsPerKey'),
      requestsPerAddress: checkSetting('ipRequestsPerMinute', props.requestsPerAddress ?? DEFAULT_CLIENT_RATE_LIMITS.requestsPerAddress, 'requestsPerAddress'),
    };
    const { requestsPerKey, requestsPerAddress } = this.limits;
    const retry = `Retry after ${RATE_WINDOW_SECONDS} seconds.`;
    // Sampled requests stay off: WAF keeps each sampled request's headers for hours, and the Authorization
    // header is a client's key in plain text, which the gateway otherwise stores only as a hash.
    const visibility = (metricName: string): CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName,
      sampledRequestsEnabled: false,
    });
    const block = (bodyKey: string): CfnWebACL.RuleActionProperty => ({
      block: {
        customResponse: {
          responseCode: 429,
          customResponseBodyKey: bodyKey,
          responseHeaders: [
            { name: 'retry-after', value: String(RATE_WINDOW_SECONDS) },
            { name: 'cache-control', value: 'no-store' },
            ...(props.corsOrigin
              ? [
                  { name: 'access-control-allow-origin', value: props.corsOrigin },
                  { name: 'vary', value: 'Origin' },
                ]
              : []),
          ],
        },
      },
    });
    const rateLimited = (message: string): CfnWebACL.CustomResponseBodyProperty => ({
      contentType: 'APPLICATION_JSON',
      content: JSON.stringify({ error: { code: 'rate_limited', message } }),
    });

    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      description: 'Per-client rate limits of the Luma video gateway API',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('LumaGatewayApi'),
      customResponseBodies: {
        rate_limited_key: rateLimited(`Too many requests with this API key: at most ${requestsPerKey} a minute. ${retry}`),
        rate_limited_address: rateLimited(`Too many requests from this address: at most ${requestsPerAddress} a minute, whatever the key. ${retry}`),
      },
      rules: [
        {
          name: 'PerKeyRate',
          priority: 0,
          statement: {
            rateBasedStatement: {
              limit: requestsPerKey,
              evaluationWindowSec: RATE_WINDOW_SECONDS,
              aggregateKeyType: 'CUSTOM_KEYS',
              customKeys: [{ header: { name: 'authorization', textTransformations: [{ priority: 0, type: 'NONE' }] } }],
            },
          },
          action: block('rate_limited_key'),
          visibilityConfig: visibility('PerKeyRate'),
        },
        {
          name: 'PerAddressRate',
          priority: 1,
          statement: {
            rateBasedStatement: { limit: requestsPerAddress, evaluationWindowSec: RATE_WINDOW_SECONDS, aggregateKeyType: 'IP' },
          },
          action: block('rate_limited_address'),
          visibilityConfig: visibility('PerAddressRate'),
        },
      ],
    });
    new CfnWebACLAssociation(this, 'StageAssociation', {
      resourceArn: props.stage.stageArn,
      webAclArn: this.webAcl.attrArn,
    });
  }
}
