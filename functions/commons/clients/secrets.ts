import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { lazyClient } from './lazy-client.ts';
import { surfaceTransientErrors } from './transient-errors.ts';

/** Built on first use: the upstream key is read once per environment, and only by what calls the upstream. */
export const secrets = /* @__PURE__ */ lazyClient(() => surfaceTransientErrors(new SecretsManagerClient({}), 'Secrets Manager'));
