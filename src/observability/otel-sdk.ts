import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { logs, metrics, NodeSDK, resources, tracing } from '@opentelemetry/sdk-node';
import type { Config } from '../config/config';

/**
 * Registers the OpenTelemetry SDK, once, at start-up (src/index.ts imports this file only when telemetry is
 * configured, so a bot without it loads none of it):
 *
 * - APPLICATIONINSIGHTS_CONNECTION_STRING → `@azure/monitor-opentelemetry` (`useAzureMonitor`): traces,
 *   metrics and logs to Azure Monitor, with its HTTP and Azure SDK instrumentation; live metrics off;
 * - OTEL_EXPORTER_OTLP_ENDPOINT → OTLP over HTTP (`/v1/traces`, `/v1/metrics`, `/v1/logs`): alone through the
 *   NodeSDK, or added to Azure Monitor's providers when both are set.
 *
 * What is recorded is decided by src/observability/telemetry.ts (API only); this file only decides where it
 * goes. `shutdown` flushes what is buffered (SIGTERM).
 */
export interface RunningTelemetry {
  shutdown(): Promise<void>;
}

const SERVICE = 'foundry-teams-relay';
const METRIC_INTERVAL_MS = 60_000;

function otlp(endpoint: string) {
  return {
    spanProcessors: [new tracing.BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }))],
    metricReaders: [
      new metrics.PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }),
        exportIntervalMillis: METRIC_INTERVAL_MS,
      }),
    ],
    logRecordProcessors: [
      new logs.BatchLogRecordProcessor(new OTLPLogExporter({ url: `${endpoint}/v1/logs` })),
    ],
  };
}

export async function startTelemetry(cfg: Config['telemetry']): Promise<RunningTelemetry> {
  const resource = resources.resourceFromAttributes({ 'service.name': SERVICE });
  const extra = cfg.otlpEndpoint !== undefined ? otlp(cfg.otlpEndpoint) : undefined;
  if (cfg.connectionString !== undefined) {
    const { useAzureMonitor, shutdownAzureMonitor } = await import('@azure/monitor-opentelemetry');
    useAzureMonitor({
      azureMonitorExporterOptions: { connectionString: cfg.connectionString },
      resource,
      enableLiveMetrics: false,
      ...(extra ?? {}),
    });
    return { shutdown: () => shutdownAzureMonitor() };
  }
  if (extra === undefined) return { shutdown: () => Promise.resolve() };
  const sdk = new NodeSDK({ resource, serviceName: SERVICE, ...extra });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
