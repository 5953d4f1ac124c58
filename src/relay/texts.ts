/**
 * What the relay says to users that is not an error (errors come from the one table in src/errors.ts,
 * `userMessageFor(code)`). One place, so wording stays consistent and tests can refer to it.
 */
export const TEXT = {
  welcome: "Hi! I relay your messages to the organisation's Foundry agent.",
  helpIntro: 'Here is what I can do.',
  asking: 'Asking the agent…',
  continuing: 'Continuing…',
  signInNeeded: 'A sign-in is needed to continue.',
  approvalNeeded: 'Your approval is needed to continue.',
  noAnswer: 'The agent did not return an answer.',
  approvalLoop: 'The agent kept asking for approvals, so I stopped. Send /new to start over.',
  newConversation: 'Started a new conversation with the agent. Earlier context is forgotten.',
  clickInProgress: 'Your earlier click is still being processed.',
  retrying: 'Retrying…',
  identityUnverified: 'Your identity could not be verified, so this click was ignored.',
  usingTool: (label: string): string => `Using ${label}…`,
  stillRunning: (label: string, seconds: number): string => `Still running ${label}… (${seconds} s)`,
  threadRestarted:
    'I could not continue our earlier conversation with the agent (it no longer exists), so your message went to a new one.',
  signInAgain: (tool: string): string =>
    `${tool} needs you to sign in again: your access to it expired or was revoked. Send your message again and choose Sign in on the card that appears; if no card appears, ask your administrator to reconnect the tool.`,
  decideApprovalsFirst:
    'Decide the approval request in this conversation first: the agent continues once every request has a decision.',
  declinedTool: (tool: string): string =>
    `This tool needs authorization: ${tool} could not be used because sign-in was not completed.`,
  waitingFor: (name: string | undefined): string =>
    `Only ${name ?? 'the requester'} or a named approver can decide this request.`,
  needsSignIn: (name: string | undefined, services: string): string =>
    `${name ?? 'The requester'} needs to sign in to ${services}.`,
  noAdmin: 'No administrator is configured (SHARED_CONSENT_ADMINS).',
} as const;

/** What users are told about signing in (user mode) that is not an error; errors are in src/errors.ts. */
export const SIGNIN_TEXT = {
  sentPrivately: "I've sent you a private chat to sign in to the agent. I'll answer here once you have.",
  notInstalled:
    "I need you to sign in to the agent, but I can't message you privately because the app isn't added for you. " +
    "Open a chat with me in Teams, sign in there, and I'll answer here.",
  privateChatFailed:
    "I need you to sign in to the agent, but I couldn't open a private chat with you just now. Please ask again in a moment.",
  exchangeFailed: "I couldn't sign you in silently. Select Sign in on the card to sign in with your account.",
  teamsFailed:
    "Teams couldn't sign you in silently. Select Sign in on the card to sign in with your account.",
  ssoMismatch:
    "Teams couldn't match this app's single sign-on setup, so it can't sign you in silently. Select Sign in on " +
    "the card to sign in with your account, and please tell your administrator (the app manifest's " +
    'webApplicationInfo does not match the sign-in app).',
  signedIn: "You're signed in to the agent.",
} as const;
