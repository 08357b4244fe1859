/** A small SVG line chart: the last N samples of one or two series, no chart library needed. */
export interface Series {
  label: string;
  color: string;
  points: number[];
}

export function LineChart({ title, unit, series }: { title: string; unit: string; series: Series[] }) {
  const w = 360;
  const h = 110;
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points));
  const n = Math.max(2, ...series.map((s) => s.points.length));
  const path = (pts: number[]) =>
    pts.map((v, i) => `${i === 0 ? 'M' : 'L'}${((i / (n - 1)) * w).toFixed(1)},${(h - (v / max) * (h - 8) - 4).toFixed(1)}`).join(' ');
  const last = (s: Series) => (s.points.length ? s.points[s.points.length - 1]! : 0);
  return (
    <figure class="chart">
      <figcaption>
        {title}
        {series.map((s) => (
          <span class="legend" style={{ color: s.color }} key={s.label}>
            {s.label}: {formatNumber(last(s))} {unit}
          </span>
        ))}
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" role="img" aria-label={title}>
        <line x1="0" y1={h - 4} x2={w} y2={h - 4} class="axis" />
        {series.map((s) => (
          <path key={s.label} d={path(s.points)} fill="none" stroke={s.color} stroke-width="2" />
        ))}
      </svg>
      <div class="scale">max {formatNumber(max)} {unit}</div>
    </figure>
  );
}

export function formatNumber(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
