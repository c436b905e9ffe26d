/**
 * Sinks: where records go (records.ts `Sink`). Standalone target writer, and a null sink for benches
 * and dry runs.
 */
export { defaultHint, printableKey } from './errors.js';
export { NullSink } from './null.js';
export { restoreRefusal } from './restore.js';
export { StandaloneSink } from './standalone.js';
export {
  newSinkStats,
  type ReplyCallback,
  type ReplyClass,
  type SinkStats,
  type StandaloneSinkOptions,
  type TargetCaps,
  type Writer,
} from './types.js';
