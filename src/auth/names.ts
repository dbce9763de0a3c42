import { invalid } from '../errors.js';

export const APP_NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const USER_NAME = /^[a-z][a-z0-9_.-]{0,31}$/;
export const BRANCH_NAME = /^[A-Za-z0-9._\/-]{1,200}$/;

/** App names end up in paths, hostnames and container names: one strict rule for all. */
export function checkAppName(name: string): string {
  if (!APP_NAME.test(name)) {
    throw invalid(
      `invalid app name ${JSON.stringify(truncate(name))}`,
      'app names start with a lowercase letter and use only a-z, 0-9 and "-", 63 characters at most',
    );
  }
  return name;
}

export function checkUserName(name: string): string {
  if (!USER_NAME.test(name)) {
    throw invalid(
      `invalid user name ${JSON.stringify(truncate(name))}`,
      'user names start with a lowercase letter and use only a-z, 0-9, ".", "_" and "-", 32 characters at most',
    );
  }
  return name;
}

const truncate = (s: string) => (s.length > 70 ? `${s.slice(0, 67)}...` : s);
