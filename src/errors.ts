/**
 * The one error family of the bot (docs/conventions.md C4). Every third-party error is converted at its boundary
 * into a `BotError` with a stable `code`; code decides behaviour, never `message` substrings.
 * `message` is for operators and logs (it never holds tokens, links or user text); users see the
 * text of `userMessageFor(code)` instead.
 */
export type BotErrorCode =
  | 'CONFIG_INVALID'
  | 'AUTH_REJECTED'
  | 'TENANT_NOT_ALLOWED'
  | 'BAD_REQUEST'
  | 'APPROVAL_NOT_FOUND'
  | 'APPROVAL_FORBIDDEN'
  | 'APPROVAL_ALREADY_DECIDED'
  | 'APPROVAL_EXPIRED'
  | 'CONSENT_LINK_REJECTED'
  | 'CONSENT_FORBIDDEN'
  | 'CONSENT_NOT_FOUND'
  | 'CONSENT_INCOMPLETE'
  | 'FOUNDRY_RATE_LIMITED'
  | 'FOUNDRY_UNAVAILABLE'
  | 'FOUNDRY_TIMEOUT'
  | 'FOUNDRY_REJECTED'
  | 'FOUNDRY_NOT_FOUND'
  | 'FOUNDRY_THREAD_NOT_FOUND'
  | 'FOUNDRY_UNAUTHORIZED'
  | 'FOUNDRY_FORBIDDEN'
  | 'FOUNDRY_UNANSWERED_APPROVALS'
  | 'FOUNDRY_BUSY'
  | 'FOUNDRY_FAILED'
  | 'TOOL_SIGNIN_REQUIRED'
  | 'STREAM_INTERRUPTED'
  | 'ANSWER_NOT_DELIVERED'
  | 'IDENTITY_UNAVAILABLE'
  | 'STORAGE_UNAVAILABLE'
  | 'SIGNIN_INTERACTION_REQUIRED'
  | 'SIGNIN_GRANT_INVALID'
  | 'SIGNIN_REJECTED_BY_FOUNDRY'
  | 'SIGNIN_WRONG_ACCOUNT'
  | 'SIGNIN_LINK_INVALID'
  | 'SHUTTING_DOWN'
  | 'INTERNAL';

export interface BotErrorOptions {
  cause?: unknown;
  /** Machine-readable extras (ids, counts, statuses). Never secrets or user text. */
  details?: Readonly<Record<string, unknown>>;
}

export class BotError extends Error {
  readonly code: BotErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: BotErrorCode, message: string, options: BotErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BotError';
    this.code = code;
    this.details = options.details ?? {};
  }

  /** Logs and JSON output never carry the cause chain (it may hold request bodies or headers). */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

export function isBotError(err: unknown, code?: BotErrorCode): err is BotError {
  return err instanceof BotError && (code === undefined || err.code === code);
}

