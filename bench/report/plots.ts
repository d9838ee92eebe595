import { writeFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * Renders a Vega-Lite spec to PNG without a browser: Vega draws SVG headlessly, resvg rasterises it with the
 * system's fonts (DejaVu on Debian).
 */
export async function writeChart(path: string, spec: TopLevelSpec): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG(2);
  view.finalize();
  const png = new Resvg(svg, {
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
  writeFileSync(path, png);
}

type Row = Record<string, string | number>;

/** Median with a min-max band per configuration over a numeric x. */
export function lineWithBand(
  title: string,
  rows: Row[],
  x: string,
  xTitle: string,
  y: string,
  yTitle: string,
  logX: boolean,
): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 300,
    data: { values: rows },
    encoding: {
      x: { field: x, type: 'quantitative', title: xTitle, scale: logX ? { type: 'log' } : {} },
      color: { field: 'config', type: 'nominal', title: 'configuration' },
    },
    layer: [
      {
        mark: { type: 'area', opacity: 0.2 },
        encoding: { y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } },
      },
      {
        mark: { type: 'line', point: true },
        encoding: { y: { field: y, type: 'quantitative', title: yTitle } },
      },
    ],
  };
}

export function lines(
  title: string,
  rows: Row[],
  x: string,
  xTitle: string,
  y: string,
  yTitle: string,
): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 300,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: x, type: 'quantitative', title: xTitle },
      y: { field: y, type: 'quantitative', title: yTitle },
      color: { field: 'config', type: 'nominal', title: 'configuration' },
    },
  };
}
