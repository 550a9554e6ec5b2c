/** Reconciler Lambda, run on a schedule (see reconcile.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { numberEnv, settings } from '../commons/config.ts';
import { taskServices } from '../commons/composition-root.ts';
import { log } from '../commons/log.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { reconcile, type ReconcileDeps, type ReconcileReport } from './reconcile.ts';

const deps: ReconcileDeps = {
  ...taskServices(dynamo, settings.tableName()),
  graceSeconds: numberEnv('RECONCILE_GRACE_SECONDS', 120, { min: 0 }),
};

export const handler = withGatewayErrors(async (): Promise<ReconcileReport> => {
  const report = await reconcile(deps);
  log({ msg: 'reconciled', ...report });
  return report;
});
