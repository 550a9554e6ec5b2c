/**
 * The packaged template's CloudFormation parameters: what someone creating the stack from the console may
 * choose (the Luma key, the defaults a request gets, the upstream's limits, the deadline, where alarms go),
 * bound into the synthesized stack after it is built. `cdk deploy` keeps its CDK context settings: none of
 * this is in the stack that `npm run synth`, `npm start` and the tests build.
 *
 * Each parameter replaces the value the stack was synthesized with, wherever that value is used: an
 * environment variable of every function that has it, the secret's value, the state machine's timeout,
 * the alarm topic's subscription. The synthesized value is the parameter's default, so a template created
 * with every default deploys what `cdk deploy` would.
 */
import { CfnCondition, CfnMapping, CfnParameter, Fn, Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnSecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { CfnSubscription } from 'aws-cdk-lib/aws-sns';
import type { GatewayStack } from '../gateway-stack.ts';
import { GENERATION_OPTIONS, type GenerationOptionName } from '../../functions/commons/domain/luma-options.ts';
import { UPSTREAM_KEY_PLACEHOLDER_SECRET } from '../../functions/commons/domain/upstream-key.ts';
import { ASSETS_BUCKET_PARAMETER, ASSETS_PREFIX_PARAMETER } from './console-synthesizer.ts';

/** The generation deadlines the console offers, in minutes (a mapping gives each its seconds: CloudFormation cannot multiply). */
export const GENERATION_TIMEOUT_MINUTES = [10, 15, 20, 30, 45, 60, 90, 120] as const;

const GENERATION_PARAMETERS: Record<GenerationOptionName, { id: string; what: string }> = {
  model: { id: 'UpstreamModel', what: 'The model of a request that names none' },
  resolution: { id: 'UpstreamResolution', what: 'The resolution of a request that names none' },
  duration: { id: 'UpstreamDuration', what: 'The duration of a request that names none' },
};

/** Adds the parameters to a stack built with ConsoleStackSynthesizer, and binds each where its value is used. */
export function addConsoleParameters(stack: GatewayStack): void {
  const functions = stack.node.findAll().filter((node): node is CfnFunction => node instanceof CfnFunction);
  const env = new FunctionEnvironment(stack, functions);

  // The key: stored into the secret the stack creates; empty keeps the placeholder the functions recognise.
  if (!(stack.gateway.upstreamKey instanceof Secret)) {
    throw new Error('The packaged template stores LumaApiKey in the secret it creates: unset the context upstreamKeySecretArn.');
  }
  const apiKey = new CfnParameter(stack, 'LumaApiKey', {
    type: 'String',
    noEcho: true,
    default: '',
    description:
      'Your Luma API key (https://lumalabs.ai/api/keys), stored in the stack\'s Secrets Manager secret (output UpstreamKeySecret). ' +
      'Empty: the secret keeps a placeholder, and tasks fail with a message naming the secret until you put the key in it. ' +
      'On a stack update, choose "Use existing value": a new value (or empty) replaces the secret\'s.',
  });
  const keyGiven = new CfnCondition(stack, 'LumaApiKeyGiven', { expression: Fn.conditionNot(Fn.conditionEquals(apiKey.valueAsString, '')) });
  (stack.gateway.upstreamKey.node.defaultChild as CfnSecret).addPropertyOverride(
    'SecretString',
    Fn.conditionIf(keyGiven.logicalId, apiKey.valueAsString, UPSTREAM_KEY_PLACEHOLDER_SECRET),
  );
  Validations.of(stack.gateway.upstreamKey).acknowledge({
    id: 'CloudFormation-Validate::W1030',
    reason: 'SecretString is the LumaApiKey parameter only when LumaApiKeyGiven (not empty), else the placeholder: never empty. The linter reads the parameter\'s empty default without the condition.',
  });

  const generation = Object.entries(GENERATION_PARAMETERS).map(([name, { id, what }]) => {
    const option = GENERATION_OPTIONS[name as GenerationOptionName];
    const parameter = new CfnParameter(stack, id, {
      type: 'String',
      default: env.current(option.env),
      allowedValues: env.current(option.allowedEnv).split(','),
      description: `${what} (${option.context} in the CDK context).`,
    });
    env.bind(option.env, parameter.valueAsString);
    return parameter;
  });

  const concurrent = numberParameter(stack, env, 'UpstreamMaxConcurrent', 'UPSTREAM_MAX_CONCURRENT',
    'Generations the gateway lets run upstream at once: at most your Luma plan\'s concurrency (Build tier: 10).');
  const creates = numberParameter(stack, env, 'UpstreamMaxCreatesPerMinute', 'UPSTREAM_MAX_CREATES_PER_MINUTE',
    'Generations the gateway creates upstream a minute: at most your Luma plan\'s rate (Build tier: 20).');

  const timeout = generationTimeoutParameter(stack, env);

  const alarmEmail = new CfnParameter(stack, 'AlarmEmail', {
    type: 'String',
    default: '',
    description: 'An email address the alarms are sent to (SNS sends it a confirmation first). Empty: none; subscribe to the AlarmTopicArn output yourself.',
    allowedPattern: '^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
    constraintDescription: 'empty, or an email address',
  });
  const emailGiven = new CfnCondition(stack, 'AlarmEmailGiven', { expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')) });
  const subscription = new CfnSubscription(stack.gateway.observability, 'AlarmEmailParameter', {
    topicArn: stack.gateway.observability.topic.topicArn,
    protocol: 'email',
    endpoint: alarmEmail.valueAsString,
  });
  subscription.cfnOptions.condition = emailGiven;

  stack.templateOptions.metadata = {
    ...stack.templateOptions.metadata,
    'AWS::CloudFormation::Interface': {
      ParameterGroups: [
        { Label: { default: 'Luma' }, Parameters: [apiKey.logicalId, ...generation.map((parameter) => parameter.logicalId)] },
        { Label: { default: 'Upstream limits and deadline' }, Parameters: [concurrent.logicalId, creates.logicalId, timeout.logicalId] },
        { Label: { default: 'Alarms' }, Parameters: [alarmEmail.logicalId] },
        { Label: { default: 'Where the functions\' code is' }, Parameters: [ASSETS_BUCKET_PARAMETER, ASSETS_PREFIX_PARAMETER] },
      ],
    },
  };
}

/** A whole-number parameter for an environment variable, from 1 to 1000 (the stack's own bounds), default the synthesized value. */
function numberParameter(stack: Stack, env: FunctionEnvironment, id: string, variable: string, description: string): CfnParameter {
  const parameter = new CfnParameter(stack, id, { type: 'Number', default: Number(env.current(variable)), minValue: 1, maxValue: 1000, description });
  env.bind(variable, parameter.valueAsString);
  return parameter;
}

/**
 * The deadline moves two things: GENERATION_TIMEOUT_SECONDS of every function that has it, and the state
 * machine's TimeoutSeconds, its backstop, which is the deadline plus a fixed allowance for the copy (see
 * workflow.ts). A mapping holds both per offered value.
 */
function generationTimeoutParameter(stack: Stack, env: FunctionEnvironment): CfnParameter {
  const deployedSeconds = Number(env.current('GENERATION_TIMEOUT_SECONDS'));
  // The generation workflow's (the webhook delivery workflow's backstop follows its own retry window).
  const machines = stack.node
    .findAll()
    .filter((node): node is CfnStateMachine => node instanceof CfnStateMachine && String(node.stateMachineName).endsWith('-generation'));
  if (machines.length !== 1) throw new Error(`Expected one generation state machine, found ${machines.length}.`);
  const machine = machines[0]!;
  const definition = stack.resolve(machine.definitionString) as unknown;
  const machineSeconds = machineTimeoutOf(definition);
  const allowance = machineSeconds - deployedSeconds;
  const minutes = GENERATION_TIMEOUT_MINUTES.map(String);
  if (!minutes.includes(String(deployedSeconds / 60))) {
    throw new Error(`The packaged template offers a generation deadline of ${minutes.join(', ')} minutes; the context's is ${deployedSeconds / 60}.`);
  }
  const mapping = new CfnMapping(stack, 'GenerationTimeouts', {
    mapping: Object.fromEntries(
      GENERATION_TIMEOUT_MINUTES.map((value) => [String(value), { Seconds: String(value * 60), MachineSeconds: String(value * 60 + allowance) }]),
    ),
  });
  const parameter = new CfnParameter(stack, 'GenerationTimeoutMinutes', {
    type: 'String',
    default: String(deployedSeconds / 60),
    allowedValues: minutes,
    description: 'How long a generation may take, from its admission to an upstream slot to its stored video, before it fails with deadline_exceeded.',
  });
  env.bind('GENERATION_TIMEOUT_SECONDS', mapping.findInMap(parameter.valueAsString, 'Seconds'));
  machine.addPropertyOverride('DefinitionString', withMachineTimeout(definition, machineSeconds, mapping.findInMap(parameter.valueAsString, 'MachineSeconds')));
  return parameter;
}

/** The top-level `"TimeoutSeconds":<n>` of a definition (a string, or CDK's `Fn::Join` of fragments and tokens). */
function machineTimeoutOf(definition: unknown): number {
  const matches = fragments(definition).join('').match(/"TimeoutSeconds":(\d+)/g) ?? [];
  if (matches.length !== 1) throw new Error(`Expected one TimeoutSeconds in the state machine's definition, found ${matches.length}.`);
  return Number(matches[0]!.split(':')[1]);
}

/** The definition with its TimeoutSeconds replaced by `value` (a token the template resolves). */
function withMachineTimeout(definition: unknown, seconds: number, value: string): unknown {
  const needle = `"TimeoutSeconds":${seconds}`;
  const parts = isJoin(definition) ? definition['Fn::Join'][1] : [definition];
  const replaced = parts.flatMap((part) => {
    if (typeof part !== 'string' || !part.includes(needle)) return [part];
    const [before, after] = part.split(needle) as [string, string];
    return [`${before}"TimeoutSeconds":`, value, after];
  });
  return { 'Fn::Join': ['', replaced] };
}

function fragments(definition: unknown): string[] {
  if (typeof definition === 'string') return [definition];
  if (isJoin(definition)) return definition['Fn::Join'][1].filter((part): part is string => typeof part === 'string');
  throw new Error('Unexpected shape of the state machine\'s definition.');
}

function isJoin(value: unknown): value is { 'Fn::Join': [string, unknown[]] } {
  return typeof value === 'object' && value !== null && Array.isArray((value as Record<string, unknown>)['Fn::Join']);
}

/** The functions' environment variables: the value synthesized, and binding a parameter into every function that has one. */
class FunctionEnvironment {
  constructor(
    private readonly stack: Stack,
    private readonly functions: CfnFunction[],
  ) {}

  /** The one value a variable was synthesized with (every function that has it agrees). */
  current(variable: string): string {
    const values = new Set(this.having(variable).map(({ variables }) => variables[variable]));
    if (values.size !== 1) throw new Error(`Environment variable ${variable}: expected one synthesized value, found ${[...values].map(String).join(', ') || 'none'}.`);
    const [value] = values;
    if (typeof value !== 'string') throw new Error(`Environment variable ${variable} is not a literal in the synthesized stack.`);
    return value;
  }

  /** Sets the variable to `value` in every function that has it. */
  bind(variable: string, value: string): void {
    for (const { fn } of this.having(variable)) (fn as CfnResource).addPropertyOverride(`Environment.Variables.${variable}`, value);
  }

  private having(variable: string): { fn: CfnFunction; variables: Record<string, unknown> }[] {
    return this.functions
      .map((fn) => ({ fn, variables: ((this.stack.resolve(fn.environment) as { variables?: Record<string, unknown> } | undefined)?.variables ?? {}) }))
      .filter(({ variables }) => variable in variables);
  }
}
