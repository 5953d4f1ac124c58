import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { BOT_MANAGED_IDENTITY_OID } from '../../emulator/identity';
import type { EmulatorLog } from '../../emulator/state';
import { findBrowser, realHost, WHAT_TO_DO, type E2eBrowser } from './browser';
import { DEMO_PROMPTS, startDev, type DevStack, type PlaygroundConfig } from '../../scripts/dev';

/**
 * Shared setup of the browser tests (test/e2e): the local product exactly as `npm run dev` starts it
 * (scripts/dev.ts: Foundry emulator + Agents Playground + the built bot, on free ports, logs under
 * test-results/e2e/logs/<name>), driven through the Playground UI in Chromium via playwright-core (which
 * Chromium: browser.ts).
 * One stack per test file: the Playground buffers WebSocket pushes for the next client, so sharing one
 * across files would leak messages between them (docs/playground-notes.md "Other findings").
 */

export const ROOT = resolve(__dirname, '..', '..');
export const RESULTS = join(ROOT, 'test-results', 'e2e');
/** Bounded waits: generous for a shared 2-core machine, never open-ended. */
export const UI_TIMEOUT = 30_000;
export const STACK_TIMEOUT = 150_000;

/**
 * The same flags for every browser. @sparticuz/chromium's own `chromium.args` are for AWS Lambda
 * (`--single-process`, `--no-zygote`, `--disable-web-security`, ...) and are deliberately not used: its build is
 * chrome-headless-shell, which runs with these flags, opens new tabs (sign-in pages) and takes screenshots.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let resolved: E2eBrowser | undefined;

/**
 * The browser for this test file (browser.ts: CHROMIUM_PATH, else a system Chromium on PATH, else the npm-shipped
 * build), resolved once per jest worker. Fails loudly: the e2e tests must never skip silently.
 */
export function e2eBrowser(): E2eBrowser {
  resolved ??= findBrowser(realHost(ROOT));
  return resolved;
}

/** The executable of `e2eBrowser()`; tests call it first so a missing browser fails before the stack starts. */
export function chromiumPath(): string {
  return e2eBrowser().path;
}

let announced = false;

