/**
 * What the local API front needs to know of the REST API, read from the synthesized template: the stage's
 * name (it is in `requestContext.path`) and the integration timeout. Pure: no I/O.
 */
import { findResources, type Template } from './template.ts';

export interface RestApiSettings {
  stageName: string;
  /** How long API Gateway waits for the integration before it answers 504. */
  integrationTimeoutMs: number;
}

export function restApiSettingsFromTemplate(template: Template): RestApiSettings {
  const stages = findResources(template, 'AWS::ApiGateway::Stage');
  if (stages.length !== 1) throw new Error(`Expected one AWS::ApiGateway::Stage in the template, found ${stages.length}.`);
  const stage = stages[0]![1].Properties ?? {};
  if (typeof stage.StageName !== 'string') throw new Error('The stage needs a literal name to run locally.');
  const timeouts = new Set(
    findResources(template, 'AWS::ApiGateway::Method').map(([, method]) => Number(method.Properties?.Integration?.TimeoutInMillis ?? 29_000)),
  );
  if (timeouts.size !== 1) throw new Error(`Every method must have the same integration timeout to run locally, not ${[...timeouts].join(', ')} ms.`);
  return {
    stageName: stage.StageName,
    integrationTimeoutMs: [...timeouts][0]!,
  };
}
