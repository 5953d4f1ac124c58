import { randomUUID } from 'node:crypto';

/**
 * Builders for inbound Teams activities as Bot Framework JSON (what Teams POSTs to /api/messages), shaped after
 * what the M365 Agents Playground and Teams send (docs/playground-notes.md §1, §3, §4): channelId `msteams`, a `29:` user MRI
 * with `aadObjectId`, a `28:` bot, the tenant in both `conversation.tenantId` and `channelData.tenant.id`, and a
 * unique activity id per call.
 */

export type ConversationType = 'personal' | 'groupChat' | 'channel';

/** A loosely typed inbound activity (JSON-serialisable). */
export interface InboundActivity {
  type: string;
  id: string;
  timestamp: string;
  localTimestamp: string;
  channelId: 'msteams';
  serviceUrl: string;
  from: { id: string; name: string; aadObjectId?: string };
  recipient: { id: string; name: string };
  conversation: {
    id: string;
    conversationType: ConversationType;
    tenantId: string;
    isGroup?: boolean;
    name?: string;
  };
  channelData: Record<string, unknown> & { tenant: { id: string } };
  locale: string;
  text?: string;
  textFormat?: string;
  name?: string;
  value?: unknown;
  action?: string;
  replyToId?: string;
  entities?: Array<Record<string, unknown>>;
  membersAdded?: Array<{ id: string; name?: string }>;
  membersRemoved?: Array<{ id: string; name?: string }>;
  [extra: string]: unknown;
}

/** A user as Teams identifies them. */
export interface TeamsUser {
  /** The MRI, `29:…`. */
  id: string;
  name: string;
  /** Entra object id; omit to test fail-closed paths (CARD-06). */
  aadObjectId?: string;
}

/** Common inputs; every field has a test default. */
export interface ActivityContext {
  serviceUrl: string;
  tenantId?: string;
  user?: TeamsUser;
  bot?: { id: string; name: string };
  conversationType?: ConversationType;
  /** Defaults by type: `a:personal-<uuid>`, `19:group-<uuid>@thread.v2`, `19:channel-<uuid>@thread.skype;messageid=<n>`. */
  conversationId?: string;
  /** Extra or overriding top-level fields. */
  overrides?: Record<string, unknown>;
}

export const DEFAULT_TENANT_ID = '11111111-1111-1111-1111-111111111111';
export const DEFAULT_USER: TeamsUser = {
  id: '29:ada',
  name: 'Ada Lovelace',
  aadObjectId: 'aaaaaaaa-0000-0000-0000-000000000001',
};
export const SECOND_USER: TeamsUser = {
  id: '29:ben',
  name: 'Ben Bauer',
  aadObjectId: 'bbbbbbbb-0000-0000-0000-000000000002',
};
export const DEFAULT_BOT = { id: '28:bot', name: 'Bot' };

let counter = 0;
/** A unique, Teams-looking activity id (ms timestamp + counter). */
export function newActivityId(): string {
  counter = (counter + 1) % 1000;
  return `${Date.now()}${String(counter).padStart(3, '0')}`;
}

function defaultConversationId(type: ConversationType): string {
  const u = randomUUID();
  switch (type) {
    case 'personal':
      return `a:personal-${u}`;
    case 'groupChat':
      return `19:group-${u}@thread.v2`;
    case 'channel':
      return `19:channel-${u}@thread.skype;messageid=${Date.now()}`;
  }
}

/** The skeleton every inbound activity shares. */
export function baseActivity(type: string, ctx: ActivityContext): InboundActivity {
  const conversationType = ctx.conversationType ?? 'personal';
  const tenantId = ctx.tenantId ?? DEFAULT_TENANT_ID;
  const user = ctx.user ?? DEFAULT_USER;
  const bot = ctx.bot ?? DEFAULT_BOT;
  const now = new Date().toISOString();
  const conversationId = ctx.conversationId ?? defaultConversationId(conversationType);
  const channelData: InboundActivity['channelData'] = { tenant: { id: tenantId } };
  if (conversationType === 'channel') {
    const channelId = conversationId.split(';')[0] ?? conversationId;
    channelData['teamsChannelId'] = channelId;
    channelData['teamsTeamId'] = '19:team-general@thread.skype';
    channelData['channel'] = { id: channelId };
    channelData['team'] = { id: '19:team-general@thread.skype' };
  }
  return {
    type,
    id: newActivityId(),
    timestamp: now,
    localTimestamp: now,
    channelId: 'msteams',
    serviceUrl: ctx.serviceUrl,
    from: { id: user.id, name: user.name, ...(user.aadObjectId ? { aadObjectId: user.aadObjectId } : {}) },
    recipient: { id: bot.id, name: bot.name },
    conversation: {
      id: conversationId,
      conversationType,
      tenantId,
      ...(conversationType === 'personal' ? {} : { isGroup: true }),
    },
    channelData,
    locale: 'en-US',
    ...(ctx.overrides ?? {}),
  };
}

