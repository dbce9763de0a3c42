import { Writable } from 'node:stream';

/**
 * A Writable whose every chunk goes on to `out` (through `frame`), each write
 * done once `out` took it: a reader that reads slowly holds the writer back
 * (`logs -f`, a deploy's log) instead of piling output up in memory. Once
 * `out` is gone, writes go nowhere, without an error.
 */
export function relayTo(out: Writable, frame: (chunk: Buffer) => string | Buffer = (chunk) => chunk): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!out.writable || out.write(frame(chunk))) return cb();
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        cb();
      };
      out.once('drain', done);
      out.once('close', done);
    },
  });
}
