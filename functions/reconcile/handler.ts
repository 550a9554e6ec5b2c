/** Reconciler Lambda, run on a schedule (see reconcile.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { settings } from '../commons/config.ts';
import { taskServices } from '../commons/composition-root.ts';
import { log } from '../commons/log.ts';
import { observedHandler } from '../commons/observability/observed-handler.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { reconcile, type ReconcileDeps, type ReconcileReport } from './reconcile.ts';

const deps: ReconcileDeps = {
  ...taskServices(dynamo, settings.tableName()),
  graceSeconds: settings.reconcileGraceSeconds(),
};

export const handler = observedHandler(
  withGatewayErrors(async (): Promise<ReconcileReport> => {
    const report = await reconcile(deps);
    log({ msg: 'reconciled', ...report });
    return report;
  }),
);