/** Short, specific texts shown to users. One table, so wording stays consistent (docs/conventions.md C4). */
const USER_TEXT: Record<BotErrorCode, string> = {
  CONFIG_INVALID: 'The bot is misconfigured. Please tell your administrator.',
  AUTH_REJECTED: 'You are not permitted to use this agent.',
  TENANT_NOT_ALLOWED: 'Your organisation is not permitted to use this agent.',
  BAD_REQUEST: 'That request could not be understood.',
  APPROVAL_NOT_FOUND: 'This approval request is no longer available.',
  APPROVAL_FORBIDDEN: 'Only the person who asked (or a named approver) can decide this request.',
  APPROVAL_ALREADY_DECIDED: 'This request has already been decided.',
  APPROVAL_EXPIRED: 'This approval request has expired.',
  CONSENT_LINK_REJECTED:
    'This tool needs authorization, but the sign-in link could not be verified. Please tell your administrator.',
  CONSENT_FORBIDDEN:
    'This sign-in is shared by everyone who uses the bot, so only an administrator can complete it. Please ask an administrator.',
  CONSENT_NOT_FOUND: 'This sign-in request is no longer available.',
  CONSENT_INCOMPLETE:
    'Sign-in did not complete, so the tool could not run. Please try again later or ask your administrator.',
  FOUNDRY_RATE_LIMITED: 'The agent is busy right now (throttled). Please try again in a moment.',
  FOUNDRY_UNAVAILABLE: 'The agent is unavailable right now. Please try again later.',
  FOUNDRY_TIMEOUT: 'The agent took too long to answer.',
  FOUNDRY_REJECTED: 'The agent could not process that request.',
  FOUNDRY_NOT_FOUND: 'The configured agent was not found. Please tell your administrator.',
  FOUNDRY_THREAD_NOT_FOUND:
    'The earlier conversation with the agent could not be continued, so it was reset. Please send your message again.',
  FOUNDRY_UNAUTHORIZED: 'The bot could not sign in to the agent service. Please tell your administrator.',
  FOUNDRY_FORBIDDEN: 'You are not permitted to use this agent.',
  FOUNDRY_UNANSWERED_APPROVALS: 'An earlier approval request was still open. Please send your message again.',
  FOUNDRY_BUSY: 'The agent is still working on your last message.',
  FOUNDRY_FAILED: 'The agent ran into a problem while answering.',
  TOOL_SIGNIN_REQUIRED:
    'This tool needs you to sign in again: your access to it expired or was revoked. Send your message again and choose Sign in on the card that appears; if no card appears, ask your administrator to reconnect the tool.',
  STREAM_INTERRUPTED: 'The answer was interrupted.',
  ANSWER_NOT_DELIVERED: 'The answer could not be delivered to Teams.',
  IDENTITY_UNAVAILABLE: 'Your sign-in could not be completed. Please sign in again.',
  STORAGE_UNAVAILABLE: 'The bot cannot reach its state store right now. Please try again shortly.',
  // User mode (docs/identity.md "What the sign-in messages mean"): each one comes with a new sign-in card.
  SIGNIN_INTERACTION_REQUIRED:
    'Your organisation requires you to sign in interactively (for example multi-factor authentication, a new device or a conditional access policy), so I could not sign you in silently.',
  SIGNIN_GRANT_INVALID:
    'Your sign-in is no longer valid (for example consent for the app was revoked, or your password changed).',
  SIGNIN_REJECTED_BY_FOUNDRY: 'The agent service no longer accepted your sign-in, so I forgot it.',
  SIGNIN_WRONG_ACCOUNT:
    'You signed in with a different account than the one you use in Teams. Please sign in with your Teams account.',
  SIGNIN_LINK_INVALID: 'That sign-in link has expired or was already used.',
  SHUTTING_DOWN: 'The bot is restarting. Please send your message again in a moment.',
  INTERNAL: 'Something went wrong on our side.',
};

export function userMessageFor(code: BotErrorCode): string {
  return USER_TEXT[code];
}

/** Whether this failure is answered with a new sign-in (user mode) rather than an error card. */
export function needsSignIn(err: unknown): boolean {
  if (!(err instanceof BotError)) return false;
  return err.code === 'IDENTITY_UNAVAILABLE' || err.code.startsWith('SIGNIN_');
}

/** Whether offering the user a Retry button makes sense for this failure. */
export function isRetryable(code: BotErrorCode): boolean {
  switch (code) {
    case 'FOUNDRY_RATE_LIMITED':
    case 'FOUNDRY_UNAVAILABLE':
    case 'FOUNDRY_TIMEOUT':
    case 'FOUNDRY_FAILED':
    case 'FOUNDRY_UNANSWERED_APPROVALS':
    case 'FOUNDRY_BUSY':
    case 'FOUNDRY_THREAD_NOT_FOUND':
    case 'TOOL_SIGNIN_REQUIRED':
    case 'STREAM_INTERRUPTED':
    case 'ANSWER_NOT_DELIVERED':
    case 'STORAGE_UNAVAILABLE':
    case 'SHUTTING_DOWN':
    case 'INTERNAL':
      return true;
    default:
      return false;
  }
}
