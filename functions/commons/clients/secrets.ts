import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { surfaceTransientErrors } from './transient-errors.ts';

export const secrets = surfaceTransientErrors(new SecretsManagerClient({}), 'Secrets Manager');
