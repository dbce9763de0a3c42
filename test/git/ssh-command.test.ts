import { expect } from 'chai';
import { CommandSyntaxError, parseSshCommand, splitCommand } from '../../src/git/ssh-command.js';
import { describe as describeError } from '../../src/errors.js';

describe('git/ssh-command', () => {
  describe('splitCommand', () => {
    const cases: Array<[string, string[]]> = [
      ['apps:list', ['apps:list']],
      ['  releases   myapp\t', ['releases', 'myapp']],
      ['', []],
      ["echo-test 'a b' c", ['echo-test', 'a b', 'c']],
      ['echo-test "a b" c', ['echo-test', 'a b', 'c']],
      ['config:set \'A=x; y\' B="q r"', ['config:set', 'A=x; y', 'B=q r']],
      ["x 'it''s'", ['x', 'its']],
      ['x a\'b\'"c"d', ['x', 'abcd']],
      ['x \'\' ""', ['x', '', '']],
      ['x a\\ b', ['x', 'a b']],
      ['x a\\;b \\$HOME \\*', ['x', 'a;b', '$HOME', '*']],
      ['x "a\\"b" "c\\\\d" "e\\nf"', ['x', 'a"b', 'c\\d', 'e\\nf']],
      ["x '$HOME `id` \\n'", ['x', '$HOME `id` \\n']],
      ["git-receive-pack '/myapp.git'", ['git-receive-pack', '/myapp.git']],
      ['config:set URL=a=b a#b a~b x]', ['config:set', 'URL=a=b', 'a#b', 'a~b', 'x]']],
      ["run myapp -- sh -c 'echo hi | wc'", ['run', 'myapp', '--', 'sh', '-c', 'echo hi | wc']],
      ['x a\\\nb', ['x', 'ab']],
    ];
    for (const [line, argv] of cases) {
      it(`splits ${JSON.stringify(line)}`, () => expect(splitCommand(line)).to.deep.equal(argv));
    }

    const refused: Array<[string, string]> = [
      ['apps:create x; touch /tmp/pwned', "';'"],
      ['apps:list | nc host 1', "'|'"],
      ['apps:list && id', "'&'"],
      ['apps:list & id', "'&'"],
      ['apps:create $(id)', "'$'"],
      ['apps:create $HOME', "'$'"],
      ['apps:create `id`', "'`'"],
      ['apps:create "$(id)"', "'$'"],
      ['apps:create "`id`"', "'`'"],
      ['apps:list > /tmp/x', "'>'"],
      ['apps:list < /etc/passwd', "'<'"],
      ['apps:list (x)', "'('"],
      ['apps:list *', "'*'"],
      ['apps:list a?', "'?'"],
      ['apps:list [ab]', "'['"],
      ['apps:list {a,b}', "'{'"],
      ['apps:list\nid', 'newline'],
      ['apps:list ~root', "'~'"],
      ['apps:list #comment', "'#'"],
    ];
    for (const [line, what] of refused) {
      it(`refuses ${JSON.stringify(line)}`, () => {
        let caught: unknown;
        try {
          splitCommand(line);
        } catch (err) {
          caught = err;
        }
        expect(caught).to.be.instanceOf(CommandSyntaxError);
        const message = describeError(caught);
        expect(message).to.contain(`refusing shell syntax ${what}`);
        expect(message).to.contain('Slipway commands take plain arguments');
        expect(message).not.to.contain('\n');
      });
    }

    for (const line of ["x 'open", 'x "open', 'x trailing\\', 'x a\0b', "x 'a\0b'"]) {
      it(`refuses malformed ${JSON.stringify(line)}`, () => {
        expect(() => splitCommand(line)).to.throw(CommandSyntaxError);
      });
    }
  });

  describe('parseSshCommand', () => {
    it('recognises the git transport commands', () => {
      expect(parseSshCommand("git-receive-pack '/myapp.git'")).to.deep.equal({
        kind: 'git',
        service: 'receive-pack',
        repo: '/myapp.git',
      });
      expect(parseSshCommand("git-upload-pack 'myapp'")).to.deep.equal({ kind: 'git', service: 'upload-pack', repo: 'myapp' });
      expect(parseSshCommand("git upload-pack 'myapp'")).to.deep.equal({ kind: 'git', service: 'upload-pack', repo: 'myapp' });
    });

    it('refuses upload-archive and malformed git commands', () => {
      expect(parseSshCommand("git-upload-archive 'myapp'").kind).to.equal('refused');
      expect(parseSshCommand('git-receive-pack').kind).to.equal('refused');
      expect(parseSshCommand("git-receive-pack 'a' 'b'").kind).to.equal('refused');
    });

    it('passes anything else through as argv', () => {
      expect(parseSshCommand("enter myapp 'web.1'")).to.deep.equal({ kind: 'slipway', argv: ['enter', 'myapp', 'web.1'] });
      expect(parseSshCommand('   ')).to.deep.equal({ kind: 'empty' });
    });
  });
});
