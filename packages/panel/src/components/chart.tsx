import { useEffect, useRef } from 'react';
import type { DayStats } from '../api.ts';
import { formatDate } from '../format.ts';

const W = 960;
const H = 220;
const PAD = { top: 16, right: 12, bottom: 28, left: 36 };

function niceMax(n: number): number {
  if (n <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 2.5, 5, 10]) if (n <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

/** Comments (bars) and active users (line) per day, as an accessible SVG with a table fallback. */
export function ActivityChart({ days }: { days: DayStats[] }) {
  const max = niceMax(Math.max(1, ...days.map((d) => Math.max(d.comments, d.activeUsers))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / days.length;
  const barW = Math.max(2, step * 0.6);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const x = (i: number) => PAD.left + step * i + step / 2;
  const ticks = [0, max / 4, max / 2, (3 * max) / 4, max];
  const line = days.map((d, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(d.activeUsers).toFixed(1)}`).join(' ');
  const totalComments = days.reduce((s, d) => s + d.comments, 0);
  const peakUsers = Math.max(0, ...days.map((d) => d.activeUsers));
  const label = (day: string) => formatDate(`${day}T12:00:00Z`);
  // On a narrow screen the chart scrolls sideways: start at the most recent days.
  const scroller = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (scroller.current) scroller.current.scrollLeft = scroller.current.scrollWidth;
  }, [days]);

  return (
    <figure className="chart">
      <div className="chart-legend">
        <span>
          <i className="swatch swatch-bar" /> Comments ({totalComments} in 30 days)
        </span>
        <span>
          <i className="swatch swatch-line" /> Active users (peak {peakUsers} a day)
        </span>
      </div>
      <div className="chart-scroll" ref={scroller}>
        <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Comments and active users per day, last 30 days: ${totalComments} comments, at most ${peakUsers} active users a day`}>
          {ticks.map((t) => (
            <g key={t}>
              <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="grid" />
              <text x={PAD.left - 6} y={y(t) + 4} className="axis" textAnchor="end">
                {Number.isInteger(t) ? t : t.toFixed(1)}
              </text>
            </g>
          ))}
          {days.map((d, i) => (
            <rect key={d.day} x={x(i) - barW / 2} y={y(d.comments)} width={barW} height={Math.max(0, PAD.top + plotH - y(d.comments))} className="bar" rx="2">
              <title>{`${label(d.day)}: ${d.comments} comments, ${d.activeUsers} active users`}</title>
            </rect>
          ))}
          <path d={line} className="line" />
          {days.map((d, i) => (d.activeUsers > 0 ? <circle key={d.day} cx={x(i)} cy={y(d.activeUsers)} r="3" className="dot" /> : null))}
          {days.map((d, i) =>
            (days.length - 1 - i) % 7 === 0 ? (
              <text key={d.day} x={x(i)} y={H - 8} className="axis" textAnchor="middle">
                {label(d.day).replace(/,? \d{4}$/, '')}
              </text>
            ) : null,
          )}
        </svg>
      </div>
      {totalComments === 0 && peakUsers === 0 && <p className="chart-empty">No activity in the last 30 days yet. Comments and active users will show here day by day.</p>}
    </figure>
  );
}
