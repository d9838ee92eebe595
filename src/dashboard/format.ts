/** Number formatting shared by the dashboard and `sfip top`. */

const UNITS = ['', 'k', 'M', 'G', 'T'];

/** 1234567 -> "1.23M"; SI prefixes, three significant digits. */
export function si(value: number | null | undefined, unit = ''): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  let v = Math.abs(value);
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = v >= 100 || i === 0 ? 0 : v >= 10 ? 1 : 2;
  const shown =
    i === 0 && !Number.isInteger(value) ? Math.abs(value).toFixed(value < 10 ? 1 : 0) : v.toFixed(digits);
  return `${value < 0 ? '-' : ''}${shown}${UNITS[i]}${unit}`;
}

/** Bytes per second as bits per second, the way links are rated. */
export function bitsPerSecond(bytesPerSecond: number | null | undefined): string {
  return bytesPerSecond === null || bytesPerSecond === undefined ? '–' : si(bytesPerSecond * 8, 'b/s');
}

/** "3 s ago", "4 min ago"; for timestamps in ISO form. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function percent(part: number | null, whole: number | null): string {
  if (part === null || whole === null || whole <= 0) return '–';
  const p = (100 * part) / whole;
  return `${p < 1 && p > 0 ? p.toFixed(2) : p.toFixed(1)}%`;
}
