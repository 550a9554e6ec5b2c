/**
 * The Amazon States Language, as far as the local runtime reads it: a state machine definition as the
 * template holds it (local/cloudformation-intrinsics.ts) and as the local Step Functions runs it
 * (local/step-functions/). Fields it does not read stay in the index signatures, untouched.
 */

export interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxDelaySeconds?: number;
  [field: string]: unknown;
}

export interface AslState {
  Type: string;
  Resource?: string;
  Retry?: AslRetrier[];
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  Seconds?: number;
  SecondsPath?: string;
  Timestamp?: string;
  TimestampPath?: string;
  Iterator?: AslDefinition;
  ItemProcessor?: AslDefinition;
  Branches?: AslDefinition[];
  [field: string]: unknown;
}

/** A state machine definition (or a Map's or Parallel branch's, which have no TimeoutSeconds). */
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  Comment?: string;
  [field: string]: unknown;
}
