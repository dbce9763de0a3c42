/**
 * TEST-ONLY. `SLIPWAY_TEST_CRASH_AT=<point>` in the daemon's environment makes
 * it SIGKILL itself the moment it reaches that point, so the crash test
 * (test/e2e/crash.test.ts) can stop a deploy exactly at a stage boundary:
 * `<stage>:before`, `<stage>:after` (see pipeline/runner.ts), and the points
 * inside a stage named where they are called (`activate:before-switch`,
 * `activate:after-switch`, `bundle:during`). Inert unless set; never set it on
 * a real server.
 */
const CRASH_AT = process.env.SLIPWAY_TEST_CRASH_AT;

export function crashPoint(point: string): void {
  if (CRASH_AT !== undefined && CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}
