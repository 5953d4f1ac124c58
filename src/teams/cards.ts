import * as ACData from 'adaptivecards-templating';
import type {
  ApprovalCardView,
  CardView,
  ConsentCardView,
  ErrorCardView,
  NoticeCardView,
} from '../relay/views';
import approvalTemplate from './templates/approval.json';
import consentTemplate from './templates/consent.json';
import errorTemplate from './templates/error.json';
import noticeTemplate from './templates/notice.json';

/**
 * Renders the relay's card views into Adaptive Cards (templates/*.json + adaptivecards-templating), as pure
 * functions (docs/conventions.md C7):
 * - version 1.5, every `Action.Execute` carries an `Action.Submit` fallback for older clients (Universal
 *   Actions "Backward compatibility"); the Submit data keeps the verb so the bot treats both alike (CARD-07);
 * - group chats and channels get `refresh.userIds` so Teams refreshes the requester into the actionable view
 *   (user-specific views; at most 60 ids);
 * - text that comes from Foundry or users (tool names, arguments, people's names) goes into `TextRun`s of a
 *   `RichTextBlock`, which no client renders as markdown: a tool argument cannot smuggle in a link, and there
 *   are no markdown escapes for Teams mobile to show as literal backslashes (docs/real-services.md, Teams);
 * - buttons sit in `ActionSet`s in the body, and Approve / Deny carry a `tooltip` naming the tool (screen
 *   readers);
 * - a size guard keeps every card far below Teams' ~80 KB message guidance (docs/reliability.md §2.7).
 */
export type AdaptiveCardJson = Record<string, unknown> & { type: 'AdaptiveCard'; version: string };

export const CARD_BUDGET_BYTES = 40_000;

export interface RenderOptions {
  /** Public (posted) rendering in a group chat or channel: adds `refresh` for user-specific views. */
  refresh?: { verb: string; data: Record<string, unknown>; userIds: readonly string[] } | undefined;
  /** Formats a decision time, e.g. "10:32" (tests pass a fixed formatter). */
  formatTime?: ((epochMs: number) => string) | undefined;
}

const defaultTime = (ms: number): string => new Date(ms).toISOString().slice(11, 16) + ' UTC';

function expand(template: object, data: Record<string, unknown>): AdaptiveCardJson {
  const t = new ACData.Template(template);
  return t.expand({ $root: data }) as AdaptiveCardJson;
}

/** An element the templating left without anything to show (an ActionSet whose actions all dropped out). */
function isEmptyActionSet(node: unknown): boolean {
  const o = node as Record<string, unknown> | null;
  return o?.['type'] === 'ActionSet' && (!Array.isArray(o['actions']) || o['actions'].length === 0);
}

/** Adds Action.Submit fallbacks to every Action.Execute and drops empty action arrays and ActionSets. */
function finish(card: AdaptiveCardJson, opts: RenderOptions): AdaptiveCardJson {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) if (isEmptyActionSet(node[i])) node.splice(i, 1);
      node.forEach(visit);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o['type'] === 'Action.Execute' && typeof o['verb'] === 'string') {
      const data = (o['data'] ?? {}) as Record<string, unknown>;
      o['fallback'] = {
        type: 'Action.Submit',
        title: o['title'],
        ...(o['tooltip'] !== undefined ? { tooltip: o['tooltip'] } : {}),
        data: { ...data, verb: o['verb'] },
      };
    }
    for (const [k, v] of Object.entries(o)) {
      if (k === 'fallback') continue;
      if (k === 'actions' && Array.isArray(v) && v.length === 0) delete o[k];
      else visit(v);
    }
  };
  visit(card);
  if (opts.refresh && opts.refresh.userIds.length > 0) {
    card['refresh'] = {
      action: { type: 'Action.Execute', verb: opts.refresh.verb, data: opts.refresh.data },
      userIds: opts.refresh.userIds.slice(0, 60),
    };
  }
  return assertCardBudget(card);
}

