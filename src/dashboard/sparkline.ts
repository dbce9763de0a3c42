const W = 120;
const H = 24;

/**
 * Requests/s as an inline SVG polyline: no script, no image request, and
 * the numbers it stands for in its <title> for screen readers.
 */
export function sparkline(rates: number[]): string {
  const max = Math.max(...rates, 0.1);
  const step = rates.length > 1 ? W / (rates.length - 1) : W;
  const points = rates.map((r, i) => `${(i * step).toFixed(1)},${(H - 1 - (r / max) * (H - 2)).toFixed(1)}`).join(' ');
  const last = rates[rates.length - 1] ?? 0;
  const peak = Math.max(...rates, 0);
  return (
    `<svg class="spark" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" aria-label="requests per second, last 5 minutes: now ${last.toFixed(1)}, peak ${peak.toFixed(1)}">` +
    `<title>now ${last.toFixed(1)} req/s, peak ${peak.toFixed(1)} req/s (5 min)</title>` +
    `<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${points}"/></svg>`
  );
}
