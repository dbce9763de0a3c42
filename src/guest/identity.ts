import type { GuestUser } from '../runtime/driver.js';

/** What the app's user is called inside its guest, as Heroku's dynos have a user of their own. */
export const GUEST_USER_NAME = 'app';

export interface Identity {
  passwd: string;
  group: string;
}

/** The system's own accounts: below 1000 (Debian's policy for system users), and nobody/nogroup. */
const isSystemId = (id: number) => (id >= 0 && id < 1000) || id === 65534;

/** The system's lines of a passwd or group file (the id is the third field of both), without any that would claim the app's id or name. */
function keep(text: string, ownId: number): string[] {
  return text.split('\n').filter((line) => {
    const fields = line.split(':');
    const id = Number(fields[2]);
    return fields.length > 2 && fields[2] !== '' && isSystemId(id) && id !== ownId && fields[0] !== GUEST_USER_NAME;
  });
}

/** The app's own lines of /etc/passwd and /etc/group. */
export function appAccount(user: GuestUser): Identity {
  return {
    passwd: `${GUEST_USER_NAME}:x:${user.uid}:${user.gid}:${GUEST_USER_NAME}:/app:/bin/bash`,
    group: `${GUEST_USER_NAME}:x:${user.gid}:`,
  };
}

/**
 * The /etc/passwd and /etc/group a guest sees: the system's accounts from
 * `base` (the host's files, or the stack image's) and the app's user as
 * `app`, at home in /app. Without an entry for its uid, `whoami`, bash's
 * prompt ("I have no name!"), Node's os.userInfo() and git's ident fail in the
 * app. The host's people (uid 1000 and up) stay out of the guest's sight.
 */
export function guestIdentity(base: Identity, user: GuestUser): Identity {
  const passwd = keep(base.passwd, user.uid);
  // Members are the host's people by name: the guest sees the groups only.
  const group = keep(base.group, user.gid).map((line) => line.split(':').slice(0, 3).join(':') + ':');
  const own = appAccount(user);
  passwd.push(own.passwd);
  group.push(own.group);
  return { passwd: `${passwd.join('\n')}\n`, group: `${group.join('\n')}\n` };
}
