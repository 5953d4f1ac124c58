import { ActivityTypes, type TurnContext } from 'botbuilder';

/**
 * Answers an invoke (card action, sign-in, feedback…): botbuilder returns this activity as the HTTP response of
 * the inbound request. Teams reads the outcome from the body's `statusCode`, so handled errors go out as HTTP 200
 * with an `application/vnd.microsoft.error` body (see invokeError).
 */
export async function sendInvokeResponse(ctx: TurnContext, status: number, body?: unknown): Promise<void> {
  await ctx.sendActivity({
    type: ActivityTypes.InvokeResponse,
    value: { status, ...(body === undefined ? {} : { body }) },
  });
}

/** An invoke error body Teams shows under the card (a short message, never error text). */
export function invokeError(statusCode: number, code: string, message: string): Record<string, unknown> {
  return { statusCode, type: 'application/vnd.microsoft.error', value: { code, message } };
}
