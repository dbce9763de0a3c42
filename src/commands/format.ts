/** Left-aligned columns with a header row, as `heroku apps` and `dokku` print them. */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c == null ? '' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function ago(ms: number | null | undefined): string {
  if (!ms) return '';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}

export function remotes(
  app: string,
  s: { publicHost: string; sshPort: number; httpPort: number; apiUrl?: string },
): { ssh: string; scp: string; http: string } {
  return {
    ssh: `ssh://slipway@${s.publicHost}:${s.sshPort}/${app}.git`,
    scp: `slipway@${s.publicHost}:${app}`,
    http: s.apiUrl ? `${s.apiUrl}/git/${app}.git` : `http://${s.publicHost}:${s.httpPort}/git/${app}.git`,
  };
}

export function appUrl(app: string, s: { domain: string; routerPort: number }): string {
  return `http://${app}.${s.domain}${s.routerPort === 80 ? '' : `:${s.routerPort}`}/`;
}
