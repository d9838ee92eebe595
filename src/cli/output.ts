import Table from 'cli-table3';
import type { Json } from '../client/api-client.js';

export interface OutputOptions {
  readonly json: boolean;
}

/** A table column: its heading and the field it shows, or a function of the row for composed cells. */
export type Column = readonly [heading: string, field: string | ((row: Json) => string)];

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

/**
 * A list as a table, or with --json in Neutron's shape, `{"floatingips": [...]}`, so output and API agree and
 * scripts written against one work with the other.
 */
export function printList(
  collection: string | null,
  rows: Json[],
  columns: readonly Column[],
  out: OutputOptions,
): void {
  if (out.json) {
    // null: not a Neutron resource (tokens, lab namespaces), printed as the bare array.
    console.log(JSON.stringify(collection === null ? rows : { [collection]: rows }, null, 2));
    return;
  }
  const table = new Table({ head: columns.map(([h]) => h), style: plain, chars: compact });
  for (const row of rows)
    table.push(columns.map(([, f]) => (typeof f === 'function' ? f(row) : cell(row[f]))));
  console.log(table.toString());
}

/** One resource as Field/Value rows, or with --json as Neutron shows it, `{"floatingip": {...}}`. */
export function printObject(member: string | null, object: Json, out: OutputOptions): void {
  if (out.json) {
    console.log(JSON.stringify(member === null ? object : { [member]: object }, null, 2));
    return;
  }
  const table = new Table({ head: ['Field', 'Value'], style: plain, chars: compact });
  for (const key of Object.keys(object).sort()) table.push([key, cell(object[key])]);
  console.log(table.toString());
}

/** An error as the API sends it, for --json: `{"NeutronError": {"type", "message", "detail"}}`. */
export function jsonError(type: string, message: string): string {
  return JSON.stringify({ NeutronError: { type, message, detail: '' } }, null, 2);
}
