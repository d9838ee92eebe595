import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ago, bitsPerSecond, percent, si } from '../../src/dashboard/format.js';
import { RateTracker } from '../../src/dashboard/rates.js';
import type {
  DashboardConntrack,
  DashboardReconcile,
  DashboardRouter,
  DashboardState,
} from '../../src/dashboard/state-types.js';
import { fetchState, PAGE_SIZE, Unauthorized, type PageQuery } from './api.js';
import { Sparkline } from './sparkline.js';
import { initialToken, rememberToken } from './token.js';

const POLL_MS = 1000;
/** Charts are drawn for this many floating IPs per router; the table lists up to the server's limit. */
const CHARTED = 40;

export function App() {
  const [token, setToken] = useState<string | null>(initialToken);
  const [state, setState] = useState<DashboardState | null>(null);
  const [error, setError] = useState<string | null>(null);
  const tracker = useMemo(() => new RateTracker(60), []);
  const [, setTick] = useState(0);
  const [page, setPage] = useState<PageQuery>({ search: '', offset: 0, router: null });
  const pageRef = useRef(page);
  pageRef.current = page;

  useEffect(() => {
    if (!token) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const next = await fetchState(token, pageRef.current);
        if (stopped) return;
        tracker.update(next);
        setState(next);
        setError(null);
      } catch (e) {
        if (stopped) return;
        if (e instanceof Unauthorized) {
          rememberToken(null);
          setToken(null);
          setError(e.message);
          return;
        }
        setError((e as Error).message);
      }
      setTick((t) => t + 1);
      timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [token]);

  if (!token) return <TokenForm error={error} onToken={(t) => (rememberToken(t), setToken(t))} />;
  return (
    <main>
      <header>
        <h1>sfip</h1>
        <span class="muted">stateless floating IPs</span>
        <span class="spacer" />
        <span class={error ? 'pill error' : 'pill ok'} data-testid="connection">
          {error ? `disconnected: ${error}` : state ? `live · read ${ago(state.readAt)}` : 'connecting…'}
        </span>
      </header>
      {state && (
        <>
          <Conntrack entries={state.conntrack} />
          <SearchBar page={page} onPage={setPage} />
          {state.routers.length === 0 && <p class="muted">No routers yet.</p>}
          {state.routers.map((r) => (
            <RouterSection
              key={r.id}
              router={r}
              tracker={tracker}
              conntrack={state.conntrack}
              onPage={(offset) => setPage({ ...page, offset, router: r.id })}
            />
          ))}
          <Events events={state.events} routers={state.routers} />
        </>
      )}
    </main>
  );
}

function TokenForm({ error, onToken }: { error: string | null; onToken: (token: string) => void }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <main class="login">
      <h1>sfip dashboard</h1>
      <p>
        Paste the dashboard token: <code>sfip serve</code> writes it to <code>dashboard-token</code> in its
        state directory, or uses the one given with <code>--dashboard-token</code>.
      </p>
      {error && <p class="error">{error}</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const value = input.current?.value.trim();
          if (value) onToken(value);
        }}
      >
        <input ref={input} type="password" name="token" placeholder="token" autocomplete="off" />
        <button type="submit">Open</button>
      </form>
    </main>
  );
}

function Conntrack({ entries }: { entries: readonly DashboardConntrack[] }) {
  if (entries.length === 0) return null;
  return (
    <section class="card">
      <h2>Connection tracking</h2>
      <div class="gauges">
        {entries.map((c) => (
          <div class="gauge" key={c.namespace ?? ''} data-namespace={c.namespace ?? ''}>
            <div class="gauge-label">
              <span>{c.namespace ?? 'host namespace'}</span>
              <span data-field="conntrack">
                {c.error ? c.error : `${si(c.count)} of ${si(c.max)} (${percent(c.count, c.max)})`}
              </span>
            </div>
            <meter
              min={0}
              max={c.max ?? 1}
              low={(c.max ?? 1) * 0.7}
              high={(c.max ?? 1) * 0.9}
              value={c.count ?? 0}
            />
          </div>
        ))}
      </div>
    </section>
  );
}

/** Search by address (floating or fixed, by prefix) and leave a single router's pages. */
function SearchBar({ page, onPage }: { page: PageQuery; onPage: (page: PageQuery) => void }) {
  return (
    <form
      class="search"
      onSubmit={(e) => {
        e.preventDefault();
        const input = (e.currentTarget as HTMLFormElement).elements.namedItem('search') as HTMLInputElement;
        onPage({ ...page, search: input.value.trim(), offset: 0 });
      }}
    >
      <input
        name="search"
        data-testid="search"
        placeholder="search by address, e.g. 203.0.113.1"
        pattern="[0-9.]{0,15}"
        value={page.search}
      />
      <button type="submit">search</button>
      {(page.search || page.router) && (
        <button type="button" onClick={() => onPage({ search: '', offset: 0, router: null })}>
          show all routers
        </button>
      )}
    </form>
  );
}

