import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { RateSeries } from '../../src/dashboard/rates.js';

const WIDTH = 180;
const HEIGHT = 40;

/** A small uPlot chart of packets per second in (blue) and out (orange) for one floating IP. */
export function Sparkline({ series, label }: { series: RateSeries | undefined; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    plot.current = new uPlot(
      {
        width: WIDTH,
        height: HEIGHT,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        axes: [{ show: false }, { show: false }],
        padding: [4, 2, 2, 2],
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        series: [
          {},
          {
            label: 'in pps',
            stroke: '#2563eb',
            width: 1.5,
            fill: 'rgba(37,99,235,0.12)',
            points: { show: false },
          },
          { label: 'out pps', stroke: '#ea580c', width: 1.5, points: { show: false } },
        ],
      },
      [[], [], []],
      host.current!,
    );
    return () => plot.current?.destroy();
  }, []);

  useEffect(() => {
    if (series) plot.current?.setData([series.times, series.packetsIn, series.packetsOut]);
  }, [series, series?.times.length, series?.times[series.times.length - 1]]);

  return <div class="sparkline" ref={host} role="img" aria-label={label} />;
}
