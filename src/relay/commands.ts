import type { RelaySettings, TurnInfo } from './api';
import type { ApprovalFlow } from './approvals/flow';
import type { RelayContext } from './context';
import { notice } from './failures';
import { approvalKey, consentKey } from './keys';
import type { Actor, ApprovalBatch, ConsentRecord, ThreadState } from './model';
import type { PendingWork } from './pending';
import type { ConversationIO } from './ports';
import { readRecord } from './records';
import { TEXT } from './texts';
import type { ThreadStore } from './thread-store';
import type { NoticeCardView } from './views';

export type Command = 'new' | 'status' | 'help';

/** `/new`, `/status` or `/help` at the start of a message, if any. */
export function commandOf(text: string): Command | undefined {
  const c = /^\/(new|help|status)\b/i.exec(text)?.[1]?.toLowerCase();
  return c === 'new' || c === 'status' || c === 'help' ? c : undefined;
}

export function helpCard(settings: RelaySettings, intro: string): NoticeCardView {
  const lines = [
    intro,
    'Just write your question; in group chats and channels, @mention me.',
    '/new: start a fresh conversation with the agent',
    '/status: show the agent, the modes and anything pending',
    '/help: show this help',
  ];
  if (settings.welcomePrompts.length > 0)
    lines.push(`Try: ${settings.welcomePrompts.map((p) => `"${p}"`).join(', ')}`);
  return notice('Foundry Agent', ...lines);
}

/** The slash commands. They run outside the thread's lane: `/new` must work while a turn is stuck. */
export class Commands {
  constructor(
    private readonly ctx: RelayContext,
    private readonly threads: ThreadStore,
    private readonly pending: PendingWork,
    private readonly approvals: ApprovalFlow,
  ) {}

  async run(command: Command, turn: TurnInfo, io: ConversationIO, key: string): Promise<void> {
    switch (command) {
      case 'new': {
        const credential = await this.ctx.identity
          .credentialFor(turn.user, turn.conversation.tenantId)
          .catch(() => undefined);
        if (credential) await this.pending.close(key, io, credential, 'reset');
        await this.threads.reset(key);
        await io.sendText(TEXT.newConversation);
        return;
      }
      case 'status':
        await io.sendCard(await this.status(key, io, turn.user));
        return;
      case 'help':
        await io.sendCard(helpCard(this.ctx.settings, TEXT.helpIntro));
    }
  }

  private async status(key: string, io: ConversationIO, user: Actor): Promise<NoticeCardView> {
    const s = this.ctx.settings;
    const state = await this.threads.load(key);
    const pendingApprovals = await this.openApprovals(state, io);
    const consent = state?.pendingConsentId
      ? (await readRecord<ConsentRecord>(this.ctx, consentKey(state.pendingConsentId)))?.value
      : undefined;
    const signIn =
      consent?.state === 'pending'
        ? consent.services.map((x) => x.serverLabel ?? 'a tool').join(', ')
        : 'none';
    return notice(
      'Status',
      `Agent: ${s.agentName}${s.agentVersion ? ` (version ${s.agentVersion})` : ' (active version)'}`,
      `Threading: ${s.threading === 'conversation' ? 'Foundry conversation' : 'previous_response_id chain'}`,
      `Identity: ${s.identityMode === 'user' ? 'individual (the agent acts as you)' : 'shared (the agent acts as the bot; sign-ins are shared)'}`,
      `Pending approvals: ${pendingApprovals}`,
      `Pending sign-in: ${signIn}`,
      `Conversation: ${state?.lastResponseId || state?.foundryConversationId ? 'in progress' : 'new'}`,
      ...(await this.deployment(user)),
    );
  }

  /** Admins only (SHARED_CONSENT_ADMINS or APPROVERS): the deployment summary (RelayDeps.diagnostics). */
  private async deployment(user: Actor): Promise<string[]> {
    const { settings, diagnostics } = this.ctx;
    const id = user.aadObjectId;
    if (!diagnostics || !id || ![...settings.sharedConsentAdmins, ...settings.approvers].includes(id))
      return [];
    const lines = await diagnostics().catch((err: unknown) => {
      this.ctx.log.warn('status.diagnostics_failed', { err });
      return ['(not available)'];
    });
    return ['Deployment (admins only):', ...lines.map((l) => `- ${l}`)];
  }

  private async openApprovals(state: ThreadState | undefined, io: ConversationIO): Promise<number> {
    if (!state?.pendingApprovalBatchId) return 0;
    const read = (await readRecord<ApprovalBatch>(this.ctx, approvalKey(state.pendingApprovalBatchId)))
      ?.value;
    const batch = read ? await this.approvals.recoverOrphan(read, io) : undefined;
    return batch?.state === 'pending' ? batch.items.filter((i) => !i.decision).length : 0;
  }
}