/** Throws if a card would exceed the budget (a bug: previews are capped upstream). */
export function assertCardBudget(card: AdaptiveCardJson, budget = CARD_BUDGET_BYTES): AdaptiveCardJson {
  const bytes = JSON.stringify(card).length * 2; // UTF-16, as Teams measures (§2.7)
  if (bytes > budget) throw new Error(`card of ${bytes} bytes exceeds the ${budget}-byte budget`);
  return card;
}

/**
 * How much of the tool arguments an approval card shows. Each item's preview is capped upstream (arguments.ts),
 * but one response may ask for many tools at once, so the card tightens the previews step by step until it fits
 * the budget instead of failing to render (an unrendered card would leave the request unanswerable).
 */
const ARGUMENT_DETAIL = [
  { value: Infinity, lines: Infinity, pretty: Infinity },
  { value: 80, lines: 8, pretty: 600 },
  { value: 40, lines: 4, pretty: 0 },
  { value: 24, lines: 2, pretty: 0 },
  { value: 16, lines: 1, pretty: 0 },
  { value: 0, lines: 0, pretty: 0 },
] as const;

/** Arguments too long for the card: the Show details toggle is left out. */
const TOO_LONG = '(too long to show here)';

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, Math.max(0, max - 1))}…` : s;
}

function approval(view: ApprovalCardView, opts: RenderOptions): AdaptiveCardJson {
  for (let level = 0; ; level++) {
    const detail = ARGUMENT_DETAIL[level] ?? ARGUMENT_DETAIL[ARGUMENT_DETAIL.length - 1];
    const last = level >= ARGUMENT_DETAIL.length - 1;
    const compact: ApprovalCardView =
      level === 0 || detail === undefined
        ? view
        : {
            ...view,
            items: view.items.map((i) => ({
              ...i,
              argumentLines: i.argumentLines
                .slice(0, detail.lines)
                .map((l) => ({ key: l.key, value: cut(l.value, detail.value) })),
              argumentsPretty: detail.pretty > 0 ? cut(i.argumentsPretty, detail.pretty) : TOO_LONG,
            })),
          };
    try {
      return approvalAtDetail(compact, opts);
    } catch (err) {
      if (last) throw err;
    }
  }
}

function approvalAtDetail(view: ApprovalCardView, opts: RenderOptions): AdaptiveCardJson {
  const time = opts.formatTime ?? defaultTime;
  const undecided = view.items.filter((i) => !i.decision).length;
  const requester = view.requester.name ?? 'Someone';
  const statusLine: Record<ApprovalCardView['status'], string> = {
    pending: '',
    submitting: 'All decided. Sending to the agent…',
    submitted: 'Sent to the agent.',
    failed: 'The decisions could not be confirmed with the agent. Check before trying again.',
    superseded: 'Closed: a newer message replaced this request.',
    expired: 'This approval request has expired.',
    cancelled: 'Closed: the conversation was reset.',
  };
  const items = view.items.map((i) => {
    const who = i.decidedBy ? ` by ${i.decidedBy}` : '';
    const when = i.decidedAt ? ` · ${time(i.decidedAt)}` : '';
    let decisionText = '';
    if (i.decision === 'approve') decisionText = `Approved${who}${when}`;
    else if (i.decision === 'deny')
      decisionText =
        i.reason === 'superseded'
          ? 'Denied (superseded by a newer message)'
          : i.reason === 'expired'
            ? 'Denied (expired)'
            : i.reason === 'reset'
              ? 'Denied (conversation reset)'
              : `Denied${who}${when}`;
    return {
      batchId: view.batchId,
      approvalId: i.approvalId,
      detailsId: `details-${i.approvalId}`,
      toolName: i.toolName,
      serverLabel: i.serverLabel,
      argumentLines: i.argumentLines.map((l) => ({ key: l.key, value: l.value })),
      argumentsPretty: i.argumentsPretty,
      showDetails: i.argumentsPretty !== TOO_LONG,
      decisionText,
      decisionColor: i.decision === 'approve' ? 'Good' : 'Attention',
      showButtons: view.actionable && view.status === 'pending' && !i.decision,
    };
  });
  const card = expand(approvalTemplate, {
    title:
      view.items.length > 1
        ? `The agent wants to run ${view.items.length} tools`
        : 'The agent wants to run a tool',
    requester,
    items,
    count: undecided,
    notice: view.notice ?? statusLine[view.status],
    footer: view.status === 'pending' && undecided > 0 ? `${undecided} waiting for a decision` : '',
    showAll: view.actionable && view.status === 'pending' && undecided > 1,
    batchId: view.batchId,
  });
  return finish(card, opts);
}

function consent(view: ConsentCardView, opts: RenderOptions): AdaptiveCardJson {
  const names = view.services.map((s) => s.label);
  const list = names.join(', ');
  const hosts = [...new Set(view.services.map((s) => s.host).filter((h): h is string => !!h))];
  const statusText: Record<ConsentCardView['status'], [string, string]> = {
    pending: ['', 'Default'],
    retry: ['Sign-in did not complete. Please sign in again, then press "I\'ve signed in".', 'Warning'],
    signed_in: ['Signed in. Continuing…', 'Good'],
    cancelled: ['Sign-in cancelled.', 'Default'],
    expired: ['This sign-in request has expired. Send your message again to get a new one.', 'Warning'],
    declined: ['Sign-in was declined, so the tool did not run.', 'Attention'],
    failed: ['Sign-in did not complete, so the tool did not run.', 'Attention'],
  };
  const [st, color] = statusText[view.status];
  const open = view.status === 'pending' || view.status === 'retry';
  const card = expand(consentTemplate, {
    title: `Sign in to ${list}`,
    body: view.actionable
      ? `The agent needs your permission to use ${list}. Sign in, then press "I've signed in" to continue.`
      : `${view.requester.name ?? 'Someone'} asked the agent something that needs ${list}.`,
    sharedText: view.shared
      ? `This sign-in is shared: once completed, everyone who uses this bot acts through the same ${list} account.`
      : '',
    hostText: view.actionable && hosts.length > 0 ? `The sign-in page is on ${hosts.join(', ')}.` : '',
    statusText: st,
    statusColor: color,
    notice: [view.notice, view.adminHint].filter(Boolean).join(' '),
    links:
      view.actionable && open
        ? view.services
            .filter((s) => s.link)
            .map((s) => ({
              title: view.services.length > 1 ? `Sign in to ${s.label}` : 'Sign in',
              url: s.link,
            }))
        : [],
    actionable: view.actionable && open,
    showMine: !view.actionable && open && view.requester.id !== '',
    consentId: view.consentId,
  });
  return finish(card, opts);
}

function error(view: ErrorCardView, opts: RenderOptions): AdaptiveCardJson {
  const card = expand(errorTemplate, {
    text: view.text,
    correlationId: view.correlationId,
    retry: view.retryText !== undefined,
    retryText: view.retryText ?? '',
  });
  return finish(card, opts);
}

function notice(view: NoticeCardView, opts: RenderOptions): AdaptiveCardJson {
  return finish(expand(noticeTemplate, { title: view.title, lines: view.lines }), opts);
}

/** Renders any card view. `viewerIsPublic` adds the user-specific refresh for group chats and channels. */
export function renderCard(view: CardView, opts: RenderOptions = {}): AdaptiveCardJson {
  switch (view.kind) {
    case 'approval':
      return approval(view, opts);
    case 'consent':
      return consent(view, opts);
    case 'error':
      return error(view, opts);
    case 'notice':
      return notice(view, opts);
  }
}

/** The refresh settings for a posted card in a group chat or channel (none in 1:1 chats). */
export function refreshFor(
  view: CardView,
  scope: 'personal' | 'groupChat' | 'channel',
): RenderOptions['refresh'] {
  if (scope === 'personal') return undefined;
  if (view.kind === 'approval' && view.status === 'pending')
    return {
      verb: 'approval.refresh',
      data: { kind: 'mcp-approval', batchId: view.batchId },
      userIds: view.actionableUserIds,
    };
  if (view.kind === 'consent' && (view.status === 'pending' || view.status === 'retry'))
    return {
      verb: 'consent.refresh',
      data: { kind: 'consent', consentId: view.consentId },
      userIds: view.actionableUserIds,
    };
  return undefined;
}
