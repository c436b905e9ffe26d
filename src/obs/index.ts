/** Public API of observability: logger, progress line, run stats, metrics, status server, summaries. */
export { compactLine, createLogger, type Logger, type LoggerOptions, silentLogger } from './logger.js';
export { Progress, type ProgressOptions, type ProgressStream } from './progress.js';
export { formatBytes, formatCount, formatDuration, formatRate, RateMeter, table } from './format.js';
export {
  countSkip,
  elapsedSeconds,
  keysPassed,
  newRunStats,
  type Phase,
  restartCopyCounts,
  type RunStats,
  statusJson,
  VALUE_TYPES,
} from './stats.js';
export { createMetrics } from './metrics.js';
export { type StatusServer, type StatusServerOptions, startStatusServer } from './status-server.js';
export { partialCopyLine, progressRenderer, summaryText } from './report.js';
