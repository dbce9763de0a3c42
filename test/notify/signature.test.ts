import { expect } from 'chai';
import crypto from 'node:crypto';
import { newSecret, sign, verify } from '../../src/notify/signature.js';

describe('notify/signature', () => {
  const body = JSON.stringify({ event: 'deploy.failed', app: 'myapp', note: 'ünïcode ✓' });

  it('is sha256= and the hex HMAC-SHA256 of the raw body, as node crypto computes it', () => {
    const header = sign('s3cret', body);
    const expected = crypto.createHmac('sha256', 's3cret').update(Buffer.from(body, 'utf8')).digest('hex');
    expect(header).to.equal(`sha256=${expected}`);
    expect(header).to.match(/^sha256=[0-9a-f]{64}$/);
    expect(sign('s3cret', Buffer.from(body))).to.equal(header);
  });

  it("matches GitHub's documented example", () => {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    expect(sign("It's a Secret to Everybody", 'Hello, World!')).to.equal(
      'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    );
  });

  it('verifies only the same body with the same secret', () => {
    const header = sign('s3cret', body);
    expect(verify('s3cret', body, header)).to.equal(true);
    expect(verify('other', body, header)).to.equal(false);
    expect(verify('s3cret', `${body} `, header)).to.equal(false);
    expect(verify('s3cret', body, undefined)).to.equal(false);
    expect(verify('s3cret', body, 'sha256=00')).to.equal(false);
  });

  it('generates long, distinct secrets', () => {
    const a = newSecret();
    expect(a).to.match(/^[0-9a-f]{40}$/);
    expect(newSecret()).to.not.equal(a);
  });
});
