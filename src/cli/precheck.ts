/** `replicant precheck` (issue #7): placeholder until the checks land. */
import { ReplicantError } from '../errors.js';
import type { RunContext } from './main.js';

export async function runPrecheck(_ctx: RunContext): Promise<number> {
  throw new ReplicantError('ERR_NOT_IMPLEMENTED', "'precheck' is not implemented yet", {
    hint: 'use `replicant rdb-inspect` to look at a snapshot',
  });
}
