import { SFNClient } from '@aws-sdk/client-sfn';
import { lazyClient } from './lazy-client.ts';

/** Built on first use: most invocations start no workflow (a dispatch starts one only when a slot is free). */
export const sfn = /* @__PURE__ */ lazyClient(() => new SFNClient({}));
