import { connect } from 'node:net';

/** One process's side of the write turns (write-turn-server.ts). */
export interface WriteTurns {
  /**
   * Resolves when this process's turn to write has come. If the server is gone (the primary stopped), it resolves
   * at once, and for good: SQLite's lock still keeps writers apart, only less promptly.
   */
  take(): Promise<void>;
  /** Ends the turn of the earliest `take` not ended yet. */
  end(): void;
  close(): void;
}

export function connectWriteTurns(path: string, onLost: (error: Error) => void): WriteTurns {
  const socket = connect(path);
  const waiting: (() => void)[] = [];
  let lost = false;
  const lose = (error: Error) => {
    if (lost) return;
    lost = true;
    onLost(error);
    socket.destroy();
    for (const resolve of waiting.splice(0)) resolve();
  };
  socket.on('data', (chunk: Buffer) => {
    for (let i = 0; i < chunk.length; i++) waiting.shift()?.();
    // Idle, the connection keeps no process alive; waiting for a turn, it does (a write is pending).
    if (waiting.length === 0) socket.unref();
  });
  socket.on('error', lose);
  socket.on('close', () => lose(new Error('the write turn server closed the connection')));
  socket.unref();
  return {
    take: () =>
      lost
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiting.push(resolve);
            socket.ref();
            socket.write('A');
          }),
    end: () => {
      if (!lost) socket.write('R');
    },
    close: () => {
      lost = true;
      socket.destroy();
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}
