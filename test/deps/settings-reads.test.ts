import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(new URL('../..', import.meta.url).pathname);

/**
 * Where the stored settings of an app may be read as text: the schema and its
 * typed reader (apps/settings.ts), and the store that keeps them. Everyone
 * else reads `settingsOf(app).get(key)`; a layer below apps/ is handed the
 * typed value (see runtime/multiplexer.ts's appDriver).
 */
const ALLOWED = [/^src\/apps\/settings\.ts$/, /^src\/store\//];

/** Known raw reads left, each with its reason; a new one fails the test. None left: tls/ reads through settingsOf too. */
const KNOWN: string[] = [];

/**
 * Every read of the `settings` property of the store's `App` (`app.settings`,
 * `app.settings.x`, `app['settings']`, `const { settings } = app`) in the
 * program's files under `src/`, as `file:line`. Found by type, so platform
 * settings (`services.settings`, `ctx.settings`) are not mistaken for it.
 */
function rawSettingsReads(dir: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(dir, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  )!;
  const program = ts.createProgram({ rootNames: config.fileNames, options: { ...config.options, noEmit: true } });
  const checker = program.getTypeChecker();
  const appFile = path.join(dir, 'src/store/apps.ts');
  /** True when `symbol` is the `settings` member of `interface App` in src/store/apps.ts. */
  const isAppSettings = (symbol: ts.Symbol | undefined) =>
    !!symbol?.declarations?.some(
      (d) =>
        d.getSourceFile().fileName === appFile &&
        ts.isPropertySignature(d) &&
        ts.isInterfaceDeclaration(d.parent) &&
        d.parent.name.text === 'App',
    );
  const found: string[] = [];
  for (const file of program.getSourceFiles()) {
    const rel = path.relative(dir, file.fileName);
    if (!rel.startsWith('src/') || ALLOWED.some((re) => re.test(rel))) continue;
    const visit = (node: ts.Node): void => {
      let symbol: ts.Symbol | undefined;
      if (ts.isPropertyAccessExpression(node) && node.name.text === 'settings') symbol = checker.getSymbolAtLocation(node.name);
      else if (
        ts.isElementAccessExpression(node) &&
        ts.isStringLiteral(node.argumentExpression) &&
        node.argumentExpression.text === 'settings'
      )
        symbol = checker.getSymbolAtLocation(node.argumentExpression);
      else if (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent)) {
        const name = node.propertyName ?? node.name;
        if (ts.isIdentifier(name) && name.text === 'settings') symbol = checker.getTypeAtLocation(node.parent).getProperty('settings');
      }
      if (isAppSettings(symbol)) found.push(`${rel}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`);
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return found;
}

describe('app settings are read typed (settingsOf), never as the stored text', function () {
  this.timeout(120_000);

  it('nothing outside apps/settings.ts and the store reads app.settings (but the known reads named)', () => {
    const files = (reads: string[]) => [...new Set(reads.map((r) => r.replace(/:\d+$/, '')))];
    expect(files(rawSettingsReads(root)).filter((f) => !KNOWN.includes(f))).to.deep.equal([]);
  });

  it('finds each way of reading them, and not the platform settings of the same name', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-settings-reads-'));
    const files: Record<string, string> = {
      'src/store/apps.ts': 'export interface App {\n  name: string;\n  settings: Record<string, string>;\n}\n',
      'src/runtime/kinds.ts': [
        "import type { App } from '../store/apps.js';",
        'export const a = (app: App) => app.settings.driver;',
        "export const b = (app?: App) => app?.settings['driver'];",
        "export const c = (app: App) => app['settings'];",
        'export const d = ({ settings }: App) => settings;',
        'export const e = (services: { settings: { domain: string } }) => services.settings.domain;',
        '',
      ].join('\n'),
    };
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    fs.copyFileSync(path.join(root, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
    try {
      expect(rawSettingsReads(dir)).to.deep.equal([
        'src/runtime/kinds.ts:2',
        'src/runtime/kinds.ts:3',
        'src/runtime/kinds.ts:4',
        'src/runtime/kinds.ts:5',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