function RouterSection({
  router: r,
  tracker,
  conntrack,
  onPage,
}: {
  router: DashboardRouter;
  tracker: RateTracker;
  conntrack: readonly DashboardConntrack[];
  onPage: (offset: number) => void;
}) {
  const ct = conntrack.find((c) => c.namespace === r.namespace);
  const last = r.lastReconcile;
  return (
    <section class="card" data-router={r.name}>
      <div class="router-head">
        <h2>{r.name || r.id}</h2>
        <span class="muted">
          {r.backend} · {r.namespace ?? 'host'} · {r.gatewayDevice ?? 'no gateway device'}
        </span>
        <span class="spacer" />
        <StatusCount label="ACTIVE" n={r.statusCounts.ACTIVE} />
        <StatusCount label="DOWN" n={r.statusCounts.DOWN} />
        <StatusCount label="ERROR" n={r.statusCounts.ERROR} />
      </div>
      <div class="router-facts muted">
        <span>
          last reconcile:{' '}
          {last ? (
            <span class={`kind ${last.kind}`} data-field="last-reconcile">
              {last.kind} ({last.cause}, {last.durationMs} ms) {ago(last.at)}
            </span>
          ) : (
            'not yet'
          )}
        </span>
        <span>last successful apply: {ago(r.lastSuccessAt)}</span>
        {ct?.count !== undefined && ct.count !== null && <span>conntrack entries: {si(ct.count)}</span>}
      </div>
      {r.problem && <p class="error">{r.problem}</p>}
      {last?.error && <p class="error">{last.error}</p>}
      {r.countersError && <p class="error">counters: {r.countersError}</p>}
      {!r.countersSupported && (
        <p class="muted">The {r.backend} backend keeps no per-floating-IP counters.</p>
      )}
      <table class="fips">
        <thead>
          <tr>
            <th>floating IP</th>
            <th>fixed IP</th>
            <th>status</th>
            <th class="num">in (bit/s)</th>
            <th class="num">out (bit/s)</th>
            <th class="num">packets in</th>
            <th class="num">packets out</th>
            <th>packets/s (60 s)</th>
          </tr>
        </thead>
        <tbody>
          {r.floatingIps.map((f, i) => {
            const rate = tracker.rate(r.id, f.address);
            return (
              <tr key={f.id} data-fip={f.address}>
                <td class="mono">{f.address}</td>
                <td class="mono">{f.fixedIp ?? '–'}</td>
                <td>
                  <span class={`status ${f.status}`} data-field="status" title={f.statusReason}>
                    {f.status}
                  </span>
                </td>
                <td class="num" title={rate ? `${si(rate.packetsInPerSec)} packets/s` : ''}>
                  {bitsPerSecond(rate?.bytesInPerSec)}
                </td>
                <td class="num" title={rate ? `${si(rate.packetsOutPerSec)} packets/s` : ''}>
                  {bitsPerSecond(rate?.bytesOutPerSec)}
                </td>
                <td class="num" data-field="packets-in" data-value={f.packetsIn ?? ''}>
                  {si(f.packetsIn)}
                </td>
                <td class="num" data-field="packets-out" data-value={f.packetsOut ?? ''}>
                  {si(f.packetsOut)}
                </td>
                <td>
                  {i < CHARTED && (
                    <Sparkline
                      series={tracker.seriesOf(r.id, f.address)}
                      label={`packets per second for ${f.address}`}
                    />
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div class="pager muted" data-testid="pager">
        {r.matched === 0
          ? r.floatingIpCount === 0
            ? 'No floating IPs.'
            : 'No floating IP matches.'
          : `${(r.offset + 1).toLocaleString('en')}–${(r.offset + r.floatingIps.length).toLocaleString('en')} of ${r.matched.toLocaleString('en')}` +
            (r.matched !== r.floatingIpCount
              ? ` matching (${r.floatingIpCount.toLocaleString('en')} in all)`
              : '')}
        <button
          type="button"
          disabled={r.offset === 0}
          onClick={() => onPage(Math.max(0, r.offset - PAGE_SIZE))}
        >
          previous
        </button>
        <button type="button" disabled={!r.truncated} onClick={() => onPage(r.offset + PAGE_SIZE)}>
          next
        </button>
      </div>
    </section>
  );
}

function StatusCount({ label, n }: { label: string; n: number }) {
  return (
    <span class={`status ${label} ${n === 0 ? 'zero' : ''}`}>
      {n} {label}
    </span>
  );
}

function Events({
  events,
  routers,
}: {
  events: readonly DashboardReconcile[];
  routers: readonly DashboardRouter[];
}) {
  const names = new Map(routers.map((r) => [r.id, r.name]));
  return (
    <section class="card">
      <h2>Recent reconciles, drift repairs and errors</h2>
      {events.length === 0 ? (
        <p class="muted">Nothing has changed since the daemon started.</p>
      ) : (
        <table class="events">
          <thead>
            <tr>
              <th>when</th>
              <th>router</th>
              <th>what</th>
              <th>cause</th>
              <th class="num">+/−</th>
              <th class="num">ms</th>
              <th>error</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr key={`${e.at}-${e.routerId}`} class={e.kind}>
                <td title={e.at}>{ago(e.at)}</td>
                <td>{names.get(e.routerId) ?? e.routerId.slice(0, 8)}</td>
                <td>
                  <span class={`kind ${e.kind}`}>{e.kind}</span>
                </td>
                <td>{e.cause}</td>
                <td class="num">
                  +{e.added}/−{e.removed}
                </td>
                <td class="num">{e.durationMs}</td>
                <td class="error">{e.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