/** Launches the resolved browser; says once which one ran, and what to do when it does not start. */
async function launch(dir: string): Promise<BrowserContext> {
  const browser = e2eBrowser();
  let ctx: BrowserContext;
  try {
    ctx = await chromium.launchPersistentContext(dir, {
      executablePath: browser.path,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
  } catch (err) {
    throw new Error(
      `The browser for the e2e tests did not start: ${browser.label}.\n` +
        `${err instanceof Error ? err.message : String(err)}\n` +
        (browser.source === 'npm'
          ? 'The npm build needs libnss3, libnspr4 and libexpat1 from the OS ' +
            '(Debian/Ubuntu: `apt-get install -y libnss3 libexpat1`). '
          : '') +
        WHAT_TO_DO,
    );
  }
  if (!announced) {
    announced = true;
    console.log(`e2e browser: ${browser.label}, Chromium ${ctx.browser()?.version() ?? '(version unknown)'}`);
  }
  return ctx;
}

export interface LocalProduct {
  stack: DevStack;
  config: PlaygroundConfig;
  pg: string;
  emulator: string;
  stop(): Promise<void>;
}

/** Starts the stack like `npm run dev` does, on free ports. Needs `npm run build` (npm test builds first). */
export async function startLocalProduct(name: string): Promise<LocalProduct> {
  if (!existsSync(join(ROOT, 'dist', 'scripts', 'dev.js')))
    throw new Error('dist/ is missing: run `npm run build` before the e2e tests (npm test does).');
  const logDir = join(RESULTS, 'logs', name);
  mkdirSync(logDir, { recursive: true });
  const stack = await startDev({
    root: ROOT,
    emulatorPort: 0,
    botPort: 0,
    playgroundPort: 0,
    playgroundConfig: './.m365agentsplayground.yml',
    logDir,
    openBrowser: false,
    verbose: false,
    welcomePrompts: DEMO_PROMPTS.map((p) => p.prompt).join(','),
    say: () => undefined,
  });
  return {
    stack,
    config: stack.config,
    pg: stack.playgroundUrl,
    emulator: stack.emulatorUrl,
    stop: () => stack.stop(),
  };
}

/** A WebSocket push to the Playground UI (docs/playground-notes.md §2 "Internal endpoints"). */
export interface PushFrame {
  /** createMessage | updateMessage | typing */
  action: string;
  actionConversationId: string;
  message?: {
    messageId: string;
    text?: string;
    attachments?: { contentType: string; content: unknown }[];
  };
}

export interface PlaygroundPage {
  ctx: BrowserContext;
  page: Page;
  /** Everything the server pushed to this UI, in order. */
  frames: PushFrame[];
  close(): Promise<void>;
}

/**
 * Opens the Playground in a fresh Chromium profile. `asUserId` rewrites `/_internal/v1/config` so this UI
 * is another user (their button clicks go out as them; typed text still arrives as the current user).
 */
export async function openPlayground(pg: string, o: { asUserId?: string } = {}): Promise<PlaygroundPage> {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-chromium-'));
  const ctx = await launch(dir).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(UI_TIMEOUT);
  const frames: PushFrame[] = [];
  page.on('websocket', (ws) => {
    if (!ws.url().includes('_ws_conversation')) return;
    ws.on('framereceived', (f) => {
      if (typeof f.payload !== 'string') return;
      try {
        frames.push(JSON.parse(f.payload) as PushFrame);
      } catch {
        // not JSON: ignore
      }
    });
  });
  const asUserId = o.asUserId;
  if (asUserId) {
    await page.route('**/_internal/v1/config', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { config: PlaygroundConfig & { teams: { members: string[] }[] } };
      const c = body.config;
      const me = c.currentUser;
      const other = c.users.find((u) => u.id === asUserId);
      if (!other) throw new Error(`no user ${asUserId} in the Playground config`);
      const swap = (ids: string[]): string[] => ids.map((id) => (id === asUserId ? me.id : id));
      c.users = c.users.map((u) => (u.id === asUserId ? me : u));
      for (const g of c.groupChats) g.members = swap(g.members);
      for (const t of c.teams) t.members = swap(t.members);
      c.currentUser = other;
      await route.fulfill({ response: res, json: body });
    });
  }
  await page.goto(`${pg}/`, { waitUntil: 'networkidle', timeout: 60_000 });
  return {
    ctx,
    page,
    frames,
    close: async () => {
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Opens a chat from the sidebar and hides the log panel so it covers nothing. */
export async function openChat(page: Page, name: string | RegExp): Promise<void> {
  try {
    await page.getByRole('treeitem', { name }).first().click({ timeout: 60_000 });
  } catch (err) {
    await screenshot(page, `failed-open-chat-${String(name).replace(/\W+/g, '-')}`);
    throw err;
  }
  const hide = page.getByRole('button', { name: 'Hide log panel' });
  if (await hide.isVisible().catch(() => false)) await hide.click();
  await page.locator('[data-lexical-editor="true"]').waitFor();
}

/** Types a message in the open chat and sends it (personal chat: no mention needed). */
export async function send(page: Page, text: string): Promise<void> {
  await page.locator('[data-lexical-editor="true"]').click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** Group chats and channels: @mention the bot by picking it from the typeahead menu (docs/playground-notes.md §3). */
export async function sendWithMention(page: Page, botName: string, text: string): Promise<void> {
  await page.locator('[data-lexical-editor="true"]').click();
  await page.keyboard.type(`@${botName.slice(0, 4)}`);
  await page.locator('#typeahead-menu [role=menuitem]', { hasText: botName }).click();
  await page.keyboard.type(` ${text}`);
  await page.keyboard.press('Enter');
}

/** Saves a screenshot as test-results/e2e/<name>.png (git-ignored). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Polls until `pick` returns a value (bounded). */
export async function waitFor<T>(
  what: string,
  pick: () => T | undefined,
  timeoutMs = UI_TIMEOUT,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = pick();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until a locator matches exactly `n` elements (bounded). */
export async function waitForCount(locator: Locator, n: number, timeoutMs = UI_TIMEOUT): Promise<void> {
  const until = Date.now() + timeoutMs;
  let count = await locator.count();
  while (count !== n) {
    if (Date.now() > until) throw new Error(`expected ${n} matches of ${String(locator)}, found ${count}`);
    await new Promise((r) => setTimeout(r, 200));
    count = await locator.count();
  }
}

/** The Adaptive Cards pushed into one conversation (filtered by conversation id), newest last. */
export function cardsIn(
  frames: readonly PushFrame[],
  conversationId: string,
): { messageId: string; action: string; card: Record<string, unknown> }[] {
  return frames
    .filter((f) => f.actionConversationId === conversationId && f.message?.attachments?.length)
    .flatMap((f) =>
      (f.message?.attachments ?? [])
        .filter((a) => a.contentType === 'application/vnd.microsoft.card.adaptive')
        .map((a) => ({
          messageId: f.message?.messageId ?? '',
          action: f.action,
          card: a.content as Record<string, unknown>,
        })),
    );
}

/** Ids of the text messages in one conversation whose latest text matches (streamed updates count once). */
export function textMessages(frames: readonly PushFrame[], conversationId: string, re: RegExp): string[] {
  const latest = new Map<string, string>();
  for (const f of frames) {
    if (f.actionConversationId !== conversationId || typeof f.message?.text !== 'string') continue;
    if (f.action === 'createMessage' || f.action === 'updateMessage')
      latest.set(f.message.messageId, f.message.text);
  }
  return [...latest].filter(([, t]) => re.test(t)).map(([id]) => id);
}

/** The first TextBlock text of a card (its title in our templates). */
export function cardTitle(card: Record<string, unknown>): string {
  // The title is a TextBlock or, for untrusted text, a RichTextBlock of TextRuns (cards.ts).
  const first = (card['body'] as { text?: unknown; inlines?: { text?: unknown }[] }[] | undefined)?.[0];
  const t = first?.text ?? first?.inlines?.map((i) => i.text).join('');
  return typeof t === 'string' ? t : '';
}

/** Finds the Action.Execute with this title anywhere in a card. */
export function executeAction(
  card: unknown,
  title: string,
): { type: string; title: string; verb: string; data: Record<string, unknown> } | undefined {
  if (Array.isArray(card)) {
    for (const c of card) {
      const hit = executeAction(c, title);
      if (hit) return hit;
    }
    return undefined;
  }
  if (!card || typeof card !== 'object') return undefined;
  const o = card as Record<string, unknown>;
  if (o['type'] === 'Action.Execute' && o['title'] === title && typeof o['verb'] === 'string')
    return o as { type: string; title: string; verb: string; data: Record<string, unknown> };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'fallback') continue;
    const hit = executeAction(v, title);
    if (hit) return hit;
  }
  return undefined;
}

export async function emulatorLog(emulator: string): Promise<EmulatorLog> {
  const r = await fetch(`${emulator}/__emulator/log`);
  return (await r.json()) as EmulatorLog;
}

/**
 * Grants the bot's (shared, app-mode) GitHub consent in the emulator, so approval tests do not depend on
 * the consent test having run first.
 */
export async function grantGithubConsent(emulator: string): Promise<void> {
  const r = await fetch(`${emulator}/__emulator/consent-state`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ oid: BOT_MANAGED_IDENTITY_OID, server_label: 'github', state: 'granted' }),
  });
  if (!r.ok) throw new Error(`consent-state: HTTP ${r.status}`);
}
