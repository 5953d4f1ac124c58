import { loadScenarioFile } from './scenario';
import { startEmulator, type EmulatorOptions } from './server';

/**
 * CLI entry (`npm run emulator` → node dist/emulator/main.js). Environment:
 * EMULATOR_PORT (default 0 = a free port), EMULATOR_SCENARIO (path to a scenario JSON file),
 * EMULATOR_TENANT_ID, EMULATOR_PROJECT, EMULATOR_PUBLIC_BASE_URL, EMULATOR_CONSENT_LINK_BASE,
 * EMULATOR_IDENTITY_HEADER (fixed managed-identity header, e.g. for the VS Code tasks), EMULATOR_VERBOSE=1
 * (log each request).
 */
async function main(): Promise<void> {
  const env = process.env;
  const port = Number(env['EMULATOR_PORT'] ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error('EMULATOR_PORT must be a port number');
  const opts: EmulatorOptions = { port };
  const scenarioPath = env['EMULATOR_SCENARIO'];
  if (scenarioPath) opts.scenario = loadScenarioFile(scenarioPath);
  if (env['EMULATOR_TENANT_ID']) opts.tenantId = env['EMULATOR_TENANT_ID'];
  if (env['EMULATOR_PROJECT']) opts.project = env['EMULATOR_PROJECT'];
  if (env['EMULATOR_PUBLIC_BASE_URL']) opts.publicBaseUrl = env['EMULATOR_PUBLIC_BASE_URL'];
  if (env['EMULATOR_CONSENT_LINK_BASE']) opts.consentLinkBase = env['EMULATOR_CONSENT_LINK_BASE'];
  if (env['EMULATOR_IDENTITY_HEADER']) opts.identityHeader = env['EMULATOR_IDENTITY_HEADER'];
  if (env['EMULATOR_VERBOSE'] === '1') opts.log = (line) => console.log(line);

  const emu = await startEmulator(opts);
  console.log(
    `Foundry emulator listening on ${emu.url} (project endpoint: ${emu.projectEndpoint}, ` +
      `identity endpoint: ${emu.identityEndpoint}, identity header: ${emu.identityHeader})`,
  );
  const stop = (): void => {
    emu.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
