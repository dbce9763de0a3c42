import { expect } from 'chai';
import { checkSecret, checkWebhookUrl, displayUrl, parseEvents } from '../../src/notify/url.js';

const invalid = (message: string, hint: string) => Object.assign(new Error(message), { hint });

describe('notify/url: webhook input', () => {
  it('accepts absolute http(s) URLs, normalised', () => {
    expect(checkWebhookUrl('http://127.0.0.1:9000/hook', invalid)).to.equal('http://127.0.0.1:9000/hook');
    expect(checkWebhookUrl('HTTPS://CI.Example.com/a?b=c', invalid)).to.equal('https://ci.example.com/a?b=c');
  });

  it('refuses other schemes, relative URLs, whitespace and URLs over 2000 characters', () => {
    for (const [url, pattern] of [
      ['ftp://example.com/x', /not an http\(s\) URL/],
      ['file:///etc/passwd', /not an http\(s\) URL/],
      ['javascript:alert(1)', /not an http\(s\) URL/],
      ['/hook', /not a URL/],
      ['example.com/hook', /not a URL/],
      ['http://exa mple.com/', /spaces or control/],
      ['http://example.com/\nX-Injected: 1', /spaces or control/],
      [`https://example.com/${'a'.repeat(2000)}`, /at most 2000/],
    ] as const) {
      expect(() => checkWebhookUrl(url, invalid), url).to.throw(pattern);
    }
    expect(checkWebhookUrl(`https://example.com/${'a'.repeat(2000 - 20)}`, invalid)).to.have.length(2000);
  });

  it('masks a password when printing a URL', () => {
    expect(displayUrl('https://user:hunter2@example.com/x')).to.equal('https://user:***@example.com/x');
    expect(displayUrl('https://example.com/x')).to.equal('https://example.com/x');
  });

  it('parses --events: both by default, known names only, deduplicated', () => {
    expect(parseEvents(undefined, invalid)).to.deep.equal(['deploy.succeeded', 'deploy.failed']);
    expect(parseEvents('deploy.failed', invalid)).to.deep.equal(['deploy.failed']);
    expect(parseEvents('cert.failed,deploy.failed', invalid)).to.deep.equal(['cert.failed', 'deploy.failed']);
    expect(parseEvents(' deploy.failed , deploy.failed,deploy.succeeded', invalid)).to.deep.equal(['deploy.failed', 'deploy.succeeded']);
    expect(() => parseEvents('push', invalid)).to.throw(/unknown event "push"/);
    expect(() => parseEvents(',', invalid)).to.throw(/names no event/);
  });

  it('checks a given secret', () => {
    expect(checkSecret('s3cret', invalid)).to.equal('s3cret');
    expect(() => checkSecret('', invalid)).to.throw(/invalid webhook secret/);
    expect(() => checkSecret('a'.repeat(257), invalid)).to.throw(/invalid webhook secret/);
    expect(() => checkSecret('a\nb', invalid)).to.throw(/invalid webhook secret/);
  });
});
