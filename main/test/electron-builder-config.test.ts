// electron-builder.yml is checked offline against electron-builder's own schema (toolchain.md §5 (b)): the same
// validation `electron-builder` runs before packaging, without downloading or packaging anything.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
// app-builder-lib and builder-util are electron-builder's own dependencies: resolve them from there.
const requireFromBuilder = createRequire(createRequire(import.meta.url).resolve('electron-builder/package.json'));
const { validateConfiguration } = requireFromBuilder('app-builder-lib/out/util/config/config') as {
  validateConfiguration(config: unknown, debugLogger: unknown): Promise<void>;
};
const { DebugLogger } = requireFromBuilder('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };

type BuilderConfig = Record<string, unknown> & {
  linux: Record<string, unknown>;
  mac: Record<string, unknown>;
  win: Record<string, unknown>;
  files: string[];
};

function loadConfig(): BuilderConfig {
  return parse(readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as BuilderConfig;
}

const validate = (config: unknown) => validateConfiguration(config, new DebugLogger(false));

describe('electron-builder.yml', () => {
  it('matches the electron-builder schema', async () => {
    await expect(validate(loadConfig())).resolves.toBeUndefined();
  });

  it('rejects a misspelt key (the check is real)', async () => {
    const config = loadConfig();
    config.linux = { ...config.linux, categori: 'Development' };
    await expect(validate(config)).rejects.toThrow(/configuration\.linux/);
  });

  it('rejects an unknown top-level key', async () => {
    await expect(validate({ ...loadConfig(), productNmae: 'localmesh' })).rejects.toThrow(
      /Invalid configuration object/
    );
  });

  it('has the identity, outputs and targets the project expects', () => {
    const config = loadConfig();
    expect(config.appId).toBe('dev.localmesh.app');
    expect(config.productName).toBe('localmesh');
    expect(config.directories).toEqual({ output: 'release', buildResources: 'resources' });
    expect(config.asar).toBe(true);
    expect(config.linux.target).toEqual(['AppImage', 'deb', 'tar.gz']);
    expect(config.linux.category).toBe('Development');
    expect(config.linux.maintainer).toMatch(/<.+@.+>/);
    expect(config.mac.target).toBe('dmg');
    expect(config.win.target).toBe('nsis');
    expect(config.files).toEqual(
      expect.arrayContaining(['out/**', 'renderer/**', 'main/**/*.js', '!test/**', '!e2e/**'])
    );
  });

  it('points at icons that exist and are 512x512 PNGs', () => {
    const config = loadConfig();
    const icons = new Set([config.linux.icon, config.mac.icon, config.win.icon]);
    for (const icon of icons) {
      expect(typeof icon).toBe('string');
      const file = path.join(root, icon as string);
      expect(statSync(file).isFile()).toBe(true);
      const png = readFileSync(file);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([512, 512]);
    }
  });
});
