/**
 * One Foundry emulator for a test file, with the process environment set as App Service sets it for a managed
 * identity (IDENTITY_ENDPOINT + IDENTITY_HEADER pointing at the emulator), so the real ManagedIdentityCredential
 * and DefaultAzureCredential reach it. Ambient credential variables are cleared for the file and restored after.
 */
import { startEmulator, type RunningEmulator } from '../../emulator/server';

const CREDENTIAL_ENV = [
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'IMDS_ENDPOINT',
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_FEDERATED_TOKEN_FILE',
] as const;

/** Registers beforeAll / afterAll; `started` receives the emulator once it listens. */
export function useManagedIdentityEmulator(started: (emu: RunningEmulator) => void): void {
  const saved = Object.fromEntries(CREDENTIAL_ENV.map((k) => [k, process.env[k]]));
  let emu: RunningEmulator | undefined;
  beforeAll(async () => {
    emu = await startEmulator({});
    for (const k of CREDENTIAL_ENV) delete process.env[k];
    process.env['IDENTITY_ENDPOINT'] = emu.identityEndpoint;
    process.env['IDENTITY_HEADER'] = emu.identityHeader;
    started(emu);
  });
  afterAll(async () => {
    for (const k of CREDENTIAL_ENV) {
      delete process.env[k];
      const v = saved[k];
      if (v !== undefined) process.env[k] = v;
    }
    await emu?.close();
  });
}
