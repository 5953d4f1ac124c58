import { loadConfig } from './config/config';
import { isBotError } from './errors';

/** Entry point (`npm start`): configuration → bot → signals. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    // The message names keys and reasons, never values.
    process.stderr.write(`${isBotError(err) ? err.message : 'invalid configuration'}\n`);
    process.exit(1);
  }
  // Loaded only after the configuration is valid: the bot's modules take seconds to load, and a bad
  // configuration must stop start-up within 2 s (AUTH-08).
  const { startBot } = await import('./app');
  const bot = await startBot(config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    bot.log.info('bot.signal', { signal });
    bot
      .shutdown()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (reason) => bot.log.error('process.unhandled_rejection', { err: reason }));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `start-up failed: ${isBotError(err) ? `${err.code} ${err.message}` : err instanceof Error ? err.name : 'unknown error'}\n`,
  );
  process.exit(1);
});
