import { logs, SeverityNumber } from '@opentelemetry/api-logs';
import type { LogSink } from './logger';

const SEVERITY: Record<string, SeverityNumber> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
  audit: SeverityNumber.INFO2,
};

/**
 * A log sink that also hands every record to the OpenTelemetry logs API (exported with traces and metrics when
 * telemetry is on; app.ts adds it only then). It sees only the finished, redacted line the logger wrote, so
 * nothing reaches the exporter that the logger would not print (docs/conventions.md C12).
 */
export function withOtelLogs(next: LogSink): LogSink {
  const logger = logs.getLogger('foundry-teams-relay');
  return (line) => {
    next(line);
    let level = 'info';
    let event = '';
    try {
      const r = JSON.parse(line) as { level?: unknown; event?: unknown };
      if (typeof r.level === 'string') level = r.level;
      if (typeof r.event === 'string') event = r.event;
    } catch {
      // an unparsable line still goes out, at info
    }
    logger.emit({
      severityNumber: SEVERITY[level] ?? SeverityNumber.INFO,
      severityText: level.toUpperCase(),
      body: line,
      attributes: { 'log.event': event },
    });
  };
}
