import type { TurnInfo } from './api';

/** A message sent while signed out is replayed after sign-in only within this window. */
const SIGNIN_REPLAY_MS = 10 * 60_000;
const MAX_WAITING = 1000;

/**
 * User mode: the message each user sent while not signed in, by conversation and user, replayed once the
 * Teams SSO token arrives. Memory only, bounded and short-lived (a restart loses only the replay).
 */
export class SignInReplay {
  private readonly waiting = new Map<string, { turn: TurnInfo; text: string; at: number }>();

  constructor(private readonly clock: () => number) {}

  remember(turn: TurnInfo, text: string): void {
    const now = this.clock();
    for (const [k, v] of this.waiting) if (now - v.at > SIGNIN_REPLAY_MS) this.waiting.delete(k);
    const k = keyOf(turn);
    this.waiting.delete(k);
    if (this.waiting.size >= MAX_WAITING) {
      const oldest = this.waiting.keys().next().value;
      if (oldest !== undefined) this.waiting.delete(oldest);
    }
    this.waiting.set(k, { turn, text, at: now });
  }

  /** The message waiting for this user's sign-in, if any and still fresh (taken: replayed once). */
  take(turn: TurnInfo): { turn: TurnInfo; text: string } | undefined {
    const k = keyOf(turn);
    const pending = this.waiting.get(k);
    this.waiting.delete(k);
    if (!pending || this.clock() - pending.at > SIGNIN_REPLAY_MS) return undefined;
    return pending;
  }
}

function keyOf(turn: TurnInfo): string {
  return `${turn.conversation.id}|${turn.user.aadObjectId ?? turn.user.id}`;
}
