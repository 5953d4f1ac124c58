import { ManagedIdentityCredential } from '@azure/identity';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import { getLog } from '../../emulator/test-client';

// Documents (emulator/README.md) two process-wide caches in @azure/identity 4.13.1 / @azure/msal-node 5.x
// that tests using the emulator's managed-identity endpoint must plan for.

let a: RunningEmulator;
let b: RunningEmulator;
const saved = { endpoint: process.env['IDENTITY_ENDPOINT'], header: process.env['IDENTITY_HEADER'] };
beforeAll(async () => {
  [a, b] = await Promise.all([startEmulator(), startEmulator()]);
});
afterAll(async () => {
  if (saved.endpoint === undefined) delete process.env['IDENTITY_ENDPOINT'];
  else process.env['IDENTITY_ENDPOINT'] = saved.endpoint;
  if (saved.header === undefined) delete process.env['IDENTITY_HEADER'];
  else process.env['IDENTITY_HEADER'] = saved.header;
  await Promise.all([a.close(), b.close()]);
});

const miCalls = async (e: RunningEmulator): Promise<number> =>
  (await getLog(e.url)).requests.filter((q) => q.path === '/msi/token').length;

it('caches the token and the chosen endpoint per process, across credential instances', async () => {
  process.env['IDENTITY_ENDPOINT'] = a.identityEndpoint;
  process.env['IDENTITY_HEADER'] = a.identityHeader;
  const t1 = await new ManagedIdentityCredential().getToken('https://ai.azure.com/.default');
  // A new credential instance reuses MSAL's static token cache: no second request.
  const t2 = await new ManagedIdentityCredential().getToken('https://ai.azure.com/.default');
  expect(t2.token).toBe(t1.token);
  expect(await miCalls(a)).toBe(1);

  // Pointing the environment at another emulator does not help: MSAL keeps the first source (static).
  process.env['IDENTITY_ENDPOINT'] = b.identityEndpoint;
  process.env['IDENTITY_HEADER'] = b.identityHeader;
  await new ManagedIdentityCredential({ clientId: 'c1c1c1c1-0000-4000-8000-000000000001' }).getToken(
    'https://ai.azure.com/.default',
  );
  expect(await miCalls(b)).toBe(0);
  expect(await miCalls(a)).toBe(2);
});
