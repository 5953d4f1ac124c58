import { messageActivity } from '../support/fakes/activities';
import { startHarness, textOf, type Harness } from '../support/harness';

describe('bot smoke', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers a 1:1 message with the agent text', async () => {
    const r = await h.post(messageActivity('hello', { serviceUrl: h.connector.url }));
    expect(r.status).toBe(200);
    const final = await h.connector.waitFor(
      (q) => q.kind === 'final' || (q.kind === 'message' && textOf(q).length > 0),
      10000,
    );
    expect(textOf(final).length).toBeGreaterThan(0);
    await h.idle();
  });
});
