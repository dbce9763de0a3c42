import type { GuestUser, Limits } from '../runtime/driver.js';
import type { App } from '../store/index.js';
import type { Services } from './context.js';

/** Who a process of `type` runs as and what it may use; empty where the server has no guests. */
export function guestOf(services: Services, app: Pick<App, 'id' | 'name'>, type: string): { user?: GuestUser; limits?: Limits } {
  const guests = services.guests;
  if (!guests) return {};
  return { user: guests.userOf(app), limits: guests.limitsOf(app.id, type) };
}
