import { expect } from 'chai';
import { baseImages } from '../../src/builder/dockerfile-from.js';

const images = (text: string) => baseImages(text).map((r) => `${r.line}:${r.image}`);

describe('build/dockerfile-from: the images a Dockerfile reads from', () => {
  it('lists every stage FROM, but not scratch nor an earlier stage (by name, any case, or index)', () => {
    const text = [
      'FROM node:20 AS build',
      'RUN npm ci',
      'FROM scratch',
      'FROM BUILD',
      'COPY --from=build /a /b',
      'COPY --from=0 /a /b',
      'from debian:bookworm',
    ].join('\n');
    expect(images(text)).to.deep.equal(['1:node:20', '7:debian:bookworm']);
  });

  it('finds images read by COPY --from, RUN --mount from= and ONBUILD', () => {
    const text = [
      'FROM slipway/stack:bookworm',
      'COPY --chown=1:1 --from=slipway/other:v1 /x /y',
      'RUN --mount=type=bind,from=other-image,target=/m true',
      'ONBUILD COPY --from=hidden:v2 /x /y',
    ].join('\n');
    expect(images(text)).to.deep.equal(['1:slipway/stack:bookworm', '2:slipway/other:v1', '3:other-image', '4:hidden:v2']);
  });

  it('resolves global ARGs with defaults, $X, ${X} and ${X:-default}', () => {
    const text = ['ARG REPO=slipway/victim TAG="v1"', 'ARG OTHER', 'FROM ${REPO}:$TAG', 'FROM ${OTHER:-alpine:3}'].join('\n');
    expect(images(text)).to.deep.equal(['3:slipway/victim:v1', '4:alpine:3']);
  });

  it('refuses what it cannot resolve rather than guess', () => {
    expect(() => baseImages('ARG BASE\nFROM $BASE')).to.throw(/line 2: cannot tell which image "\$BASE" \(BASE has no default\)/);
    expect(() => baseImages('FROM ${X:+y}')).to.throw(/line 1: cannot tell/);
    expect(() => baseImages('FROM stack\nCOPY --from=$X /a /b')).to.throw(/line 2: cannot tell which image COPY --from=\$X/);
  });

  it('joins continuation lines as the engine does (no space in their place), honouring # escape=', () => {
    expect(images('FROM slipway/vic\\\n  # a comment\ntim:v1')).to.deep.equal(['1:slipway/victim:v1']);
    expect(images('# escape=`\nFROM slipway/vic`\ntim:v1\nRUN echo \\')).to.deep.equal(['2:slipway/victim:v1']);
  });
});
