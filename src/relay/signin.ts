import { isBotError } from '../errors';
import { hashId, type Logger } from '../observability/logger';
import type { TurnInfo } from './api';
import type { Actor } from './model';
import type { ConversationIO } from './ports';

/** What waits for a user's sign-in is resumed only within this window. */
const SIGNIN_REPLAY_MS = 10 * 60_000;
const MAX_WAITING = 1000;

/**
 * What waits for a user's sign-in: the message they sent while signed out (replayed in its conversation, which
 * may be a group chat while the sign-in happens in their 1:1 chat), or a card continuation (approvals, consent)
 * whose sign-in lapsed, resumed as it was.
 */
export type Waiting =
  | { kind: 'message'; turn: TurnInfo; text: string }
  | { kind: 'resume'; id: string; conversationId: string; resume: () => void };

/**
 * User mode: what each user left waiting while not signed in, resumed once they are. Memory only, bounded and
 * short-lived (a restart loses only the replay; the user sends the message again).
 */
export class SignInReplay {
  private readonly waiting = new Map<string, { user: string; w: Waiting; at: number }>();

  constructor(private readonly clock: () => number) {}

  remember(user: Actor, w: Waiting): void {
    const now = this.clock();
    for (const [k, v] of this.waiting) if (now - v.at > SIGNIN_REPLAY_MS) this.waiting.delete(k);
    const u = userKey(user);
    const k =
      w.kind === 'message'
        ? `${u}|message|${w.turn.conversation.id}`
        : `${u}|resume|${w.conversationId}|${w.id}`;
    this.waiting.delete(k);
    if (this.waiting.size >= MAX_WAITING) {
      const oldest = this.waiting.keys().next().value;
      if (oldest !== undefined) this.waiting.delete(oldest);
    }
    this.waiting.set(k, { user: u, w, at: now });
  }

  /** Everything still fresh that waits for this user's sign-in, oldest first (taken: resumed once). */
  take(user: Actor): Waiting[] {
    const u = userKey(user);
    const now = this.clock();
    const out: Waiting[] = [];
    for (const [k, v] of this.waiting) {
      if (v.user !== u) continue;
      this.waiting.delete(k);
      if (now - v.at <= SIGNIN_REPLAY_MS) out.push(v.w);
    }
    return out;
  }

  /**
   * Asks `user` to sign in (again) for `err` and keeps `w` for afterwards. False when this conversation cannot
   * ask (no sign-in in this edge, or a user without an Entra id): the caller shows the error instead.
   */
  async ask(io: ConversationIO, user: Actor, err: unknown, w: Waiting, log: Logger): Promise<boolean> {
    if (!io.requestSignIn || !user.aadObjectId) return false;
    this.remember(user, w);
    const code = isBotError(err) ? err.code : 'IDENTITY_UNAVAILABLE';
    log.info('identity.signin_requested', { user: hashId(user.aadObjectId), reason: code, kind: w.kind });
    await io.requestSignIn(user, code === 'IDENTITY_UNAVAILABLE' ? undefined : code);
    return true;
  }
}

function userKey(user: Actor): string {
  return (user.aadObjectId ?? user.id).toLowerCase();
}
