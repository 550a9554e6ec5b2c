/** Reconciler Lambda, run on a schedule (see reconcile.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { sfn } from '../commons/clients/sfn.ts';
import { settings } from '../commons/config.ts';
import { StepFunctionsWorkflow } from '../commons/adapters/workflow.ts';
import { taskServices } from '../commons/services/wiring.ts';
import { log } from '../commons/log.ts';
import { reconcile, type ReconcileDeps, type ReconcileReport } from './reconcile.ts';

const deps: ReconcileDeps = {
  ...taskServices(dynamo, settings.tableName()),
  workflow: new StepFunctionsWorkflow(sfn, settings.stateMachineArn()),
  graceSeconds: settings.reconcileGraceSeconds(),
};

export async function handler(): Promise<ReconcileReport> {
  const report = await reconcile(deps);
  log({ msg: 'reconciled', ...report });
  return report;
}
