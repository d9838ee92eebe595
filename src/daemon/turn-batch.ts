/**
 * Gathers the items given during one turn of the event loop and hands them on together once it ends (setImmediate):
 * an API worker's records for the primary (the audit lines of the answers a group commit releases at once) then
 * cost one IPC message each way per turn instead of per request, on both processes' loops. Each caller's promise
 * settles with its batch's.
 */
export function turnBatcher<T>(sendAll: (items: T[]) => Promise<void>): (item: T) => Promise<void> {
  let open: { items: T[]; done: Promise<void> } | undefined;
  return (item) => {
    if (!open) {
      const items: T[] = [];
      const done = new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          // Closed before sending: an item given while the batch is on its way starts the next one.
          open = undefined;
          sendAll(items).then(resolve, reject);
        }),
      );
      open = { items, done };
    }
    open.items.push(item);
    return open.done;
  };
}
