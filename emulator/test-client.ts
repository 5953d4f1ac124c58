import type { CausesInput } from './causes';
import type { FaultInput } from './faults';
import type { ScenarioInput } from './scenario';
import type { PartialSettings } from './settings';
import type { ConsentDecision, EmulatorLog } from './state';

/**
 * Typed helpers for tests that drive the emulator's control plane (`/__emulator/*`) and read its SSE
 * streams with plain fetch. `url` is RunningEmulator.url.
 */

async function post(url: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${url}/__emulator${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  const json: unknown = await res.json();
  if (!res.ok) throw new Error(`emulator ${path} → ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Clears responses, conversations, consent, faults, runtime settings and the log; restores the start scenario. */
export async function reset(url: string): Promise<void> {
  await post(url, '/reset', {});
}

/** Replaces the scenario (validated; a bad one throws with the emulator's message). */
export async function loadScenario(url: string, scenario: ScenarioInput): Promise<void> {
  await post(url, '/scenario', scenario);
}

/** Queues faults for the next matching requests (each applies `count` times, default 1). */
export async function setFaults(url: string, faults: FaultInput[]): Promise<void> {
  await post(url, '/faults', { faults });
}

/** Switches settings (§11 alternatives) until the next reset. */
export async function setSettings(url: string, settings: PartialSettings): Promise<void> {
  await post(url, '/settings', { settings });
}

/** Replaces the operational causes (causes.ts: missing role, tool failures, …) until the next reset. */
export async function setCauses(url: string, causes: CausesInput): Promise<void> {
  await post(url, '/causes', causes);
}

export async function setConsentState(
  url: string,
  oid: string,
  serverLabel: string,
  state: ConsentDecision,
): Promise<void> {
  await post(url, '/consent-state', { oid, server_label: serverLabel, state });
}

export const grantConsent = (url: string, oid: string, serverLabel: string): Promise<void> =>
  setConsentState(url, oid, serverLabel, 'granted');

export async function getLog(url: string): Promise<EmulatorLog> {
  const res = await fetch(`${url}/__emulator/log`);
  return (await res.json()) as EmulatorLog;
}

/** The token inside a consent link of either style (`/__emulator/consent/<t>` or `/login?data=<t>`). */
export function consentTokenFromLink(link: string): string {
  const u = new URL(link);
  const m = /\/__emulator\/consent\/([0-9a-f]+)$/.exec(u.pathname);
  const token = m?.[1] ?? u.searchParams.get('data');
  if (!token) throw new Error(`not an emulator consent link: ${link}`);
  return token;
}

/**
 * Clicks Allow or Decline on the consent page behind `link`, talking to the emulator at `url` even when the
 * link's host is a look-alike (consentLinkBase). Returns the result page's HTML.
 */
export async function submitConsent(
  url: string,
  link: string,
  decision: 'allow' | 'decline',
): Promise<string> {
  const res = await fetch(`${url}/__emulator/consent/${consentTokenFromLink(link)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `decision=${decision}`,
  });
  if (!res.ok) throw new Error(`consent page → ${res.status}`);
  return res.text();
}

export interface SseFrame {
  event: string | null;
  data: string;
}

/** Splits an SSE body into frames (`event:` / `data:` lines, blank-line separated). */
export function parseSse(text: string): SseFrame[] {
  const frames: SseFrame[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.trim() === '') continue;
    let event: string | null = null;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    frames.push({ event, data: data.join('\n') });
  }
  return frames;
}

/** A parsed stream event: `type`, `sequence_number` and the rest. */
export type SseEvent = { type: string; sequence_number: number } & Record<string, unknown>;

/** Reads a whole SSE response and JSON-parses each frame's data (a `[DONE]` frame is skipped). */
export async function readSse(res: Response): Promise<SseEvent[]> {
  const text = await res.text();
  return parseSse(text)
    .filter((f) => f.data !== '[DONE]')
    .map((f) => JSON.parse(f.data) as SseEvent);
}

/** POST {projectEndpoint}/openai/v1/responses with a bearer token (plain fetch, no SDK). */
export function postResponse(projectEndpoint: string, token: string, body: unknown): Promise<Response> {
  return fetch(`${projectEndpoint}/openai/v1/responses`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify(body),
  });
}
