import { ReplicantError } from '../errors.js';
import type { RunContext } from './main.js';

export async function runSync(_ctx: RunContext): Promise<number> {
  throw new ReplicantError('ERR_NOT_IMPLEMENTED', 'live sync is waiting for the target writer', {});
}
