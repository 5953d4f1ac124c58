import type { ToolCall } from '../foundry/types';
import type { AnswerStream } from './ports';
import { TEXT } from './texts';

/** Default time between two "Still running…" updates while a tool call is silent. */
const DEFAULT_INTERVAL_MS = 15_000;

/** `server.tool` for a call, else its item type (e.g. `web_search_call`). */
export function toolLabel(call: ToolCall): string {
  return [call.serverLabel, call.name].filter(Boolean).join('.') || call.itemType;
}

/**
 * Keeps the user informed while a tool runs. Foundry's stream is silent between `mcp_call.in_progress` and
 * the call's end, for up to ~100 s (foundry-wire.md §7.2), so every `intervalMs` the answer stream gets an
 * informative update with the elapsed time: in 1:1 chats Teams shows it in the stream, in group chats the
 * sink renews the typing indicator (ports.ts `AnswerStream.informative`). Text from the agent, the end of
 * the call or the end of the turn stops it.
 */
export class ToolProgress {
  private timer: NodeJS.Timeout | undefined;
  private itemId: string | undefined;

  constructor(
    private readonly answer: AnswerStream,
    private readonly clock: () => number,
    private readonly intervalMs = DEFAULT_INTERVAL_MS,
  ) {}

  /** A tool event: `in_progress` starts the watch for that call; its completion or failure stops it. */
  onTool(call: ToolCall): void {
    if (call.itemType === 'mcp_list_tools') return;
    if (call.status !== 'in_progress') {
      if (call.itemId === this.itemId) this.stop();
      return;
    }
    if (call.itemId === this.itemId) return;
    this.stop();
    const label = toolLabel(call);
    this.answer.informative(TEXT.usingTool(label));
    const since = this.clock();
    this.itemId = call.itemId;
    this.timer = setInterval(() => {
      const seconds = Math.max(0, Math.round((this.clock() - since) / 1000));
      this.answer.informative(TEXT.stillRunning(label, seconds));
    }, this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.itemId = undefined;
  }
}
