/**
 * The dashboard's data, as `GET /dashboard/api/state` returns it. Shared by the server, the web page (web/) and
 * `sfip top`: only types here, so the browser bundle imports nothing else from the server.
 */
export type FloatingIpStatusName = 'ACTIVE' | 'DOWN' | 'ERROR';

export interface DashboardFloatingIp {
  readonly id: string;
  readonly address: string;
  readonly fixedIp: string | null;
  readonly status: FloatingIpStatusName;
  readonly statusReason: string;
  /** Cumulative counters from the dataplane; null when the backend keeps none or they could not be read. */
  readonly packetsIn: number | null;
  readonly bytesIn: number | null;
  readonly packetsOut: number | null;
  readonly bytesOut: number | null;
}

export interface DashboardReconcile {
  readonly at: string;
  readonly routerId: string;
  readonly kind: 'applied' | 'drift-repaired' | 'error' | 'unchanged';
  readonly cause: string;
  readonly durationMs: number;
  readonly added: number;
  readonly removed: number;
  readonly error: string | null;
}

export interface DashboardRouter {
  readonly id: string;
  readonly name: string;
  readonly backend: string;
  readonly namespace: string | null;
  readonly gatewayDevice: string | null;
  readonly problem: string;
  readonly countersSupported: boolean;
  readonly countersError: string | null;
  readonly statusCounts: Readonly<Record<FloatingIpStatusName, number>>;
  readonly lastReconcile: DashboardReconcile | null;
  readonly lastSuccessAt: string | null;
  /** All the router's associated floating IPs. */
  readonly floatingIpCount: number;
  /** How many match the request's `search` (all of them without one). */
  readonly matched: number;
  /** Where this page starts among the matching ones. */
  readonly offset: number;
  /** One page: at most `limit` matching floating IPs from `offset`, by address. */
  readonly floatingIps: readonly DashboardFloatingIp[];
  /** True when more matching floating IPs follow this page. */
  readonly truncated: boolean;
}

export interface DashboardConntrack {
  readonly namespace: string | null;
  readonly count: number | null;
  readonly max: number | null;
  readonly error: string | null;
}

export interface DashboardState {
  /** When the kernel was read (ISO time); rates are computed between two states' times. */
  readonly readAt: string;
  readonly routers: readonly DashboardRouter[];
  readonly conntrack: readonly DashboardConntrack[];
  /** Recent applies, drift repairs and errors, newest first. */
  readonly events: readonly DashboardReconcile[];
}
