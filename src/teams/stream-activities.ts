import { aiEntity, type TeamsCitation } from './message';

/**
 * The activities of a Teams answer stream (msteams-docs bots/streaming-ux.md). The stream fields go both in a
 * `streaminfo` entity and in `channelData`, as Teams accepts both (design-notes.md, departure 5):
 * - informative update and streaming chunk: `typing` activities with `streamSequence` 1, 2, 3… and, once Teams
 *   returned it, the `streamId`;
 * - final: a `message` with `streamType: final`, the stream id and no sequence.
 * Plain answer messages (no stream, or the parts after the first) carry the AI label and feedback buttons.
 * Feedback buttons use the current form `channelData.feedbackLoop: { type: 'default' }`; the older
 * `feedbackLoopEnabled: true` is never sent alongside it (Teams rejects an activity that has both;
 * docs/real-services.md, Teams).
 */

/** An outgoing activity as the answer stream sends it (serialised by botbuilder). */
export type OutgoingActivity = Record<string, unknown>;

const FEEDBACK = { feedbackLoop: { type: 'default' } } as const;

function streamUpdate(
  streamType: 'informative' | 'streaming',
  text: string,
  sequence: number,
  streamId: string | undefined,
): OutgoingActivity {
  const info = { streamType, streamSequence: sequence, ...(streamId ? { streamId } : {}) };
  return { type: 'typing', text, entities: [{ type: 'streaminfo', ...info }], channelData: info };
}

/** A status line shown while the answer is prepared ("Asking the agent…"). */
export function informativeUpdate(
  text: string,
  sequence: number,
  streamId: string | undefined,
): OutgoingActivity {
  return streamUpdate('informative', text, sequence, streamId);
}

/** A streaming chunk: the cumulative answer text so far. */
export function streamingChunk(
  text: string,
  sequence: number,
  streamId: string | undefined,
): OutgoingActivity {
  return streamUpdate('streaming', text, sequence, streamId);
}

/** One answer message (not part of a stream): markdown, AI label with citations, feedback buttons. */
export function answerMessage(text: string, citations: TeamsCitation[], feedback: boolean): OutgoingActivity {
  return {
    type: 'message',
    text,
    textFormat: 'markdown',
    entities: [aiEntity(citations)],
    channelData: feedback ? FEEDBACK : {},
  };
}

/** The final message that closes an open stream with (the first part of) the answer. */
export function finalStreamMessage(
  text: string,
  citations: TeamsCitation[],
  feedback: boolean,
  streamId: string,
): OutgoingActivity {
  const info = { streamId, streamType: 'final' };
  return {
    ...answerMessage(text, citations, feedback),
    entities: [{ type: 'streaminfo', ...info }, aiEntity(citations)],
    channelData: { ...(feedback ? FEEDBACK : {}), ...info },
  };
}

/** Closes an open stream without an answer message (the turn ended with a card, an error…). */
export function closeStreamMessage(text: string, streamId: string): OutgoingActivity {
  const info = { streamId, streamType: 'final' };
  return { type: 'message', text, entities: [{ type: 'streaminfo', ...info }], channelData: info };
}
