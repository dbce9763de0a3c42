import { expect } from 'chai';
import { guestIdentity } from '../../src/guest/identity.js';

describe('guest/identity: the passwd and group files a guest sees', () => {
  const base = {
    passwd: [
      'root:x:0:0:root:/root:/bin/bash',
      'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
      'alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash',
      'slipway:x:998:998::/var/lib/slipway:/usr/sbin/nologin',
      'app:x:999:999::/srv/app:/bin/sh',
      'old:x:70001:70001::/home/old:/bin/sh',
      '+::::::',
      '# a comment',
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      '',
    ].join('\n'),
    group: ['root:x:0:', 'tty:x:5:', 'sudo:x:27:alice', 'alice:x:1000:', 'nogroup:x:65534:', 'clash:x:70001:', ''].join('\n'),
  };

  it("keeps the system's accounts, drops the host's people (also as group members), and names the app's user app, at home in /app", () => {
    const { passwd, group } = guestIdentity(base, { uid: 70001, gid: 70001 });
    expect(passwd.split('\n')).to.deep.equal([
      'root:x:0:0:root:/root:/bin/bash',
      'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
      'slipway:x:998:998::/var/lib/slipway:/usr/sbin/nologin',
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      'app:x:70001:70001:app:/app:/bin/bash',
      '',
    ]);
    // sudo's member alice is one of the host's people too.
    expect(group.split('\n')).to.deep.equal(['root:x:0:', 'tty:x:5:', 'sudo:x:27:', 'nogroup:x:65534:', 'app:x:70001:', '']);
  });

  it("gives an id the system holds to the app alone (nobody as a probe's user)", () => {
    const { passwd } = guestIdentity(base, { uid: 65534, gid: 65534 });
    expect(passwd.split('\n').filter((l) => l.split(':')[2] === '65534')).to.deep.equal(['app:x:65534:65534:app:/app:/bin/bash']);
  });
});
