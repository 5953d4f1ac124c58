import type { Config } from '../config/config';
import type { StoreCall } from '../storage/watched-store';

/** Where telemetry goes: `off` when neither APPLICATIONINSIGHTS_CONNECTION_STRING nor OTEL_EXPORTER_OTLP_ENDPOINT. */
export type TelemetryMode = 'off' | 'azure_monitor' | 'otlp' | 'azure_monitor+otlp';

export function telemetryMode(t: Config['telemetry']): TelemetryMode {
  if (t.connectionString !== undefined)
    return t.otlpEndpoint !== undefined ? 'azure_monitor+otlp' : 'azure_monitor';
  return t.otlpEndpoint !== undefined ? 'otlp' : 'off';
}

export interface DeploymentFacts {
  config: Config;
  identityMode: 'app' | 'user';
  lastStoreCall: () => StoreCall | undefined;
  clock?: () => number;
}

/**
 * The admin-only "Deployment" lines of `/status` (RelayDeps.diagnostics): what the running bot knows of its
 * set-up — agent, identity mode, storage kind and its last call, telemetry, the Foundry endpoint's host.
 * No secrets, no connection strings, no URLs beyond the Foundry host. The doctor's summary can replace or
 * extend this later through the same port.
 */
export function deploymentSummary(f: DeploymentFacts): () => Promise<string[]> {
  const { config } = f;
  const clock = f.clock ?? Date.now;
  return () => {
    const c = f.lastStoreCall();
    const storage = `${config.storage.kind}, last call ${
      c === undefined
        ? 'none yet'
        : `${c.ok ? 'succeeded' : 'FAILED'} ${Math.round((clock() - c.at) / 1000)} s ago`
    }`;
    const version = config.foundry.agentVersion ?? 'active version';
    return Promise.resolve([
      `Agent: ${config.foundry.agentName} (${version})`,
      `Identity mode: ${f.identityMode}${f.identityMode === 'app' ? ` (${config.foundry.credential})` : ''}`,
      `Storage: ${storage}`,
      `Telemetry: ${telemetryMode(config.telemetry)}`,
      `Foundry endpoint: ${new URL(config.foundry.projectEndpoint).host}`,
    ]);
  };
}
