import Table from 'cli-table3';
import type { Json } from '../client/api-client.js';

export interface OutputOptions {
  readonly json: boolean;
}

/** cli-table3 prints ANSI colours even into a pipe unless its styles are emptied. */
const plain = { head: [] as string[], border: [] as string[] };
/** No rule between rows: long lists stay readable. */
const compact = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(cell).join('\n');
  if (typeof value === 'object') {
    return Object.entries(value as Json)
      .map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
      .join(', ');
  }
  return String(value);
}

export function printList(rows: Json[], columns: [heading: string, key: string][], out: OutputOptions): void {
  if (out.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const table = new Table({ head: columns.map(([h]) => h), style: plain, chars: compact });
  for (const row of rows) table.push(columns.map(([, k]) => cell(row[k])));
  console.log(table.toString());
}

export function printObject(object: Json, out: OutputOptions): void {
  if (out.json) {
    console.log(JSON.stringify(object, null, 2));
    return;
  }
  const table = new Table({ head: ['Field', 'Value'], style: plain, chars: compact });
  for (const key of Object.keys(object).sort()) table.push([key, cell(object[key])]);
  console.log(table.toString());
}
