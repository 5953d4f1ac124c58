/**
 * In-memory OpenTelemetry for tests: a tracer provider (with the AsyncLocalStorage context manager, as in
 * production) and a meter provider, registered globally for the test file (jest gives each file its own
 * globals). The bot's telemetry then records into these instead of exporting.
 */
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export interface TestOtel {
  spans(): ReadableSpan[];
  /** Data points of one metric (cumulative since registration). */
  points(name: string): Promise<DataPoint<unknown>[]>;
  /** Every attribute value of every metric data point. */
  allMetricAttributes(): Promise<unknown[]>;
  reset(): void;
}

export function registerTestOtel(): TestOtel {
  const spanExporter = new InMemorySpanExporter();
  const tp = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  tp.register();
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  const all = async () => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  };
  return {
    spans: () => spanExporter.getFinishedSpans(),
    points: async (name) =>
      (await all())
        .filter((m) => m.descriptor.name === name)
        .flatMap((m) => m.dataPoints as DataPoint<unknown>[]),
    allMetricAttributes: async () =>
      (await all()).flatMap((m) =>
        (m.dataPoints as DataPoint<unknown>[]).flatMap((p) => Object.values(p.attributes)),
      ),
    reset: () => spanExporter.reset(),
  };
}

/** Every string a span carries: name, attribute values, event names and event attribute values, status message. */
export function spanStrings(s: ReadableSpan): string[] {
  return [
    s.name,
    ...Object.values(s.attributes).map(String),
    ...s.events.flatMap((e) => [e.name, ...Object.values(e.attributes ?? {}).map(String)]),
    s.status.message ?? '',
  ];
}
