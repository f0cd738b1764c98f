/**
 * Draws bench/throughput.svg from the last full run of bench/server.ts: /decode throughput by payload size, our
 * server against the bare node:http echo, the bare node:http codec server (one core) and the Go SDK peer, one core
 * and two. A hand-written SVG (no dependency), one panel per payload size, each with its own scale, since 1 KiB and
 * 256 KiB differ a hundredfold.
 *
 *   npx tsx bench/chart.ts [--in bench/results/server-latest.json] [--out bench/throughput.svg] [--connections 32]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flagValue, fmt, formatSize } from './lib/report.js';
import { REPO_ROOT, RESULTS_DIR } from './peers/targets.js';

interface Figure {
  operation: string;
  size: number;
  connections: number;
  target: string;
  rps: number;
  p99: number;
}

interface Report {
  date: string;
  quick: boolean;
  machine: { cpu: string; logicalCpus: number; node: string; go: string };
  settings: { rounds: number; seconds: number };
  summary: { figures: Figure[] };
}

const input = flagValue('in') ?? join(RESULTS_DIR, 'server-latest.json');
const output = flagValue('out') ?? join(REPO_ROOT, 'bench', 'throughput.svg');
const connections = Number(flagValue('connections') ?? 32);

const SERIES = [
  { target: 'ours-1', cores: 1, label: 'ours, 1 worker', color: '#2563eb' },
  { target: 'go-1', cores: 1, label: 'Go SDK handler, GOMAXPROCS=1', color: '#0d9488' },
  { target: 'floor-1', cores: 1, label: 'node:http + codec only, 1 process', color: '#d97706' },
  { target: 'echo-1', cores: 1, label: 'node:http JSON echo, 1 process', color: '#9ca3af' },
  { target: 'ours-2', cores: 2, label: 'ours, 2 workers', color: '#1e3a8a' },
  { target: 'go-2', cores: 2, label: 'Go SDK handler, GOMAXPROCS=2', color: '#115e59' },
  { target: 'echo-2', cores: 2, label: 'node:http JSON echo, 2 workers', color: '#4b5563' },
] as const;

/** A gap between the one-core and the two-core bars of a panel. */
const GROUP_GAP = 12;
/** Legend: one row per core count, a column per kind of server (in this order), this wide. */
const LEGEND_KINDS = ['ours', 'go', 'floor', 'echo'];
const LEGEND_COLUMN = 240;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `value`. */
function niceMax(value: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
  for (const step of [1, 2, 4, 5, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function renderChart(report: Report, conns: number): string {
  const figures = report.summary.figures.filter((f) => f.operation === 'decode' && f.connections === conns);
  const sizes = [...new Set(figures.map((f) => f.size))].sort((a, b) => a - b);
  const series = SERIES.filter((s) => figures.some((f) => f.target === s.target));
  const panelWidth = 250;
  const panelGap = 60;
  const left = 60;
  const top = 70;
  const plotHeight = 260;
  const groups = [1, 2].map((cores) => series.filter((s) => s.cores === cores)).filter((group) => group.length > 0);
  const legendHeight = 20 * groups.length + 10;
  const width = left + sizes.length * (panelWidth + panelGap);
  const height = top + plotHeight + 50 + legendHeight + 40;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">POST /decode throughput (requests/s, higher is better), ${conns} connections</text>`);
  out.push(
    `<text x="${left}" y="44" fill="#374151">one JSON payload per request, compressed + AES-256-GCM; 1 core: server pinned to CPU 1, load generator to CPU 0; 2 cores: unpinned</text>`,
  );
  const barArea = panelWidth - 20;
  const barWidth = Math.min(34, barArea / series.length - 4);
  sizes.forEach((size, p) => {
    const x0 = left + p * (panelWidth + panelGap);
    const max = niceMax(Math.max(...figures.filter((f) => f.size === size).map((f) => f.rps)));
    // Axis and grid.
    for (let i = 0; i <= 4; i++) {
      const y = top + plotHeight - (plotHeight * i) / 4;
      out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + panelWidth}" y2="${y}" stroke="${i === 0 ? '#111827' : '#e5e7eb'}"/>`);
      out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end" fill="#6b7280" font-size="10">${i === 0 ? '0' : escape(fmt((max * i) / 4))}</text>`);
    }
    out.push(`<text x="${x0 + panelWidth / 2}" y="${top + plotHeight + 22}" text-anchor="middle" font-weight="bold">${escape(formatSize(size))} payload</text>`);
    const barX = (i: number): number => x0 + 8 + i * (barWidth + 4) + (series[i]!.cores === 2 ? GROUP_GAP : 0);
    series.forEach((s, i) => {
      const figure = figures.find((f) => f.size === size && f.target === s.target);
      if (!figure || !Number.isFinite(figure.rps)) return;
      const h = (plotHeight * figure.rps) / max;
      const x = barX(i);
      const y = top + plotHeight - h;
      out.push(`<rect x="${x}" y="${y.toFixed(1)}" width="${barWidth}" height="${h.toFixed(1)}" fill="${s.color}"><title>${escape(`${s.label}: ${fmt(figure.rps)} req/s, p99 ${figure.p99.toFixed(1)} ms`)}</title></rect>`);
      out.push(
        `<text x="${x + barWidth / 2}" y="${(y - 4).toFixed(1)}" text-anchor="middle" font-size="9" fill="#111827">${escape(fmt(figure.rps))}</text>`,
      );
    });
    for (const group of groups) {
      const first = series.indexOf(group[0]!);
      const last = series.indexOf(group[group.length - 1]!);
      const middle = (barX(first) + barX(last) + barWidth) / 2;
      const label = group[0]!.cores === 1 ? '1 core' : '2 cores';
      out.push(`<text x="${middle}" y="${top + plotHeight + 38}" text-anchor="middle" fill="#6b7280" font-size="10">${label}</text>`);
    }
  });
  const legendTop = top + plotHeight + 60;
  groups.forEach((group, row) => {
    group.forEach((s) => {
      const x = left + LEGEND_KINDS.indexOf(s.target.split('-')[0]!) * LEGEND_COLUMN;
      const y = legendTop + row * 20;
      out.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${s.color}"/>`);
      out.push(`<text x="${x + 18}" y="${y + 10}">${escape(s.label)}</text>`);
    });
  });
  const m = report.machine;
  out.push(
    `<text x="${left}" y="${height - 12}" fill="#6b7280" font-size="10">${escape(
      `${m.cpu}, ${m.logicalCpus} vCPUs shared with other work; Node ${m.node}, Go ${m.go}; ${report.date.slice(0, 10)}; median of ${report.settings.rounds} rounds x ${report.settings.seconds} s (bench/server.ts)`,
    )}</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const report = JSON.parse(readFileSync(input, 'utf8')) as Report;
if (report.quick) console.warn('note: drawing a --quick run');
writeFileSync(output, renderChart(report, connections));
console.log(`wrote ${output}`);
