import pino, { type Logger } from 'pino';

/** JSON logs for machines; readable lines when a person is watching a terminal. */
export function createLogger(level = 'info', pretty = process.stdout.isTTY): Logger {
  return pino({
    level,
    base: { service: 'sfip' },
    ...(pretty && {
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    }),
  });
}
