/** Reconciler Lambda, run on a schedule (see reconcile.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { sfn } from '../commons/clients/sfn.ts';
import { numberEnv, settings } from '../commons/config.ts';
import { StepFunctionsWorkflow } from '../commons/adapters/workflow.ts';
import { taskServices } from '../commons/services/wiring.ts';
import { log } from '../commons/log.ts';
import { observedHandler } from '../commons/observability/observed-handler.ts';
import { reconcile, type ReconcileDeps, type ReconcileReport } from './reconcile.ts';

const deps: ReconcileDeps = {
  ...taskServices(dynamo, settings.tableName()),
  workflow: new StepFunctionsWorkflow(sfn, settings.stateMachineArn()),
  graceSeconds: numberEnv('RECONCILE_GRACE_SECONDS', 120, { min: 0 }),
};

export const handler = observedHandler(async (): Promise<ReconcileReport> => {
  const report = await reconcile(deps);
  log({ msg: 'reconciled', ...report });
  return report;
});
