/** `replicant verify` (issue #7): placeholder until the checks land. */
import { ReplicantError } from '../errors.js';
import type { RunContext } from './main.js';

export async function runVerify(_ctx: RunContext): Promise<number> {
  throw new ReplicantError('ERR_NOT_IMPLEMENTED', "'verify' is not implemented yet", {
    hint: 'use `replicant rdb-inspect` to look at a snapshot',
  });
}
