/** Scrapes a /metrics endpoint and reads it through a Prometheus text-format parser (never by string matching). */
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';

export type Scrape = Map<string, PromFamily>;

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return parse(await res.text());
}

/** Prometheus text exposition, by metric family name. */
export function parse(text: string): Scrape {
  const families = parsePrometheusTextFormat(text);
  return new Map(families.map((f) => [f.name, f]));
}

function matches(sample: { labels?: Record<string, string> }, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => sample.labels?.[k] === v);
}

/** The value of a counter or gauge series (the only series, or the one with these labels). */
export function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const family = s.get(name);
  if (!family) throw new Error(`metric ${name} is not exposed`);
  const found = family.metrics.filter((m) => matches(m, labels));
  if (found.length !== 1) throw new Error(`metric ${name}${JSON.stringify(labels)}: ${found.length} series`);
  return Number(found[0]!.value);
}

/**
 * Observation count of a histogram: its `+Inf` bucket (equal to `_count` by definition; the parser
 * keeps `_count` only for unlabelled histograms, and ours carry a hostname label).
 */
export function histogramCount(s: Scrape, name: string): number {
  const family = s.get(name);
  if (!family || family.type !== 'HISTOGRAM') throw new Error(`histogram ${name} is not exposed`);
  return family.metrics.reduce((n, m) => n + Number(m.buckets?.['+Inf'] ?? 0), 0);
}
