import OpenAI from 'openai';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import { getLog, postResponse, readSse, reset } from '../../emulator/test-client';

const AGENT = { type: 'agent_reference', name: 'helpdesk-agent' } as const;
const ALICE = 'aaaaaaaa-0000-4000-8000-00000000a11c';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu.close();
});
beforeEach(async () => {
  await reset(emu.url);
});

describe('smoke', () => {
  it('streams hello', async () => {
    const token = emu.issueToken({ oid: ALICE });
    const res = await postResponse(emu.projectEndpoint, token, {
      agent_reference: AGENT,
      input: 'hello',
      stream: true,
    });
    expect(res.status).toBe(200);
    const events = await readSse(res);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.at(-1)?.type).toBe('response.completed');
    const log = await getLog(emu.url);
    expect(log.requests[0]?.callerOid).toBe(ALICE);
  });

  it('works with openai', async () => {
    const client = new OpenAI({
      baseURL: `${emu.projectEndpoint}/openai/v1`,
      apiKey: emu.issueToken({ oid: ALICE }),
    });
    const r = await client.responses.create({
      input: 'docs',
      agent_reference: AGENT,
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    expect(r.output_text).toContain('[1]');
  });
});