/**
 * A user message. In group chats and channels Teams only delivers messages that @mention the bot, so those get
 * `<at>Bot</at> text` plus a `mention` entity (set `mention: false` to build the undelivered kind).
 */
export function messageActivity(text: string, ctx: ActivityContext & { mention?: boolean }): InboundActivity {
  const a = baseActivity('message', ctx);
  const bot = ctx.bot ?? DEFAULT_BOT;
  const mention = ctx.mention ?? a.conversation.conversationType !== 'personal';
  const atText = `<at>${bot.name}</at>`;
  const entities: Array<Record<string, unknown>> = [
    { type: 'clientInfo', locale: 'en-US', country: 'US', platform: 'Web', timezone: 'UTC' },
  ];
  if (mention) entities.unshift({ type: 'mention', mentioned: { id: bot.id, name: bot.name }, text: atText });
  return { ...a, text: mention ? `${atText} ${text}` : text, textFormat: 'plain', entities };
}

/** An `Action.Execute` click: `invoke` named `adaptiveCard/action` (Universal Actions). */
export function adaptiveCardActionInvoke(
  verb: string,
  data: Record<string, unknown>,
  ctx: ActivityContext & { trigger?: 'manual' | 'automatic'; replyToId?: string },
): InboundActivity {
  const a = baseActivity('invoke', ctx);
  return {
    ...a,
    name: 'adaptiveCard/action',
    value: {
      action: { type: 'Action.Execute', verb, data },
      ...(ctx.trigger ? { trigger: ctx.trigger } : {}),
    },
    ...(ctx.replyToId ? { replyToId: ctx.replyToId } : {}),
    channelData: { ...a.channelData, source: { name: 'message' } },
  };
}

/** An `Action.Submit` click: a `message` with `value` and no text. */
export function submitActivity(
  value: Record<string, unknown>,
  ctx: ActivityContext & { replyToId?: string },
): InboundActivity {
  const a = baseActivity('message', ctx);
  return {
    ...a,
    value,
    ...(ctx.replyToId ? { replyToId: ctx.replyToId } : {}),
    channelData: { ...a.channelData, postBack: true, source: { name: 'message' } },
  };
}

/** App installed (`add`) or removed (`remove`). */
export function installationUpdateActivity(
  ctx: ActivityContext & { action?: 'add' | 'remove' },
): InboundActivity {
  return { ...baseActivity('installationUpdate', ctx), action: ctx.action ?? 'add' };
}

/** Members added (default: the user and the bot, like the Playground on every chat open). */
export function conversationUpdateActivity(
  ctx: ActivityContext & { membersAdded?: Array<{ id: string; name?: string }> },
): InboundActivity {
  const user = ctx.user ?? DEFAULT_USER;
  const bot = ctx.bot ?? DEFAULT_BOT;
  return {
    ...baseActivity('conversationUpdate', ctx),
    membersAdded: ctx.membersAdded ?? [
      { id: user.id, name: user.name },
      { id: bot.id, name: bot.name },
    ],
  };
}

/**
 * POSTs an activity to the bot's endpoint, as the Bot Connector does. `token` becomes `Authorization: Bearer
 * <token>`; pass `authorization` instead for malformed headers (AUTH-02). The body is parsed as JSON when possible.
 */
export async function postActivity(
  botUrl: string,
  activity: unknown,
  token?: string,
  opts: { authorization?: string; timeoutMs?: number } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const authorization = opts.authorization ?? (token !== undefined ? `Bearer ${token}` : undefined);
  if (authorization !== undefined) headers['authorization'] = authorization;
  const res = await fetch(botUrl, {
    method: 'POST',
    headers,
    body: typeof activity === 'string' ? activity : JSON.stringify(activity),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
  });
  const text = await res.text();
  let body: unknown = text;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  } else body = undefined;
  return { status: res.status, body, headers: res.headers };
}
