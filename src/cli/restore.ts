import { ReplicantError } from '../errors.js';
import type { RunContext } from './main.js';

export async function runRestore(_ctx: RunContext): Promise<number> {
  throw new ReplicantError('ERR_NOT_IMPLEMENTED', 'restore is waiting for the target writer', {});
}
